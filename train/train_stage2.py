"""ATST-SED stage 2. Run from this folder, e.g. `python train_stage2.py --gpus 0,` (see --help)."""
from desed_task.experiment.run import main

if __name__ == "__main__":
    main(stage=2)
