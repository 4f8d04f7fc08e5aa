"""The batched score-folder writer writes byte for byte what sed_scores_eval's own writer writes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sed_scores_eval.base_modules.io import write_sed_scores

from desed_task.evaluation import read_score_folder, write_score_folder
from desed_task.evaluation.decoding import score_dataframes


def _tables(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    timestamps = np.arange(157) * 0.064
    float32 = score_dataframes(rng.random((5, 3, 156)).astype(np.float32), [f"Y{i}_0.000_10.000" for i in range(5)],
                               ["Dog", "Cat", "Speech"], timestamps)
    float64 = score_dataframes(rng.random((3, 3, 156)), ["a", "b", "c d"], ["Dog", "Cat", "Speech"], timestamps)
    short = score_dataframes(rng.random((1, 2, 4)), ["short"], ["Cat", "Dog"], timestamps[:5])
    boxes = short["short"].copy()
    boxes.loc[1, "Dog"] = -np.inf  # cSEBB tables outside their boxes
    tiny = float32["Y0_0.000_10.000"].copy()
    tiny[["Dog", "Cat"]] = np.float32(1e-12)
    return {**float32, **float64, "short": short["short"], "boxes": boxes, "tiny": tiny}


def test_files_equal_sed_scores_eval_s_byte_for_byte(tmp_path, rng):
    tables = _tables(rng)
    write_score_folder(tmp_path / "ours", tables, clips_per_pass=4)
    for clip_id, table in tables.items():
        write_sed_scores(table, tmp_path / f"{clip_id}.reference.tsv")
        ours = (tmp_path / "ours" / f"{clip_id}.tsv").read_bytes()
        assert ours == (tmp_path / f"{clip_id}.reference.tsv").read_bytes(), clip_id
    back = read_score_folder(tmp_path / "ours")
    assert sorted(back) == sorted(tables)


def test_a_table_without_onset_and_offset_is_refused(tmp_path):
    from desed_task.data.tables import TableError

    with pytest.raises(TableError, match="clip1 must start with onset, offset"):
        write_score_folder(tmp_path, {"clip1": pd.DataFrame({"Dog": [0.1]})})
