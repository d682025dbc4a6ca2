"""``<report>.manifest.json``: the committed report's rows and digest, the input it describes, the run.

It names the report being put in place as ``pending`` until the rename is done, then as ``committed``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_provider_transfers.exceptions import TransferProviderError
from airflow_provider_transfers.reconcile.storage import Location, atomic_write_text

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_VERSION = 1


class ManifestError(TransferProviderError, ValueError):
    """A manifest that exists but cannot be read."""


@dataclass(frozen=True)
class ReportDigest:
    """What identifies a report's bytes: its rows, its SHA-256 and its size."""

    rows: int
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "sha256": self.sha256, "bytes": self.size}

    @classmethod
    def from_dict(cls, data: Any) -> ReportDigest | None:
        if data is None:
            return None
        try:
            return cls(int(data["rows"]), str(data["sha256"]), int(data["bytes"]))
        except (KeyError, TypeError, ValueError):
            raise ManifestError(f"a report entry must have rows, sha256 and bytes; got {data!r}") from None


class DigestCounter:
    """SHA-256 and size of bytes seen, fed line by line."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes) -> None:
        self._sha.update(data)
        self.size += len(data)

    def result(self, rows: int) -> ReportDigest:
        return ReportDigest(rows, self._sha.hexdigest(), self.size)


@dataclass(frozen=True)
class InputDigest:
    """The input a report describes: its number of records and the fingerprint of their content."""

    records: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    format: str
    committed: ReportDigest | None
    input: InputDigest
    run: dict[str, Any] = field(default_factory=dict)
    pending: ReportDigest | None = None
    shard: dict[str, int] | None = None
    committed_at: str = ""

    def matching(self, digest: ReportDigest) -> ReportDigest | None:
        """The entry (committed, or pending mid-commit) these bytes are, or ``None``."""
        return digest if digest in (self.committed, self.pending) else None

    def expected(self) -> ReportDigest | None:
        return self.committed or self.pending

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "version": MANIFEST_VERSION,
            "format": self.format,
            "committed": self.committed.to_dict() if self.committed else None,
            "pending": self.pending.to_dict() if self.pending else None,
            "input": {"records": self.input.records, "sha256": self.input.sha256},
            "run": self.run,
            "committed_at": self.committed_at or datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        if self.shard is not None:
            body["shard"] = self.shard
        return json.dumps(body, indent=1, sort_keys=True) + "\n"


def manifest_location(report: Location) -> Location:
    return report.with_name(report.name + MANIFEST_SUFFIX)


def read_manifest(report: Location) -> Manifest | None:
    """The report's manifest, ``None`` when it has none; ``ManifestError`` when it cannot be read."""
    where = manifest_location(report)
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            raise ValueError(f"not a version {MANIFEST_VERSION} manifest")
        given = data["input"]
        return Manifest(
            format=str(data["format"]),
            committed=ReportDigest.from_dict(data.get("committed")),
            pending=ReportDigest.from_dict(data.get("pending")),
            input=InputDigest(int(given["records"]), str(given["sha256"])),
            run=dict(data.get("run") or {}),
            shard=data.get("shard"),
            committed_at=str(data.get("committed_at", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{where} is not a readable report manifest ({exc})") from None


def write_manifest(report: Location, manifest: Manifest) -> None:
    """Replace the manifest atomically (a reader sees the old one or the new one)."""
    where = manifest_location(report)
    if isinstance(where, Path):
        atomic_write_text(where, manifest.to_json())
    else:
        where.write_text(manifest.to_json(), encoding="utf-8")  # one PUT: object stores replace an object whole
