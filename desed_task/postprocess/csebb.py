"""Change-point-based sound event bounding boxes (cSEBBs; Ebbers, Germain, Wichern, Le Roux, Interspeech 2024).

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

from types import ModuleType
from typing import Mapping, NamedTuple

import numpy as np
import pandas as pd

from desed_task.data.tables import EVENT_COLUMNS
from desed_task.evaluation.decoding import AUDIO_SUFFIX
from desed_task.postprocess.errors import MissingExtraError, PostprocessError
from desed_task.postprocess.median import TIME_COLUMNS, consistent_classes, table_classes
from desed_task.postprocess.params import CSEBBParams, check_classes

# Without its dependencies: its own requirement replaces the released sed_scores_eval (docs/postprocess.md).
SEBBS_INSTALL = "pip install --no-deps 'sebbs==1.0.2'"
NO_BOX = -np.inf  # the score outside every box: no candidate at any threshold, as sebbs' own evaluation does
TIME_DECIMALS = 6


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
        bounds = np.unique(np.round(np.clip(
            [start, end, *(t for b in clip_boxes for t in (b.onset, b.offset))], start, end
        ), TIME_DECIMALS))  # (R + 1,)
        values = np.full((len(bounds) - 1, len(classes)), NO_BOX)  # (R, C)
        for box in clip_boxes:
            first, last = np.searchsorted(bounds, np.round(np.clip([box.onset, box.offset], start, end), TIME_DECIMALS))
            values[first:last, index[box.label]] = box.confidence
        out[clip_id] = pd.DataFrame(
            np.hstack([bounds[:-1, None], bounds[1:, None], values]), columns=[*TIME_COLUMNS, *classes]
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
