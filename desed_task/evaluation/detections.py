"""Detection tables as the metrics need them: duplicates found (and dropped on request), same-class overlaps merged.

A system can list one detection twice (same clip, class, onset and offset), and real systems produce detections of
one class that overlap in a clip (two chunks, two post-processing passes). sed_eval scores every row as it is: each
extra copy is a false positive of event-based F1. psds_eval refuses overlapping detections of a class, so the
tables it scores get the union of each class's overlapping intervals in a clip, as the DCASE tooling expects.
Clips are compared by clip id (``clip_id_of``); the merged row keeps the file name of its first detection.
"""

from __future__ import annotations

import pandas as pd

from desed_task.data.tables import EVENT_COLUMNS, clip_id_of

_KEY = ["clip_id", "event_label", "onset", "offset"]


def _keyed(table: pd.DataFrame) -> pd.DataFrame:
    """The labelled rows of a detection table with their clip id."""
    labelled = table[table["event_label"].notna()]
    codes, names = pd.factorize(labelled["filename"], use_na_sentinel=False)
    return labelled.assign(clip_id=pd.Index([clip_id_of(n) for n in names], dtype=object)[codes])


def duplicated(table: pd.DataFrame) -> pd.DataFrame:
    """The rows that repeat an earlier row's clip, class, onset and offset (the first one is not listed)."""
    keyed = _keyed(table)
    return table.loc[keyed.index[keyed.duplicated(_KEY)]]


def without_duplicates(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without the rows :func:`duplicated` lists, in the original order."""
    return table.drop(index=duplicated(table).index).reset_index(drop=True)


def merge_overlaps(table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Each clip's overlapping detections of one class replaced by their union, and how many rows that removed.

    Intervals overlap when one starts before the other ends (touching intervals stay apart, as psds_eval sees
    them). Without overlaps the table is returned as it is.
    """
    keyed = _keyed(table).sort_values(["clip_id", "event_label", "onset", "offset"], kind="stable")
    groups = keyed.groupby(["clip_id", "event_label"], sort=False)
    reach = groups["offset"].cummax()  # how far the class's earlier intervals reach
    previous = reach.groupby([keyed["clip_id"], keyed["event_label"]], sort=False).shift()
    starts = previous.isna() | (keyed["onset"] >= previous)
    if starts.all():
        return table, 0
    run = starts.cumsum()
    merged = keyed.groupby(run, sort=False).agg(
        filename=("filename", "first"),
        onset=("onset", "min"),
        offset=("offset", "max"),
        event_label=("event_label", "first"),
    )
    return merged[list(EVENT_COLUMNS)].reset_index(drop=True), len(keyed) - len(merged)
