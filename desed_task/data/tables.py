"""The DESED tables, read and checked in one place, for training and evaluation alike.

- events (strong labels, ground truth, detections): ``filename onset offset event_label``, seconds; a clip
  without events may appear once with empty ``onset``, ``offset`` and ``event_label``;
- weak labels: ``filename event_labels`` (comma-separated);
- durations: ``filename duration`` (seconds);
- scores (sed_scores_eval): one file per clip, ``onset offset <class 1> … <class C>``, one row per frame.

Tables are tab-separated with a header row; a ``.csv`` file is read comma-separated and its index column (as the
DCASE baseline writes it) is ignored. Clips are matched by :func:`clip_id_of`, so ``Y1.wav`` and ``Y1`` are the
same clip, and ``day1/Y1.wav`` another one. Labels lose leading and trailing white space, with a warning. A table
that cannot be used raises :class:`TableError`, naming the table, the line and what to do.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal, NoReturn

import numpy as np
import pandas as pd

TableSource = str | Path | pd.DataFrame
EventKind = Literal["ground truth", "detections"]

EVENT_COLUMNS = ("filename", "onset", "offset", "event_label")
WEAK_COLUMNS = ("filename", "event_labels")
DURATION_COLUMNS = ("filename", "duration")
SCORE_TIME_COLUMNS = ("onset", "offset")
# DESED validation annotations end up to 0.12 s after their clip's (0.1 s-rounded) duration; times in milliseconds
# or frames overshoot by far more.
OVERRUN_S = 0.5
SHOWN = 3  # lines, clips or labels named in a message


class TableError(ValueError):
    """A table that cannot be used as it is; the message names the table (and line) and what to change."""


def table_classes(table: pd.DataFrame) -> list[str]:
    """The class columns of a score table (sed_scores_eval's layout: ``onset``, ``offset``, then classes)."""
    return [c for c in table.columns if c not in SCORE_TIME_COLUMNS]


def clip_id_of(filename: str) -> str:
    """The clip id of a file name: the name as the table gives it, without the audio extension.

    A folder stays part of the id (``day1/kitchen.wav`` -> ``day1/kitchen``), so recordings that share a base
    name in different folders stay different clips; a base name stays as it is (``Y1.wav`` -> ``Y1``).
    Backslashes become ``/`` and a leading ``./`` is dropped. ``Y1_30.000_40.000`` stays whole: a numeric
    "extension" is part of a DESED clip name, not a file type.
    """
    name = str(filename).replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    folder, slash, base = name.rpartition("/")
    stem, dot, extension = base.rpartition(".")
    base = stem if dot and extension.isalnum() and not extension.isdigit() else base
    return folder + slash + base


def check_clip_ids(filenames: Iterable[str], name: str) -> None:
    """A TableError when two different file names of one table map to the same clip id (``x.wav`` and ``x.flac``):
    their rows would be scored as one clip."""
    seen: dict[str, str] = {}
    for filename in dict.fromkeys(filenames):
        clip_id = clip_id_of(filename)
        other = seen.setdefault(clip_id, filename)
        if other != filename:
            raise TableError(
                f"{name}: {other!r} and {filename!r} are both clip {clip_id!r}; give every recording "
                "one name (the same name in every table)"
            )


def describe(source: TableSource) -> str:
    """The path of a table file, or ``<DataFrame>``."""
    return "<DataFrame>" if isinstance(source, pd.DataFrame) else str(source)


def _name(source: TableSource, kind: str) -> str:
    return f"{kind} table" if isinstance(source, pd.DataFrame) else f"{kind} file {source}"


def _at(source: TableSource) -> Callable[[object], str]:
    """Where a row is: its line in a file (the index of a table read here), or its row label in a DataFrame."""
    unit = "row" if isinstance(source, pd.DataFrame) else "line"
    return lambda index: f"{unit} {index}"


def _show(value: object) -> str:
    """A cell for a message: text quoted, numbers as numbers (``nan``, not ``np.float64(nan)``)."""
    return repr(value) if isinstance(value, str) else str(value)


def first_few(items: Sequence[object]) -> str:
    """The first ``SHOWN`` items, comma-separated (``, ...`` when there are more), for messages."""
    return ", ".join(str(x) for x in items[:SHOWN]) + (", ..." if len(items) > SHOWN else "")


def _read(source: TableSource, columns: Sequence[str], kind: str) -> pd.DataFrame:
    """``columns`` of a table, indexed by file line (line 1 is the header) or by the DataFrame's row labels."""
    if isinstance(source, pd.DataFrame):
        table = source.copy()
    else:
        table = _read_file(Path(source), columns, kind)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        hint = " (it looks comma-separated)" if len(table.columns) == 1 and "," in str(table.columns[0]) else ""
        raise TableError(
            f"{_name(source, kind)} lacks the column(s) {missing} (found {list(table.columns)}){hint}; "
            f"expected a tab-separated table with the header {' '.join(columns)}"
        )
    table = table[list(columns)].copy()
    if "filename" in columns:
        no_name = table["filename"].isna()
        if no_name.any():
            _fail(source, kind, table[no_name], lambda row: "the filename is empty", "give every row its clip's file")
        table["filename"] = table["filename"].astype(str)
    return table


def _read_file(path: Path, columns: Sequence[str], kind: str) -> pd.DataFrame:
    """A table file indexed by line (line 1 is the header), blank lines dropped; ``columns`` name the header."""
    if path.is_dir():
        raise TableError(f"{kind} {path} is a folder, expected a file")
    if not path.is_file():
        raise FileNotFoundError(f"{kind} file not found: {path}")
    comma = path.suffix.lower() == ".csv"
    try:
        table = pd.read_csv(path, sep="," if comma else "\t", skip_blank_lines=False, dtype={"filename": str})
    except pd.errors.EmptyDataError:
        raise TableError(
            f"{kind} file {path} is empty: it needs the header row {' '.join(columns)}, even without rows"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        reason, separator = " ".join(str(error).split()), "comma" if comma else "tab"
        raise TableError(f"cannot read {kind} file {path} as {separator}-separated text: {reason}") from None
    table.index = table.index + 2
    return table[~table.isna().all(axis=1)]  # blank lines


def _fail(
    source: TableSource, kind: str, rows: pd.DataFrame, problem: Callable[[pd.Series], str], fix: str
) -> NoReturn:
    """Raise a TableError naming the first of ``rows`` (and how many more there are)."""
    at = _at(source)
    more = len(rows) - 1
    others = f" ({more} more: {first_few([at(i) for i in rows.index[1:]])})" if more else ""
    raise TableError(f"{_name(source, kind)}, {at(rows.index[0])}: {problem(rows.iloc[0])}{others}; {fix}")


def _labelled(table: pd.DataFrame, source: TableSource, kind: str) -> pd.Series:
    """Rows with a label; the label column of the others becomes NaN (a clip listed without events).

    Labels are stripped of white space (a warning shows them as written, e.g. ``'Dog '``): a trailing space or tab
    is invisible in a table but would make another class.
    """
    raw = table["event_label"]
    labels = raw.astype(str).str.strip()
    has_label = raw.notna() & (labels.str.len() > 0)
    padded = sorted(set(raw[has_label & (labels != raw.astype(str))]))
    if padded:
        warnings.warn(
            f"{_name(source, kind)}: label(s) {first_few([repr(x) for x in padded])} have leading or "
            "trailing white space; stripped",
            stacklevel=4,
        )
    table["event_label"] = labels.where(has_label, np.nan).astype(object)
    return has_label


def _check_labels(source: TableSource, kind: str, used: pd.Series, classes: Sequence[str], fix: str) -> None:
    """An error listing the labels of ``used`` (label per row) outside ``classes``, with the closest class each."""
    unknown = sorted(set(used) - set(classes))
    if not unknown:
        return
    lower = {c.lower(): c for c in classes}
    closest = [
        f"{label} -> {lower[match[0]]}"
        for label in unknown[:SHOWN]
        if (match := difflib.get_close_matches(label.lower(), lower, n=1, cutoff=0.0))
    ]
    first = _at(source)(used.index[used.isin(unknown)][0])
    raise TableError(
        f"{_name(source, kind)} uses labels outside the class list: {unknown} (first at {first}; "
        f"closest class: {first_few(closest)}); the classes are {list(classes)}: {fix}"
    )


def _times(table: pd.DataFrame, rows: pd.Series, source: TableSource, kind: str, drop: bool) -> pd.Series:
    """Make onset/offset numeric; labelled rows without two times are an error, or dropped (``drop``)."""
    raw = table[["onset", "offset"]]
    table["onset"] = pd.to_numeric(raw["onset"], errors="coerce")
    table["offset"] = pd.to_numeric(raw["offset"], errors="coerce")
    no_time = rows & (table["onset"].isna() | table["offset"].isna())
    if no_time.any() and not drop:
        _fail(
            source,
            kind,
            raw[no_time],
            lambda r: f"onset {_show(r.onset)} / offset {_show(r.offset)} are not both numbers",
            "onset and offset are times in seconds (a clip without events has all three cells empty)",
        )
    return no_time


def read_events(
    source: TableSource,
    kind: EventKind = "detections",
    classes: Sequence[str] | None = None,
    durations: Mapping[str, float] | None = None,
    pad_to_longest: bool = False,
) -> pd.DataFrame:
    """Ground truth or detections, checked row by row: numeric times, 0 <= onset < offset, and with ``classes``
    known labels, with ``durations`` (per clip id) events that end within their clip plus ``OVERRUN_S``.

    With ``pad_to_longest`` a clip lasts as long as the longest one: systems score clips padded to the batch's
    length, and the published DESED baseline detections run on to 10 s on shorter clips. Rows without a label are
    kept in the ground truth (clips without events) and dropped from detections.
    """
    table = _read(source, EVENT_COLUMNS, kind)
    labelled = _labelled(table, source, kind)
    if kind == "detections":
        table, labelled = table[labelled].copy(), labelled[labelled]
    _times(table, labelled, source, kind, drop=False)
    events = table[labelled]
    at_fix = "times are seconds from the start of the clip"
    negative = events[events["onset"] < 0]
    if len(negative):
        _fail(source, kind, negative, lambda row: f"negative onset {row.onset} s ({row.filename})", at_fix)
    reversed_ = events[events["onset"] >= events["offset"]]
    if len(reversed_):
        _fail(
            source,
            kind,
            reversed_,
            lambda r: f"onset {r.onset} s is not before offset {r.offset} s ({r.filename}, {r.event_label})",
            "every event needs onset < offset (drop zero-length events)",
        )
    if classes is not None:
        _check_labels(
            source,
            kind,
            events["event_label"],
            classes,
            "use the ground truth's class names (labels are case-sensitive)",
        )
    if durations:
        _check_within_clips(source, kind, events, durations, pad_to_longest)
    return table.reset_index(drop=True)


def _check_within_clips(
    source: TableSource, kind: str, events: pd.DataFrame, durations: Mapping[str, float], pad: bool
) -> None:
    length = events["filename"].map(clip_id_of).map(durations)
    if pad:
        length = length.clip(lower=max(durations.values()))
    late = events.assign(clip_s=length)[length.notna() & (events["offset"] > length + OVERRUN_S)]
    if len(late):
        reference = "the longest clip's duration" if pad else "the clip's duration"
        _fail(
            source,
            kind,
            late,
            lambda r: (
                f"{r.event_label} event {r.onset}-{r.offset} s of clip "
                f"{clip_id_of(r.filename)} ends more than {OVERRUN_S} s after {r.clip_s} s, {reference}"
            ),
            "times must be seconds within the clip; check the units and that durations and events match",
        )


def read_strong(source: TableSource, labels: Sequence[str]) -> pd.DataFrame:
    """Strong labels for training: events of ``labels`` only (else an error).

    A clip without events may appear once with empty onset/offset/label and is kept. Rows with a label but a
    missing onset or offset, and rows with onset >= offset, are dropped with one warning that lists them.
    """
    kind = "strong labels"
    table = _read(source, EVENT_COLUMNS, kind)
    labelled = _labelled(table, source, kind)
    _check_labels(source, kind, table.loc[labelled, "event_label"], labels, "add them to data.classes or fix the table")
    no_time = _times(table, labelled, source, kind, drop=True)
    reversed_ = labelled & ~no_time & (table["onset"] >= table["offset"])
    bad = no_time | reversed_
    if bad.any():
        at = _at(source)
        examples = "; ".join(
            f"{at(i)}: {r.filename} {r.onset} {r.offset} {r.event_label}" for i, r in table[bad].head(5).iterrows()
        )
        warnings.warn(
            f"{describe(source)}: dropping {int(no_time.sum())} row(s) without onset/offset and "
            f"{int(reversed_.sum())} row(s) with onset >= offset ({examples})",
            stacklevel=3,
        )
    return table[~bad].reset_index(drop=True)


def split_weak_labels(value: object) -> list[str]:
    """The comma-separated ``event_labels`` cell as a list (empty for NaN/empty)."""
    return [label.strip() for label in value.split(",") if label.strip()] if isinstance(value, str) else []


def read_weak(source: TableSource, labels: Sequence[str]) -> pd.DataFrame:
    """Weak labels ``filename event_labels`` (comma-separated); labels outside ``labels`` are an error."""
    kind = "weak labels"
    table = _read(source, WEAK_COLUMNS, kind)
    pairs = [(line, label) for line, cell in table["event_labels"].items() for label in split_weak_labels(cell)]
    used = pd.Series([label for _, label in pairs], index=[line for line, _ in pairs], dtype=object)
    _check_labels(source, kind, used, labels, "add them to data.classes or fix the table")
    return table.reset_index(drop=True)


def read_durations(source: TableSource) -> pd.DataFrame:
    """Clip durations ``filename duration`` (seconds); a row without a positive duration is an error."""
    kind = "durations"
    table = _read(source, DURATION_COLUMNS, kind)
    raw = table["duration"]
    table["duration"] = pd.to_numeric(raw, errors="coerce")
    invalid = table["duration"].isna() | (table["duration"] <= 0)
    if invalid.any():
        rows = [f"{_at(source)(i)}: {name} {_show(raw[i])}" for i, name in table.loc[invalid, "filename"].items()]
        raise TableError(
            f"{_name(source, kind)}: {len(rows)} row(s) without a positive duration ({first_few(rows)}); "
            "fix or remove them"
        )
    return table.reset_index(drop=True)


def durations_by_clip(durations: pd.DataFrame) -> dict[str, float]:
    """Duration in seconds per clip id, from a table that :func:`read_durations` returned."""
    return {clip_id_of(f): float(d) for f, d in durations[list(DURATION_COLUMNS)].itertuples(index=False)}


def events_by_clip(table: pd.DataFrame) -> dict[str, list[tuple[float, float, str]]]:
    """Events ``(onset, offset, label)`` per clip id, in table order; clips listed without events map to []."""
    events: dict[str, list[tuple[float, float, str]]] = {}
    for filename, onset, offset, label in table[list(EVENT_COLUMNS)].itertuples(index=False):
        clip_events = events.setdefault(clip_id_of(filename), [])
        if isinstance(label, str) and label:
            clip_events.append((float(onset), float(offset), label))
    return events


def read_scores(path: str | Path, warn: bool = True) -> pd.DataFrame:
    """One sed_scores_eval score file: ``onset offset <classes>``, contiguous frames, scores in [0, 1].

    A score of ``-inf`` is accepted: it marks frames where no threshold detects the class, as the piecewise-constant
    tables of cSEBB post-processing (``desed_task.postprocess``) hold outside their boxes. Column names lose leading
    and trailing white space, as labels do, with a warning unless ``warn`` is False; the names as written are then
    in ``attrs["stripped_columns"]`` (a folder's reader warns once for all its files).
    """
    path, kind = Path(path), "score"
    table = _read_file(path, SCORE_TIME_COLUMNS, kind)
    padded = [c for c in table.columns if c != c.strip()]
    if padded:
        if warn:
            warnings.warn(
                f"score file {path}: column(s) {first_few([repr(c) for c in padded])} have leading or "
                "trailing white space; stripped",
                stacklevel=2,
            )
        table.columns = [c.strip() for c in table.columns]
        table.attrs["stripped_columns"] = padded
    classes = table_classes(table)
    if list(table.columns[:2]) != list(SCORE_TIME_COLUMNS) or not classes:
        raise TableError(
            f"score file {path} has the columns {list(table.columns)}; a sed_scores_eval score table "
            "has onset, offset, then one score column per class"
        )
    for column in table.columns:
        values = pd.to_numeric(table[column], errors="coerce")
        is_score = column in classes
        never = (values == -np.inf) & is_score
        bad = (values.isna() | np.isinf(values) | (is_score & ((values < 0) | (values > 1)))) & ~never
        if bad.any():
            what = "a score in [0, 1]" if column in classes else "a time in seconds"
            _fail(
                path,
                kind,
                table.loc[bad, [column]],
                lambda r: f"column {r.index[0]} holds {_show(r.iloc[0])}, not {what}",
                "write one probability (after the sigmoid) per frame and class",
            )
        table[column] = values
    onset, offset = table["onset"].to_numpy(), table["offset"].to_numpy()
    broken = (offset <= onset) | np.append(False, onset[1:] != offset[:-1])
    if broken.any():
        _fail(
            path,
            kind,
            table[broken],
            lambda r: f"frame {r.onset}-{r.offset} s is empty or does not start where the previous one ends",
            "frames need onset < offset, each onset equal to the previous offset",
        )
    return table.reset_index(drop=True)
