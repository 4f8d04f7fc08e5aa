"""ATST-SED stage 1, e.g. `python train/train_stage1.py --gpus 0,` (see --help).

The default configuration is `../confs/stage1.yaml` beside this script, wherever the package is installed.
"""

from pathlib import Path

from desed_task.experiment.run import main

DEFAULT_CONF = Path(__file__).resolve().parent.parent / "confs" / "stage1.yaml"

if __name__ == "__main__":
    main(stage=1, default_conf=DEFAULT_CONF)
