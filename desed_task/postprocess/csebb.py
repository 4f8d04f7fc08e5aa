"""The cSEBB method: change-point-based sound event bounding boxes (Ebbers, Germain, Wichern, Le Roux,
Interspeech 2024).

Per class, a step filter of length L (the mean score over the next L/2 seconds minus the mean over the previous
L/2) marks onset candidates at its local maxima and offset candidates at its local minima; each candidate
segment becomes a box whose confidence is its mean score. Two neighbouring boxes are merged when the dip between
them is small: the maximum score of each box exceeds the minimum of the gap by less than ``merge_threshold_abs``
and by a factor less than ``merge_threshold_rel``. Thresholding box confidences then changes how many events are
detected but never their onsets and offsets, which frame thresholding couples to the sensitivity.

The boxes come from the reference implementation, ``sebbs`` (by the method's authors), behind this thin
adapter. sebbs is AGPL-3.0, so it is optional (``pip install --no-deps 'sebbs==1.0.2'``, docs/postprocess.md),
imported only inside these functions. Facts about sebbs 1.0.2 relied upon:

- ``sebbs.csebbs.CSEBBsPredictor(step_filter_length, merge_threshold_abs, merge_threshold_rel,
  detection_threshold=None, sound_classes=None)``: each parameter a number or a ``{class: number}`` dict; a
  merge threshold of ``inf`` never blocks a merge (the "not used" of our parameter file).
- ``predictor.predict(scores)``, scores ``{clip id: sed_scores_eval table}``, returns ``{clip id: [(onset,
  offset, class, confidence), ...]}`` with numpy floats, the confidence being the box's (length-weighted) mean.
- ``sebbs.csebbs.tune`` crashes (``len(None)``) because its grid predictors are built without
  ``sound_classes``; the grid search in ``desed_task.postprocess.tuning`` builds its own predictors instead.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ClassVar, Mapping, NamedTuple

import numpy as np
import pandas as pd

from desed_task.data.tables import EVENT_COLUMNS, TableSource
from desed_task.evaluation.decoding import AUDIO_SUFFIX
from desed_task.evaluation.psds import SCENARIO_1, PSDSScenario
from desed_task.postprocess.postprocess_errors import MissingExtraError, PostprocessError
from desed_task.postprocess.method import Params, check_classes, check_keys, number, optional_number
from desed_task.postprocess.method import EVENT_COLUMNS as DECODED_COLUMNS
from desed_task.postprocess.tuning_objective import tuning_set
from desed_task.data.tables import SCORE_TIME_COLUMNS, table_classes
from desed_task.postprocess.score_tables import consistent_classes
from desed_task.postprocess.tuning import grid_search

# Without its dependencies: its own requirement replaces the released sed_scores_eval (docs/postprocess.md).
SEBBS_INSTALL = "pip install --no-deps 'sebbs==1.0.2'"
NO_BOX = -np.inf  # the score outside every box: no candidate at any threshold, as sebbs' own evaluation does
TIME_DECIMALS = 6
DEFAULT_STEP_FILTER_LENGTHS = (0.32, 0.48, 0.64)
DEFAULT_MERGE_THRESHOLDS_ABS = (0.15, 0.2, 0.3)
DEFAULT_MERGE_THRESHOLDS_REL = (1.5, 2.0, 3.0)
CSEBB_KEYS = ("step_filter_length", "merge_threshold_abs", "merge_threshold_rel")


@dataclass(frozen=True)
class CSEBBClassParams:
    """cSEBB parameters of one class: step-filter length (s) and merge thresholds (None = not used)."""

    step_filter_length: float
    merge_threshold_abs: float | None
    merge_threshold_rel: float | None


@dataclass(frozen=True)
class CSEBBParams(Params):
    """Change-point-based sound event bounding boxes (Ebbers et al., Interspeech 2024) with class-wise parameters.

    Applied to score tables they give piecewise-constant tables (``boxes_to_tables``); at inference the
    threshold applies to each box's confidence (``CSEBBDecoder``).
    """

    classes_params: dict[str, CSEBBClassParams]
    tuning: dict[str, Any] | None = field(default=None, compare=False)
    method: ClassVar[str] = "csebb"
    summary: ClassVar[str] = (
        "change-point-based sound event bounding boxes (Ebbers et al., Interspeech 2024): needs the optional\n"
        f"          package sebbs (AGPL-3.0): {SEBBS_INSTALL}"
    )

    @property
    def classes(self) -> list[str]:
        return list(self.classes_params)

    def file_fields(self) -> dict[str, Any]:
        return {"classes": {c: {k: getattr(p, k) for k in CSEBB_KEYS} for c, p in self.classes_params.items()}}

    @classmethod
    def from_file_fields(cls, data: Mapping[str, Any], tuning: dict[str, Any] | None, source: str) -> "CSEBBParams":
        per_class = {}
        for name, values in data["classes"].items():
            where = f"{source}: classes.{name}"
            check_keys(values, set(CSEBB_KEYS), set(CSEBB_KEYS), where)
            per_class[name] = CSEBBClassParams(
                number(values["step_filter_length"], f"{where}.step_filter_length", positive=True),
                optional_number(values["merge_threshold_abs"], f"{where}.merge_threshold_abs"),
                optional_number(values["merge_threshold_rel"], f"{where}.merge_threshold_rel"),
            )
        return cls(per_class, tuning)

    def apply(self, scores: Mapping[str, pd.DataFrame], source: str = "the scores") -> dict[str, pd.DataFrame]:
        return csebb_tables(scores, self, source)

    def decoder(self, classes: Sequence[str], frame_hop: float, description_suffix: str = "") -> "CSEBBDecoder":
        return CSEBBDecoder(classes, self, f"cSEBB boxes{description_suffix}")

    @classmethod
    def tune(
        cls, scores: Mapping[str, pd.DataFrame], ground_truth: Any, durations: Any, **options: Any
    ) -> "CSEBBParams":
        return tune_csebb(scores, ground_truth, durations, **options)

    @classmethod
    def require_extra(cls) -> None:
        require_sebbs()

    @classmethod
    def add_tune_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--step_filter_lengths",
            type=_floats,
            default=list(DEFAULT_STEP_FILTER_LENGTHS),
            metavar="S,S,...",
            help="csebb: step-filter lengths in seconds (default 0.32,0.48,0.64)",
        )
        parser.add_argument(
            "--merge_thresholds_abs",
            type=_floats,
            default=list(DEFAULT_MERGE_THRESHOLDS_ABS),
            metavar="T,T,...",
            help="csebb: absolute merge thresholds, each tried without a relative one (default 0.15,0.2,0.3)",
        )
        parser.add_argument(
            "--merge_thresholds_rel",
            type=_floats,
            default=list(DEFAULT_MERGE_THRESHOLDS_REL),
            metavar="T,T,...",
            help="csebb: relative merge thresholds, each tried without an absolute one (default 1.5,2,3)",
        )

    @classmethod
    def grid_options(cls, args: argparse.Namespace) -> dict[str, Any]:
        return {
            "step_filter_lengths": args.step_filter_lengths,
            "merge_thresholds_abs": args.merge_thresholds_abs,
            "merge_thresholds_rel": args.merge_thresholds_rel,
        }


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")


class CSEBBDecoder:
    """cSEBB boxes of the merged scores; boxes whose confidence exceeds the class's threshold are the events.

    What is "thresholded" per frame is the confidence of the box covering the frame's centre (0 outside boxes).
    """

    median_window = None

    def __init__(self, classes: Sequence[str], params: CSEBBParams, description: str) -> None:
        check_classes(params, list(classes), "the checkpoint's scores")
        require_sebbs()  # MissingExtraError now, not after the first recording
        self.classes = list(classes)
        self.params = params
        self.description = description

    def __call__(
        self, scores: np.ndarray, timestamps: np.ndarray, thresholds: np.ndarray
    ) -> tuple[np.ndarray, pd.DataFrame]:
        table = pd.DataFrame(scores.T, columns=self.classes)  # (T, C)
        table.insert(0, "offset", timestamps[1:])
        table.insert(0, "onset", timestamps[:-1])
        boxes = csebb_boxes({"recording": table}, self.params, "the checkpoint's scores")["recording"]
        index = {c: i for i, c in enumerate(self.classes)}
        centres = (timestamps[:-1] + timestamps[1:]) / 2  # (T,)
        confidence = np.zeros_like(scores, dtype=np.float32)  # (C, T)
        rows = []
        for box in boxes:
            row = index[box.label]
            confidence[row, (centres >= box.onset) & (centres < box.offset)] = box.confidence
            if box.confidence > thresholds[row]:
                rows.append((box.onset, box.offset, box.label, box.confidence))
        events = pd.DataFrame(sorted(rows, key=lambda e: (e[0], e[2])), columns=[*DECODED_COLUMNS, "confidence"])
        return confidence, events


class Box(NamedTuple):
    """One sound event bounding box: seconds, class, confidence (the box's mean frame score)."""

    onset: float
    offset: float
    label: str
    confidence: float


def require_sebbs() -> ModuleType:
    """``sebbs.csebbs``, or a ``MissingExtraError`` that says how to install it."""
    from desed_task.evaluation.lazy import sed_scores_eval

    sed_scores_eval()  # its dcase_util import warns about pkg_resources; this import silences that once
    try:
        import sebbs.csebbs
    except ImportError as error:
        raise MissingExtraError(
            f"cSEBB post-processing needs the optional package sebbs (AGPL-3.0, not installed: {error}); "
            f"install it with: {SEBBS_INSTALL}"
        )
    return sebbs.csebbs


def csebb_boxes(
    scores: Mapping[str, pd.DataFrame], params: CSEBBParams, source: str = "the scores"
) -> dict[str, list[Box]]:
    """The boxes of every clip, listed class by class (classes in the tables' order), in time order."""
    if not scores:
        return {}
    classes = consistent_classes(scores, source)
    check_classes(params, classes, source)
    csebbs = require_sebbs()
    unused = np.inf
    predictor = csebbs.CSEBBsPredictor(
        step_filter_length={c: params.classes_params[c].step_filter_length for c in classes},
        merge_threshold_abs={c: _or(params.classes_params[c].merge_threshold_abs, unused) for c in classes},
        merge_threshold_rel={c: _or(params.classes_params[c].merge_threshold_rel, unused) for c in classes},
        sound_classes=classes,
    )
    predicted = predictor.predict(dict(scores))
    return {
        clip_id: [Box(float(on), float(off), str(label), float(conf)) for on, off, label, conf in predicted[clip_id]]
        for clip_id in scores
    }


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def boxes_to_tables(
    boxes: Mapping[str, list[Box]], classes: list[str], spans: Mapping[str, tuple[float, float]]
) -> dict[str, pd.DataFrame]:
    """Piecewise-constant score tables: a box's confidence over its extent, ``NO_BOX`` (-inf) elsewhere.

    Rows are cut at every box boundary and at the clip's span (start, end), so PSDS computed from the table is
    PSDS of the boxes thresholded on their confidences.
    """
    index = {c: i for i, c in enumerate(classes)}
    out = {}
    for clip_id, clip_boxes in boxes.items():
        start, end = spans[clip_id]
        bounds = np.unique(
            np.round(
                np.clip([start, end, *(t for b in clip_boxes for t in (b.onset, b.offset))], start, end), TIME_DECIMALS
            )
        )  # (R + 1,)
        values = np.full((len(bounds) - 1, len(classes)), NO_BOX)  # (R, C)
        for box in clip_boxes:
            first, last = np.searchsorted(bounds, np.round(np.clip([box.onset, box.offset], start, end), TIME_DECIMALS))
            values[first:last, index[box.label]] = box.confidence
        out[clip_id] = pd.DataFrame(
            np.hstack([bounds[:-1, None], bounds[1:, None], values]), columns=[*SCORE_TIME_COLUMNS, *classes]
        )
    return out


def clip_spans(scores: Mapping[str, pd.DataFrame]) -> dict[str, tuple[float, float]]:
    """(start, end) in seconds of each score table."""
    return {c: (float(t["onset"].iloc[0]), float(t["offset"].iloc[-1])) for c, t in scores.items()}


def csebb_tables(
    scores: Mapping[str, pd.DataFrame], params: CSEBBParams, source: str = "the scores"
) -> dict[str, pd.DataFrame]:
    """cSEBB-post-processed score tables (see ``boxes_to_tables``), same clips and class order as ``scores``."""
    if not scores:
        return {}
    classes = table_classes(next(iter(scores.values())))
    return boxes_to_tables(csebb_boxes(scores, params, source), classes, clip_spans(scores))


def csebb_events(
    scores: Mapping[str, pd.DataFrame],
    params: CSEBBParams,
    thresholds: float | Mapping[str, float],
    audio_suffix: str = AUDIO_SUFFIX,
) -> pd.DataFrame:
    """Detected events ``filename onset offset event_label confidence``: the boxes with confidence > threshold.

    ``thresholds`` is one number or one per class; ``filename`` is the clip id plus ``audio_suffix``. The first
    four columns are a DESED detection table (``desed_task.evaluation`` ignores ``confidence``).
    """
    boxes = csebb_boxes(scores, params)
    if not isinstance(thresholds, Mapping):
        thresholds = {c: float(thresholds) for c in params.classes}
    missing = [c for c in params.classes if c not in thresholds]
    if missing:
        raise PostprocessError(f"detection thresholds lack classes {missing}: give one number or one per class")
    rows = [
        (clip_id + audio_suffix, box.onset, box.offset, box.label, box.confidence)
        for clip_id in sorted(boxes)
        for box in boxes[clip_id]
        if box.confidence > thresholds[box.label]
    ]
    return pd.DataFrame(rows, columns=[*EVENT_COLUMNS, "confidence"])


def csebb_grid(
    step_filter_lengths: Sequence[float] = DEFAULT_STEP_FILTER_LENGTHS,
    merge_thresholds_abs: Sequence[float] = DEFAULT_MERGE_THRESHOLDS_ABS,
    merge_thresholds_rel: Sequence[float] = DEFAULT_MERGE_THRESHOLDS_REL,
) -> list[CSEBBClassParams]:
    """Each step-filter length with either one absolute merge threshold (no relative) or one relative (no absolute)."""
    values = [*step_filter_lengths, *merge_thresholds_abs, *merge_thresholds_rel]
    if not step_filter_lengths or not (merge_thresholds_abs or merge_thresholds_rel) or any(v <= 0 for v in values):
        raise PostprocessError(
            f"cSEBB grid: give at least one step-filter length and one merge threshold, all > 0; got step-filter "
            f"lengths {list(step_filter_lengths)}, absolute {list(merge_thresholds_abs)}, "
            f"relative {list(merge_thresholds_rel)}"
        )
    return [
        option
        for length in step_filter_lengths
        for option in [CSEBBClassParams(length, a, None) for a in merge_thresholds_abs]
        + [CSEBBClassParams(length, None, r) for r in merge_thresholds_rel]
    ]


def tune_csebb(
    scores: Mapping[str, pd.DataFrame],
    ground_truth: TableSource,
    durations: TableSource,
    scenario: PSDSScenario = SCENARIO_1,
    step_filter_lengths: Sequence[float] = DEFAULT_STEP_FILTER_LENGTHS,
    merge_thresholds_abs: Sequence[float] = DEFAULT_MERGE_THRESHOLDS_ABS,
    merge_thresholds_rel: Sequence[float] = DEFAULT_MERGE_THRESHOLDS_REL,
    jobs: int = 1,
    progress: bool = False,
) -> CSEBBParams:
    """Class-wise cSEBB parameters maximising PSDS of ``scenario`` (grid: ``csebb_grid``); needs sebbs."""
    require_sebbs()
    grid = csebb_grid(step_filter_lengths, merge_thresholds_abs, merge_thresholds_rel)
    chosen, tuned_scores = tuning_set(scores, ground_truth, durations, scenario)
    options, tuning = grid_search(
        tuned_scores, chosen, grid, lambda o: CSEBBParams(dict(o)), {}, _describe_csebb, jobs, progress
    )
    tuning["grid"] = {
        "step_filter_length": list(step_filter_lengths),
        "merge_threshold_abs": list(merge_thresholds_abs),
        "merge_threshold_rel": list(merge_thresholds_rel),
    }
    return CSEBBParams(options, tuning)


def _describe_csebb(option: CSEBBClassParams) -> str:
    merge = (
        f"abs {option.merge_threshold_abs}"
        if option.merge_threshold_abs is not None
        else f"rel {option.merge_threshold_rel}"
    )
    return f"step {option.step_filter_length} s, merge {merge}"
