"""``python -m desed_task.postprocess --help``"""

import sys

from desed_task.postprocess.postprocess_command import main

sys.exit(main())
