"""Where records come from and reports go: a local path, or any Airflow ``ObjectStoragePath`` (``file://`` ones
are the local paths they name, with the local guarantees: rename in place, checkpoint next to the report)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import IO

from airflow.sdk import ObjectStoragePath

Location = Path | ObjectStoragePath
"""A resolved place: ``Path`` for the local file system, ``ObjectStoragePath`` for any other store."""

FORMATS = ("jsonl", "csv")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
FORMAT_ALIASES = {"jsonl": "jsonl", "ndjson": "jsonl", "json_lines": "jsonl", "jsonlines": "jsonl", "csv": "csv"}
_LOCAL_PROTOCOLS = ("file", "local")


def to_location(value: str | os.PathLike[str] | ObjectStoragePath) -> Location:
    """``s3://...``-style text and ``ObjectStoragePath`` stay object storage; ``file://`` and plain paths are local.

    What stands before ``@`` is an Airflow connection id (``s3://aws_default@bucket/key``); ``user:password``
    there is refused without being shown: a location is logged, reported and published as an Asset URI.
    """
    if isinstance(value, ObjectStoragePath):
        if ":" in (value.conn_id or ""):
            raise ValueError(
                f"a {value.protocol}:// location holds credentials ('user:password@'), which would be shown in logs, "
                f"reports and Asset URIs; put them in an Airflow connection and name it: {value.protocol}://<conn_id>@..."
            )
        return Path(value.path) if value.protocol in _LOCAL_PROTOCOLS else value
    text = os.fspath(value).strip()
    if "://" in text:
        return to_location(ObjectStoragePath(text))
    return Path(text).expanduser()


def asset_uri(location: Location) -> str:
    """The URI an Airflow ``Asset`` for this location should carry (``file:///abs/path`` when local)."""
    if isinstance(location, Path):
        return location.resolve().as_uri()
    return str(location)


def detect_format(location: Location | None, explicit: str | None, *, what: str) -> str:
    """``jsonl`` or ``csv``: ``explicit`` when given, else from the extension; errors name ``<what>_format=``."""
    argument = f"{what}_format"
    if explicit:
        found = FORMAT_ALIASES.get(explicit.strip().lower())
        if found is None:
            raise ValueError(
                f"{what} format must be one of {', '.join(FORMATS)}; got {argument}={explicit!r} "
                f"(pass {argument}='jsonl' or {argument}='csv')"
            )
        return found
    suffix = Path(location.name).suffix.lower() if location is not None else ""
    found = _SUFFIXES.get(suffix)
    if found is None:
        raise ValueError(
            f"cannot tell the {what} format from {location!s}: name the file .jsonl, .ndjson or .csv, or pass "
            f"{argument}='jsonl' (JSON Lines: one JSON object per line) or {argument}='csv'"
        )
    return found


def open_binary(location: Location) -> IO[bytes]:
    """Byte stream (records and reports are decoded line by line, so a bad byte can name its line)."""
    stream: IO[bytes] = location.open("rb")
    return stream


def atomic_write_text(path: Path, text: str) -> None:
    """Replace a local file atomically and durably: a reader sees the old text or the new, never part."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
