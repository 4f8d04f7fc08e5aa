"""Reading and checking DESED metadata tables (strong, weak, durations; tab-separated with a header)."""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

TableSource = str | Path | pd.DataFrame

STRONG_COLUMNS = ("filename", "onset", "offset", "event_label")
WEAK_COLUMNS = ("filename", "event_labels")
DURATION_COLUMNS = ("filename", "duration")


class MetadataError(ValueError):
    """A metadata table that cannot be used as it is; the message names the table and what to change."""


def describe(source: TableSource) -> str:
    return "<DataFrame>" if isinstance(source, pd.DataFrame) else str(source)


def _read(source: TableSource, columns: Sequence[str], kind: str) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        table = source.copy()
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{kind} metadata {path} does not exist; check the data paths of the configuration")
        table = pd.read_csv(path, sep="\t")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MetadataError(
            f"{kind} metadata {describe(source)} lacks the column(s) {missing} (found {list(table.columns)}); "
            f"expected a tab-separated table with the header {' '.join(columns)}"
        )
    table = table.reset_index(drop=True)
    table["filename"] = table["filename"].astype(str)
    return table


def _unknown_labels_error(unknown: set[str], labels: Sequence[str], source: TableSource) -> MetadataError:
    return MetadataError(
        f"{describe(source)} uses labels outside the class list: {sorted(unknown)}. "
        f"Known classes: {list(labels)}; add them to data.classes or fix the table"
    )


def read_strong(source: TableSource, labels: Sequence[str]) -> pd.DataFrame:
    """Strong labels ``filename onset offset event_label``.

    A clip without events may appear once with empty onset/offset/label and is kept. Rows with a label but a
    missing (NaN) onset or offset, and rows with onset >= offset, are dropped with one warning that lists them.
    Labels outside ``labels`` are an error.
    """
    table = _read(source, STRONG_COLUMNS, "strong")
    table["onset"] = pd.to_numeric(table["onset"], errors="coerce")
    table["offset"] = pd.to_numeric(table["offset"], errors="coerce")
    has_label = table["event_label"].notna() & (table["event_label"].astype(str).str.len() > 0)
    table.loc[~has_label, "event_label"] = np.nan
    unknown = set(table.loc[has_label, "event_label"].astype(str)) - set(labels)
    if unknown:
        raise _unknown_labels_error(unknown, labels, source)
    no_time = has_label & (table["onset"].isna() | table["offset"].isna())
    reversed_ = has_label & ~no_time & (table["onset"] >= table["offset"])
    bad = no_time | reversed_
    if bad.any():
        rows = table[bad]
        # +2: the header is line 1 of the file and the index counts from 0.
        examples = "; ".join(
            f"line {i + 2}: {r.filename} {r.onset} {r.offset} {r.event_label}" for i, r in rows.head(5).iterrows()
        )
        warnings.warn(
            f"{describe(source)}: dropping {int(no_time.sum())} row(s) without onset/offset and "
            f"{int(reversed_.sum())} row(s) with onset >= offset ({examples})",
            stacklevel=3,
        )
        table = table[~bad].reset_index(drop=True)
    return table


def split_weak_labels(value: object) -> list[str]:
    """The comma-separated ``event_labels`` cell as a list (empty for NaN/empty)."""
    if not isinstance(value, str):
        return []
    return [label.strip() for label in value.split(",") if label.strip()]


def read_weak(source: TableSource, labels: Sequence[str]) -> pd.DataFrame:
    """Weak labels ``filename event_labels`` (comma-separated); labels outside ``labels`` are an error."""
    table = _read(source, WEAK_COLUMNS, "weak")
    used = {label for cell in table["event_labels"] for label in split_weak_labels(cell)}
    unknown = used - set(labels)
    if unknown:
        raise _unknown_labels_error(unknown, labels, source)
    return table


def read_durations(source: TableSource) -> pd.DataFrame:
    """Clip durations ``filename duration`` (seconds); rows without a numeric duration are an error."""
    table = _read(source, DURATION_COLUMNS, "durations")
    table["duration"] = pd.to_numeric(table["duration"], errors="coerce")
    invalid = table[table["duration"].isna() | (table["duration"] <= 0)]
    if len(invalid):
        raise MetadataError(
            f"durations {describe(source)}: {len(invalid)} row(s) without a positive duration "
            f"(e.g. {invalid['filename'].head(3).tolist()}); fix or remove them"
        )
    return table
