"""When a training run writes ``last.ckpt`` (``resume.py`` finds it again for ``--resume_from_checkpoint last``).

The best ``training.save_top_k`` checkpoints are written at validation (``pipeline.py``). ``last.ckpt`` is written
at the end of every training epoch whatever ``training.validation_interval`` is, so a run stopped between two
validations, or one that never validates, can be resumed; ``training.checkpoint_every_n_steps`` also refreshes it
every N optimiser steps inside long epochs.
"""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint

from desed_task.experiment.resume import LAST


def last_checkpoint_callbacks(dirpath: Path, every_n_steps: int | None = None) -> list[ModelCheckpoint]:
    """The callbacks that write ``dirpath/last.ckpt``: at every training epoch's end (after that epoch's
    validation, if any), and with ``every_n_steps`` also every that many optimiser steps.

    Lightning's callback takes either an epoch or a step trigger, so the step trigger is a second callback writing
    the same file; the first one's ``best_model_path`` is the file's path.
    """
    common = {"dirpath": dirpath, "filename": LAST, "monitor": None, "save_top_k": 1, "enable_version_counter": False}
    # Without save_on_train_epoch_end Lightning writes "last" at validation only when validation_interval > 1.
    callbacks = [ModelCheckpoint(**common, every_n_epochs=1, save_on_train_epoch_end=True)]
    if every_n_steps is not None:
        callbacks.append(ModelCheckpoint(**common, every_n_train_steps=every_n_steps))
    return callbacks
