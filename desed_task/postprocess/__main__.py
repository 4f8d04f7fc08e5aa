"""``python -m desed_task.postprocess --help``"""
import sys

from desed_task.postprocess.cli import main

sys.exit(main())
