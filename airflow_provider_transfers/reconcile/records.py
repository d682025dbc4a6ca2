"""Reading input records lazily: a list (XCom, or its JSON text), or a JSON Lines / CSV file.

A ``RecordReader`` can be iterated more than once (each pass re-opens the file), which lets the job
validate every record before sending any request without holding the records in memory.
"""

from __future__ import annotations

import ast
import csv
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_transfers.reconcile.storage import Location, detect_format, open_text, to_location

RecordsInput = Sequence[Mapping[str, Any]] | str | os.PathLike[str] | ObjectStoragePath


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One input record before validation. ``number`` is 1-based; ``line`` is the file line (files only)."""

    number: int
    data: Any
    line: int | None = None
    parse_error: str | None = None

    @property
    def where(self) -> str:
        return f"record {self.number}" + (f" (line {self.line})" if self.line is not None else "")


class RecordReader:
    """Records from a sequence, JSON/Python-literal text of a list, or a ``.jsonl``/``.csv`` file."""

    def __init__(self, records: RecordsInput, records_format: str | None = None) -> None:
        self._items: Sequence[Any] | None = None
        self._location: Location | None = None
        self.format = "list"
        if isinstance(records, str) and records.lstrip().startswith("["):
            self._items = _parse_list_text(records)
        elif isinstance(records, str | os.PathLike | ObjectStoragePath):
            self._location = to_location(records)
            self.format = detect_format(self._location, records_format, what="records")
        elif isinstance(records, Sequence) and not isinstance(records, bytes):
            self._items = records
        else:
            raise ValueError(
                "records must be a list of records (e.g. an XCom), JSON text of one, or the path of a "
                f".jsonl/.csv file; got {type(records).__name__}"
            )

    def describe(self) -> str:
        return str(self._location) if self._location is not None else "the records list"

    def __iter__(self) -> Iterator[RawRecord]:
        if self._items is not None:
            return (RawRecord(i, item) for i, item in enumerate(self._items, start=1))
        assert self._location is not None
        return _iter_jsonl(self._location) if self.format == "jsonl" else _iter_csv(self._location)


def _parse_list_text(text: str) -> list[Any]:
    """A rendered template: JSON, or the Python literal Jinja renders a list of dicts into."""
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValueError("records text is neither a JSON list nor a Python list literal") from None
    if not isinstance(value, list):
        raise ValueError(f"records text must hold a list; got {type(value).__name__}")
    return value


def _iter_jsonl(location: Location) -> Iterator[RawRecord]:
    number = 0
    with open_text(location) as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            number += 1
            try:
                yield RawRecord(number, json.loads(line), line_no)
            except ValueError as exc:
                yield RawRecord(number, None, line_no, f"not valid JSON ({exc})")


def _iter_csv(location: Location) -> Iterator[RawRecord]:
    """Flat columns; an empty cell means the field is absent. ``line`` is the row's last physical line."""
    with open_text(location) as fh:
        reader = csv.DictReader(fh)
        for number, row in enumerate(reader, start=1):
            if None in row:
                yield RawRecord(number, None, reader.line_num, "has more cells than the header has columns")
                continue
            yield RawRecord(number, {k: v for k, v in row.items() if k and v not in (None, "")}, reader.line_num)
