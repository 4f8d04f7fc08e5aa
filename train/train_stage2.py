"""ATST-SED stage 2, e.g. `python train/train_stage2.py --gpus 0,` (see --help).

The default configuration is `../confs/stage2.yaml` beside this script, wherever the package is installed.
"""

from pathlib import Path

from desed_task.experiment.run import main

DEFAULT_CONF = Path(__file__).resolve().parent.parent / "confs" / "stage2.yaml"

if __name__ == "__main__":
    main(stage=2, default_conf=DEFAULT_CONF)
