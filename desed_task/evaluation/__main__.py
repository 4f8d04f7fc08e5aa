"""``python -m desed_task.evaluation --help``"""

import sys

from desed_task.evaluation.evaluate_command import main

sys.exit(main())
