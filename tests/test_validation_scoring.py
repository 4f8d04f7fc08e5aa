"""Validation with nothing to score is an error, not PSDS 0.0 (which would mislead the checkpoint objective)."""

from __future__ import annotations

import pandas as pd
import pytest

from desed_task.data.folder import DataError
from desed_task.training.evaluation_steps import check_scorable
from desed_task.training.options import EvaluationReference


def _reference() -> EvaluationReference:
    ground_truth = pd.DataFrame(
        {
            "filename": ["a.wav", "b.wav", "c.wav"],
            "onset": [1.0, None, None],
            "offset": [2.0, None, None],
            "event_label": ["Dog", None, None],
        }
    )
    durations = pd.DataFrame({"filename": ["a.wav", "b.wav", "c.wav"], "duration": [10.0, 10.0, 10.0]})
    return EvaluationReference(ground_truth, durations)


def test_scored_clips_without_any_event_stop_the_validation_with_the_subset_named():
    with pytest.raises(
        DataError,
        match=r"validation subset 'synth_val': none of its 2 scored clips has a "
        r"ground-truth event.*data.synth_val_tsv",
    ):
        check_scorable("synth_val", ["b", "c"], _reference())


def test_one_scored_clip_with_an_event_is_enough():
    check_scorable("synth_val", ["a", "b"], _reference())
