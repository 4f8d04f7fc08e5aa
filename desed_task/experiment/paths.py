"""The input paths a run needs, checked right after the configuration is loaded, before anything is written.

Without this a missing ``data.root`` surfaces as a FileNotFoundError traceback from deep inside dataset
construction, a missing test table only after hours of training, and the experiment folder (with its
``config.yaml``) is left behind for a run that never started. Only the paths the mode reads are checked: training
reads the training, validation and test data; testing the test data; evaluation the evaluation folder;
validation (``--validate_from_checkpoint``) the validation data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from desed_task.config.files import EXTRA_SUBSET_KINDS, ConfigError

Mode = Literal["train", "test", "eval", "validate"]
Kind = Literal["folder", "file"]


def run_mode(test_from: str | None = None, eval_from: str | None = None, validate_from: str | None = None) -> Mode:
    """What a run does with its checkpoint flags (at most one is set: ``flag_checks.check_mode_flags``)."""
    return "eval" if eval_from else "test" if test_from else "validate" if validate_from else "train"


TEST_KEYS = ("test_folder", "test_tsv", "test_dur")
VALIDATION_KEYS = (
    "weak_folder",
    "weak_tsv",
    "synth_val_folder",
    "synth_val_tsv",
    "synth_val_dur",
    "strong_val_folder",
    "strong_val_tsv",
    "strong_val_dur",
)
TRAIN_KEYS = ("synth_folder", "synth_tsv", "strong_folder", "strong_tsv", "unlabeled_folder") + VALIDATION_KEYS
EVAL_KEYS = ("eval_folder",)
_HINTS = {
    "training.init_checkpoint": "stage 2 starts from stage 1's best checkpoint (or the published Stage_1.ckpt): "
    "set training.init_checkpoint to it",
}


@dataclass(frozen=True)
class NeededPath:
    """One input of a run: the key that names it (``data.test_tsv``, ``--test_from_checkpoint``), its value."""

    key: str
    path: str | None
    kind: Kind
    under_root: bool = False


def _kind(key: str) -> Kind:
    return "folder" if key.endswith("folder") else "file"


def needed_paths(config: dict, mode: Mode, run_test: bool = True) -> list[NeededPath]:
    """The data and checkpoint paths of the configuration that a run in ``mode`` reads, in reading order."""
    data, training = config["data"], config["training"]
    keys = {
        "train": TRAIN_KEYS + (TEST_KEYS if run_test else ()),
        "test": TEST_KEYS,
        "eval": EVAL_KEYS,
        "validate": VALIDATION_KEYS,
    }[mode]
    needed = [NeededPath(f"data.{key}", data[key], _kind(key), under_root=True) for key in keys]
    if mode != "train":
        return needed
    for kind in EXTRA_SUBSET_KINDS:
        for i, extra in enumerate(data[kind]):
            needed.append(NeededPath(f"data.{kind}[{i}].folder", extra["folder"], "folder", under_root=True))
            needed.append(NeededPath(f"data.{kind}[{i}].tsv", extra["tsv"], "file", under_root=True))
    if training["stage"] == 2:
        needed.append(NeededPath("training.init_checkpoint", training["init_checkpoint"], "file"))
    elif config["encoder"]["init"]:
        needed.append(NeededPath("encoder.init", config["encoder"]["init"], "file"))
    return needed


def _problem(needed: NeededPath) -> str | None:
    if not needed.path:
        return f"{needed.key} is not set"
    path = Path(needed.path)
    if not path.exists():
        return f"{needed.key}: no such {needed.kind}: {path}"
    if needed.kind == "folder" and not path.is_dir():
        return f"{needed.key}: {path} is a file, not a folder of audio clips"
    if needed.kind == "file" and not path.is_file():
        return f"{needed.key}: {path} is a folder, not a file"
    return None


def check_paths(
    config: dict, mode: Mode, checkpoints: dict[str, str | None] | None = None, run_test: bool = True
) -> None:
    """Raise one ``ConfigError`` line naming the first missing input (its key and path) and how many more miss.

    ``checkpoints`` maps command-line flags (``--resume_from_checkpoint``) to the files they name (None = unused).
    A missing ``data.root`` is reported as such, not as every data path under it.
    """
    needed = _needed(config, mode, checkpoints, run_test)
    problems = [(n, p) for n in needed if (p := _problem(n)) is not None]
    if not problems:
        return
    root = Path(config["data"]["root"])
    if not root.is_dir() and any(n.under_root and n.path and Path(n.path).is_relative_to(root) for n, _ in problems):
        raise ConfigError(
            f"data.root: no such folder: {root}; every relative data path is taken under it: point "
            "data.root at your dataset (docs/data.md)"
        )
    (first, problem), more = problems[0], [n.key for n, _ in problems[1:]]
    tail = f" (and {len(more)} more: {', '.join(more)})" if more else ""
    raise ConfigError(f"{problem}; {_hint(first, config)}{tail}")


def _hint(needed: NeededPath, config: dict) -> str:
    if needed.key == "encoder.init":
        from desed_task.nnet import encoder_class

        source = encoder_class(config["encoder"]["name"]).pretrained_source
        return f"set encoder.init to the pretrained encoder's checkpoint: {source}"
    return _HINTS.get(needed.key) or _data_hint(needed)


def _data_hint(needed: NeededPath) -> str:
    if needed.key.startswith("data."):
        return "point the configuration's data paths at your data (docs/data.md)"
    return "check the path"


def run_inputs(
    config: dict, mode: Mode, checkpoints: dict[str, str | None] | None = None, run_test: bool = True
) -> list[tuple[Path, str]]:
    """Every input path a run reads that is set (data tables and folders, checkpoints), named by its key or flag,
    for the check that no output overwrites one of them."""
    return [(Path(n.path), n.key) for n in _needed(config, mode, checkpoints, run_test) if n.path]


def _needed(config: dict, mode: Mode, checkpoints: dict[str, str | None] | None, run_test: bool) -> list[NeededPath]:
    """The checkpoints given on the command line (by flag), then the configuration's paths of ``mode``."""
    needed = [NeededPath(flag, path, "file") for flag, path in (checkpoints or {}).items() if path is not None]
    return needed + needed_paths(config, mode, run_test)
