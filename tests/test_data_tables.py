"""The DESED table layer: columns, unknown labels, NaN and reversed rows, clips without events, durations."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from desed_task.data import DESED_CLASSES, TableError, read_durations, read_strong, read_weak
from desed_task.data.tables import check_clip_ids, clip_id_of, events_by_clip, read_events, read_scores

REPO = Path(__file__).resolve().parents[1]


def _tsv(path, text: str):
    path.write_text(text.replace("|", "\t"))
    return path


def test_strong_keeps_clip_without_events_and_drops_bad_rows(tmp_path):
    tsv = _tsv(
        tmp_path / "strong.tsv",
        (
            "filename|onset|offset|event_label\n"
            "a.wav|0.5|1.5|Dog\n"
            "b.wav|||\n"
            "c.wav|2.0|1.0|Cat\n"
            "d.wav||3.0|Speech\n"
            "e.wav|1.0|1.0|Blender\n"
        ),
    )
    with pytest.warns(UserWarning, match=r"1 row\(s\) without onset/offset and 2 row\(s\) with onset >= offset"):
        table = read_strong(tsv, DESED_CLASSES)
    assert table["filename"].tolist() == ["a.wav", "b.wav"]
    assert table["event_label"].isna().tolist() == [False, True]


def test_strong_warning_names_the_lines(tmp_path):
    tsv = _tsv(tmp_path / "s.tsv", "filename|onset|offset|event_label\nx.wav|nan|2|Dog\n")
    with pytest.warns(UserWarning, match=r"s.tsv.*line 2: x.wav"):
        read_strong(tsv, DESED_CLASSES)


def test_unknown_labels_are_listed_with_the_table(tmp_path):
    tsv = _tsv(
        tmp_path / "strong.tsv", "filename|onset|offset|event_label\na.wav|0|1|Dog\nb.wav|0|1|Horse\nc.wav|0|1|Car\n"
    )
    with pytest.raises(TableError, match=r"strong.tsv uses labels outside the class list: \['Car', 'Horse'\]"):
        read_strong(tsv, DESED_CLASSES)
    weak = _tsv(tmp_path / "weak.tsv", "filename|event_labels\na.wav|Dog,Horse\n")
    with pytest.raises(TableError, match=r"weak.tsv .*\['Horse'\]"):
        read_weak(weak, DESED_CLASSES)
    assert len(read_weak(weak, [*DESED_CLASSES, "Horse"])) == 1


def test_missing_columns_and_files_are_named(tmp_path):
    tsv = _tsv(tmp_path / "bad.tsv", "file|start|end|label\na.wav|0|1|Dog\n")
    with pytest.raises(
        TableError,
        match=r"bad.tsv lacks the column\(s\) \['filename', 'onset', 'offset', "
        r"'event_label'\]",
    ):
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
    with pytest.raises(TableError, match=r"bad.tsv: 1 row\(s\) without a positive duration"):
        read_durations(bad)


def test_one_clip_id_rule():
    assert clip_id_of("Y1_30.000_40.000.wav") == "Y1_30.000_40.000"
    assert clip_id_of("Y1_30.000_40.000") == "Y1_30.000_40.000"  # a numeric "extension" is part of the name
    assert clip_id_of("a/b/Y1_30.000_40.000.wav") == "a/b/Y1_30.000_40.000"  # folders make different clips
    assert clip_id_of("./day1\\kitchen.flac") == "day1/kitchen"
    assert clip_id_of("day1.v2/kitchen") == "day1.v2/kitchen"  # a dot in a folder is no extension


def test_two_names_of_one_clip_are_an_error_naming_both():
    check_clip_ids(["day1/kitchen.wav", "day2/kitchen.wav", "day1/kitchen.wav"], "durations d.tsv")
    with pytest.raises(TableError, match=r"durations d.tsv: 'x.wav' and 'x.flac' are both clip 'x'"):
        check_clip_ids(["x.wav", "y.wav", "x.flac"], "durations d.tsv")


def test_labels_lose_white_space_with_a_warning_that_shows_it(tmp_path):
    path = _tsv(tmp_path / "gt.tsv", "filename|onset|offset|event_label\na.wav|0|1|Dog \nb.wav|0|1|\xa0Cat\n")
    shown = "gt.tsv: label(s) 'Dog ', '\\xa0Cat' have leading or trailing white space"  # repr: visible
    with pytest.warns(UserWarning, match=re.escape(shown)):
        table = read_events(path, "ground truth", classes=["Cat", "Dog"])
    assert table["event_label"].tolist() == ["Dog", "Cat"]


def test_events_by_clip_keys_clip_ids_and_keeps_clips_without_events():
    table = pd.DataFrame(
        {
            "filename": ["a.wav", "b.wav", "a"],
            "onset": [0.5, None, 2.0],
            "offset": [1.0, None, 3.0],
            "event_label": ["Dog", None, "Cat"],
        }
    )
    assert events_by_clip(table) == {"a": [(0.5, 1.0, "Dog"), (2.0, 3.0, "Cat")], "b": []}


def test_read_events_csv_header_only_and_empty(tmp_path):
    csv = tmp_path / "det.csv"
    csv.write_text(",event_label,onset,offset,filename\n0,Dog,0.0,1.5,a.wav\n\n1,Cat,2.0,3.0,b.wav\n")
    table = read_events(csv, "detections")
    assert table.to_dict("list") == {
        "filename": ["a.wav", "b.wav"],
        "onset": [0.0, 2.0],
        "offset": [1.5, 3.0],
        "event_label": ["Dog", "Cat"],
    }
    header_only = _tsv(tmp_path / "header.tsv", "filename|onset|offset|event_label\n")
    assert read_events(header_only, "detections").empty
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(TableError, match=r"empty.tsv is empty: it needs the header row filename onset offset"):
        read_events(tmp_path / "empty.tsv", "detections")
    with pytest.raises(TableError, match="is a folder, expected a file"):
        read_events(tmp_path, "detections")


def test_read_events_names_the_line_of_a_bad_row(tmp_path):
    rows = "filename|onset|offset|event_label\na.wav|0|1|Dog\n\nb.wav|3|2|Cat\nc.wav|4|4|Cat\n"
    with pytest.raises(
        TableError,
        match=r"det.tsv, line 4: onset 3.0 s is not before offset 2.0 s \(b.wav, Cat\) "
        r"\(1 more: line 5\)",
    ):
        read_events(_tsv(tmp_path / "det.tsv", rows), "detections")
    frame = pd.DataFrame({"filename": ["a.wav"], "onset": [-1.0], "offset": [1.0], "event_label": ["Dog"]})
    with pytest.raises(TableError, match=r"detections table, row 0: negative onset"):
        read_events(frame, "detections")


def test_read_scores_checks_values_and_frames(tmp_path):
    good = _tsv(tmp_path / "Y1.tsv", "onset|offset|Cat|Dog\n0.0|0.5|0.1|0.9\n0.5|1.0|0.2|1.0\n")
    assert read_scores(good)["Dog"].tolist() == [0.9, 1.0]
    nan = _tsv(tmp_path / "Y2.tsv", "onset|offset|Cat|Dog\n0.0|0.5|0.1|0.9\n0.5|1.0||0.3\n")
    with pytest.raises(TableError, match=r"Y2.tsv, line 3: column Cat holds nan, not a score in \[0, 1\]"):
        read_scores(nan)
    gap = _tsv(tmp_path / "Y3.tsv", "onset|offset|Cat\n0.0|0.5|0.1\n0.6|1.0|0.2\n")
    with pytest.raises(TableError, match=r"Y3.tsv, line 3: frame 0.6-1.0 s"):
        read_scores(gap)
    never = _tsv(tmp_path / "Y4.tsv", "onset|offset|Cat\n0.0|0.5|-inf\n0.5|1.0|0.2\n")  # cSEBB: no box there
    assert read_scores(never)["Cat"].tolist() == [float("-inf"), 0.2]
    for name, cell in (("Y5.tsv", "inf"), ("Y6.tsv", "-0.5")):
        with pytest.raises(TableError, match=f"{name}, line 2: column Cat holds"):
            read_scores(_tsv(tmp_path / name, f"onset|offset|Cat\n0.0|0.5|{cell}\n"))
    with pytest.raises(TableError, match=r"Y7.tsv, line 2: column onset holds -inf, not a time"):
        read_scores(_tsv(tmp_path / "Y7.tsv", "onset|offset|Cat\n-inf|0.5|0.3\n"))


def test_evaluation_reads_tables_without_importing_torch():
    code = "import sys, desed_task.evaluation, desed_task.data.tables; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "False"
