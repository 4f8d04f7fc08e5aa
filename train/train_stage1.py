"""ATST-SED stage 1. Run from this folder, e.g. `python train_stage1.py --gpus 0,` (see --help)."""
from desed_task.experiment.run import main

if __name__ == "__main__":
    main(stage=1)
