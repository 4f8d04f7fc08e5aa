"""``python -m desed_task.evaluation --help``"""
import sys

from desed_task.evaluation.cli import main

sys.exit(main())
