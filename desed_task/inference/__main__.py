"""``python -m desed_task.inference AUDIO... --checkpoint CKPT``; see ``--help``."""

import sys

from desed_task.inference.detect_command import main

if __name__ == "__main__":
    sys.exit(main())
