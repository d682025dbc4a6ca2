"""Reading input records lazily: a list (XCom, or its JSON text), or a JSON Lines / CSV file, local or not;
each pass re-opens the file, and a bad byte makes one record invalid, named."""

from __future__ import annotations

import ast
import csv
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_transfers.exceptions import TransferProviderError
from airflow_provider_transfers.reconcile.storage import Location, detect_format, open_binary, to_location

BOM = b"\xef\xbb\xbf"


class RecordsFileError(TransferProviderError, ValueError):
    """The records file as a whole cannot be read (e.g. its CSV header is not UTF-8): nothing is checked."""


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

    @property
    def whole(self) -> RecordReader:
        return self

    def shard_record(self, raw: RawRecord) -> RawRecord | None:
        return raw

    def shard_spec(self) -> dict[str, int] | None:
        return None

    def __iter__(self) -> Iterator[RawRecord]:
        if self._items is not None:
            return (RawRecord(i, item) for i, item in enumerate(self._items, start=1))
        assert self._location is not None
        return _iter_jsonl(self._location) if self.format == "jsonl" else _iter_csv(self._location)


def _parse_list_text(text: str) -> list[Any]:
    """A rendered template: JSON, or the Python literal Jinja renders a list of dicts into."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("records text must hold a list nested at most a few levels deep") from None
    except ValueError:
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValueError("records text is neither a JSON list nor a Python list literal") from None
    if not isinstance(value, list):
        raise ValueError(f"records text must hold a list; got {type(value).__name__}")
    return value


def decoded_lines(
    fh: Iterable[bytes], feed: Callable[[bytes], object] | None = None
) -> Iterator[tuple[int, str, str | None]]:
    """``(line number, text, problem)`` per physical line (each fed to ``feed`` as read), line 1's BOM dropped.
    A line that is not UTF-8 comes back with replacement characters and ``problem`` saying where it broke."""
    for line_no, raw in enumerate(fh, start=1):
        if feed is not None:
            feed(raw)
        if line_no == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        try:
            yield line_no, raw.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            yield line_no, raw.decode("utf-8", "replace"), f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"


def _iter_jsonl(location: Location) -> Iterator[RawRecord]:
    number = 0
    with open_binary(location) as fh:
        for line_no, line, problem in decoded_lines(fh):
            if not line.strip():
                continue
            number += 1
            if problem is not None:
                problem = f"not valid UTF-8 (line {line_no}, {problem}); save the file as UTF-8"
                yield RawRecord(number, None, line_no, problem)
                continue
            try:
                yield RawRecord(number, json.loads(line), line_no)
            except ValueError as exc:
                yield RawRecord(number, None, line_no, f"not valid JSON ({exc})")
            except RecursionError:
                yield RawRecord(number, None, line_no, "not valid JSON (nested too deeply)")


def _iter_csv(location: Location) -> Iterator[RawRecord]:
    """Flat columns; an empty cell means the field is absent. ``line`` is the row's last physical line."""
    with open_binary(location) as fh:
        bad: dict[int, str] = {}

        def text() -> Iterator[str]:
            for line_no, line, problem in decoded_lines(fh):
                if problem is not None:
                    bad[line_no] = f"not valid UTF-8 (line {line_no}, {problem})"
                yield line

        reader = csv.DictReader(text())
        try:
            if reader.fieldnames is None:
                return
        except csv.Error as exc:
            raise RecordsFileError(f"{location}: line {reader.line_num}: not readable as CSV ({exc})") from None
        if bad:
            problem = next(iter(bad.values()))
            raise RecordsFileError(f"{location}: the CSV header is {problem}; save the file as UTF-8")
        previous = reader.line_num
        try:
            for number, row in enumerate(reader, start=1):
                problems = [bad.pop(n) for n in sorted(bad) if previous < n <= reader.line_num]
                previous = reader.line_num
                if problems:
                    yield RawRecord(number, None, reader.line_num, f"{problems[0]}; save the file as UTF-8")
                elif None in row:
                    yield RawRecord(number, None, reader.line_num, "has more cells than the header has columns")
                else:
                    cells = {k: v for k, v in row.items() if k and v not in (None, "")}
                    yield RawRecord(number, cells, reader.line_num)
        except csv.Error as exc:  # a NUL byte, an oversize field
            raise RecordsFileError(f"{location}: line {reader.line_num + 1}: not readable as CSV ({exc})") from None
