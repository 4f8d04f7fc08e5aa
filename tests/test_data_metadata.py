"""Metadata tables: columns, unknown labels, NaN and reversed rows, clips without events, durations."""
from __future__ import annotations

import pandas as pd
import pytest

from desed_task.data import DESED_CLASSES, MetadataError, read_durations, read_strong, read_weak


def _tsv(path, text: str):
    path.write_text(text.replace("|", "\t"))
    return path


def test_strong_keeps_clip_without_events_and_drops_bad_rows(tmp_path):
    tsv = _tsv(tmp_path / "strong.tsv", (
        "filename|onset|offset|event_label\n"
        "a.wav|0.5|1.5|Dog\n"
        "b.wav|||\n"
        "c.wav|2.0|1.0|Cat\n"
        "d.wav||3.0|Speech\n"
        "e.wav|1.0|1.0|Blender\n"
    ))
    with pytest.warns(UserWarning, match=r"1 row\(s\) without onset/offset and 2 row\(s\) with onset >= offset"):
        table = read_strong(tsv, DESED_CLASSES)
    assert table["filename"].tolist() == ["a.wav", "b.wav"]
    assert table["event_label"].isna().tolist() == [False, True]


def test_strong_warning_names_the_lines(tmp_path):
    tsv = _tsv(tmp_path / "s.tsv", "filename|onset|offset|event_label\nx.wav|nan|2|Dog\n")
    with pytest.warns(UserWarning, match=r"s.tsv.*line 2: x.wav"):
        read_strong(tsv, DESED_CLASSES)


def test_unknown_labels_are_listed_with_the_table(tmp_path):
    tsv = _tsv(tmp_path / "strong.tsv", "filename|onset|offset|event_label\na.wav|0|1|Dog\nb.wav|0|1|Horse\n"
               "c.wav|0|1|Car\n")
    with pytest.raises(MetadataError, match=r"strong.tsv uses labels outside the class list: \['Car', 'Horse'\]"):
        read_strong(tsv, DESED_CLASSES)
    weak = _tsv(tmp_path / "weak.tsv", "filename|event_labels\na.wav|Dog,Horse\n")
    with pytest.raises(MetadataError, match=r"weak.tsv .*\['Horse'\]"):
        read_weak(weak, DESED_CLASSES)
    assert len(read_weak(weak, [*DESED_CLASSES, "Horse"])) == 1


def test_missing_columns_and_files_are_named(tmp_path):
    tsv = _tsv(tmp_path / "bad.tsv", "file|start|end|label\na.wav|0|1|Dog\n")
    with pytest.raises(MetadataError, match=r"bad.tsv lacks the column\(s\) \['filename', 'onset', 'offset', "
                                            r"'event_label'\]"):
        read_strong(tsv, DESED_CLASSES)
    with pytest.raises(FileNotFoundError, match="nowhere.tsv"):
        read_strong(tmp_path / "nowhere.tsv", DESED_CLASSES)


def test_dataframe_input_is_not_modified():
    df = pd.DataFrame({"filename": ["a.wav"], "event_labels": ["Dog,Cat"]})
    table = read_weak(df, DESED_CLASSES)
    table.loc[0, "filename"] = "changed"
    assert df.loc[0, "filename"] == "a.wav"


def test_durations(tmp_path):
    good = _tsv(tmp_path / "d.tsv", "filename|duration\na.wav|10.0\nb.wav|7.5\n")
    assert read_durations(good)["duration"].tolist() == [10.0, 7.5]
    bad = _tsv(tmp_path / "bad.tsv", "filename|duration\na.wav|\n")
    with pytest.raises(MetadataError, match=r"bad.tsv: 1 row\(s\) without a positive duration"):
        read_durations(bad)
