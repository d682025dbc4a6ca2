"""Sharded reconciliation: shard ``i`` of ``K`` checks records ``i+1, i+1+K, ...``; :func:`merge_reports`
merges the K reports back in input order (docs: "Reconciliation internals", Sharding)."""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow_provider_transfers.reconcile.checkpoint import Checkpoint
from airflow_provider_transfers.reconcile.commit import commit_report
from airflow_provider_transfers.reconcile.fingerprint import EmptyInputError
from airflow_provider_transfers.reconcile.job import RecordSource
from airflow_provider_transfers.reconcile.lock import Holder, hold_report
from airflow_provider_transfers.reconcile.manifest import (
    DigestCounter,
    InputDigest,
    Manifest,
    ManifestError,
    read_manifest,
)
from airflow_provider_transfers.reconcile.records import RawRecord
from airflow_provider_transfers.reconcile.report import Tally, has_rows, read_report, row_text
from airflow_provider_transfers.reconcile.storage import Location, detect_format, to_location


class ShardError(ValueError):
    """Shard arguments or shard reports that do not fit together (no retry can fix them)."""


def check_shard(shard: Any, shards: Any) -> tuple[int, int]:
    """``(shard, shards)`` as ints with ``0 <= shard < shards``; a message naming the argument otherwise."""
    for name, value in (("shards", shards), ("shard", shard)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ShardError(f"{name} must be a whole number; got {value!r}")
    if shards < 1:
        raise ShardError(f"shards must be >= 1; got {shards}")
    if not 0 <= shard < shards:
        raise ShardError(f"shard must be in 0..{shards - 1} (shards={shards}); got {shard}")
    return shard, shards


class ShardReader:
    """The records of one shard, renumbered 1, 2, 3 ... (file lines keep pointing into the input)."""

    def __init__(self, reader: RecordSource, shard: int, shards: int) -> None:
        self.reader = reader
        self.shard, self.shards = check_shard(shard, shards)

    @property
    def whole(self) -> RecordSource:
        """The whole input: a transfer repeated across shards is a duplicate too (checked in one shard)."""
        return self.reader

    def shard_record(self, raw: RawRecord) -> RawRecord | None:
        """Input record ``raw`` numbered as this shard's row; ``None`` when another shard holds it."""
        if (raw.number - 1) % self.shards != self.shard:
            return None
        return RawRecord((raw.number - 1) // self.shards + 1, raw.data, raw.line, raw.parse_error)

    def shard_spec(self) -> dict[str, int] | None:
        return {"shard": self.shard, "shards": self.shards}

    def describe(self) -> str:
        which = f"records {self.shard + 1}, {self.shard + 1 + self.shards}, ..."
        return f"{self.reader.describe()} (shard {self.shard} of {self.shards}: {which})"

    def __iter__(self) -> Iterator[RawRecord]:
        return (mine for raw in self.reader if (mine := self.shard_record(raw)) is not None)


def shard_output(output: Location, shard: int, shards: int) -> Location:
    """Where shard ``shard`` writes: ``report.jsonl`` -> ``report.shard-1-of-4.jsonl`` (same folder)."""
    if shards == 1:
        return output
    suffix = "".join(Path(output.name).suffixes[-1:])
    stem = output.name[: len(output.name) - len(suffix)] if suffix else output.name
    return output.with_name(f"{stem}.shard-{shard}-of-{shards}{suffix}")


def _shard_rows(location: Location, shard: int, shards: int, counter: DigestCounter) -> Iterator[dict[str, Any]]:
    for row in read_report(location, detect_format(location, None, what="report"), counter):
        row["row"] = (row["row"] - 1) * shards + shard + 1  # the input's row
        yield row


def _shard_manifest(location: Location, result: Mapping[str, Any], shard: int, shards: int) -> Manifest:
    """The manifest shard ``shard`` committed with its report, checked against its summary."""
    try:
        manifest = read_manifest(location)
    except ManifestError as exc:
        raise ShardError(f"shard {shard}: {exc}") from None
    committed = manifest.expected() if manifest is not None else None
    if manifest is None or committed is None:
        raise ShardError(
            f"shard {shard}'s report {location} has no manifest ({location.name}.manifest.json, written with "
            "every report this provider commits): rerun that shard"
        )
    if manifest.shard != {"shard": shard, "shards": shards}:
        raise ShardError(f"{location} was not written as shard {shard} of {shards} (its manifest: {manifest.shard})")
    rows = committed.rows
    if rows != int(result.get("total", -1)):
        raise ShardError(
            f"shard {shard}'s report holds {rows} rows by its manifest, but its summary says {result.get('total')}"
        )
    return manifest


def _shard_list(results: Iterable[Mapping[str, Any]]) -> tuple[int, list[Mapping[str, Any]]]:
    found = list(results)
    if not found:
        raise ShardError("no shard results to merge")
    for r in found:
        if not isinstance(r, Mapping) or not {"report", "shard", "shards"} <= set(r):
            raise ShardError(
                "each shard result must be the summary a sharded TransferReconciliationOperator returns "
                f"(with 'report', 'shard', 'shards'); got {r!r}"
            )
    counts = {r["shards"] for r in found}
    if len(counts) != 1:
        raise ShardError(f"shard results disagree on the number of shards: {sorted(counts)}")
    shards = counts.pop()
    have = sorted(r["shard"] for r in found)
    if have != list(range(shards)):
        raise ShardError(f"expected the reports of shards 0..{shards - 1} once each; got shards {have}")
    return shards, sorted(found, key=lambda r: r["shard"])


def merge_reports(
    results: Iterable[Mapping[str, Any]],
    output: Location,
    report_format: str | None = None,
    *,
    holder: Holder | None = None,
    lock_timeout: timedelta | None = None,
    allow_empty: bool = False,
) -> dict[str, Any]:
    """Merge the shards' reports (their summaries, as XCom holds them) into ``output``; return the summary
    of a single run (``resumed`` summed). Each report must match its manifest, all must describe one input."""
    shards, ordered = _shard_list(results)
    fmt = detect_format(output, report_format, what="report")
    locations = [to_location(r["report"]) for r in ordered]
    holder = holder or Holder.current()
    with hold_report(output, holder, lock_timeout) as lock:
        manifests = [
            _shard_manifest(loc, r, i, shards) for i, (loc, r) in enumerate(zip(locations, ordered, strict=True))
        ]
        inputs = {m.input for m in manifests}
        if len(inputs) != 1:
            raise ShardError(
                "the shard reports describe different inputs (the records changed between shards): "
                + "; ".join(
                    f"shard {i}: {m.input.records} records, {m.input.sha256[:12]}" for i, m in enumerate(manifests)
                )
                + ". Rerun the shards on a complete input"
            )
        source = inputs.pop()
        if source.records == 0 and not allow_empty and has_rows(output, fmt):
            raise EmptyInputError("the shards' input", str(output))
        digest = hashlib.sha256("|".join(str(x) for x in locations).encode()).hexdigest()
        checkpoint = Checkpoint(output, fmt, f"merge:{digest}")
        checkpoint.start()
        try:
            tally = _merge_rows(checkpoint, locations, manifests, shards, fmt)
            expected = sum(int(r.get("total", 0)) for r in ordered)
            if tally.rows != expected:
                raise ShardError(f"the shard reports hold {tally.rows} rows but their summaries say {expected}")
            manifest = Manifest(
                format=fmt, committed=None, input=InputDigest(source.records, source.sha256), run=holder.to_dict()
            )
            commit_report(checkpoint.partial, output, tally.rows, manifest, lock)
        finally:
            checkpoint.discard()
    modes = {str((r.get("actions") or {}).get("mode", "off")) for r in ordered}
    mode = modes.pop() if len(modes) == 1 else "mixed"
    return tally.summary(str(output), mode, sum(int(r.get("resumed", 0)) for r in ordered))


def _merge_rows(
    checkpoint: Checkpoint, locations: list[Location], manifests: list[Manifest], shards: int, fmt: str
) -> Tally:
    """The shards' rows in input order into the checkpoint; each shard's bytes checked against its manifest."""
    tally = Tally()
    counters = [DigestCounter() for _ in locations]
    streams = [_shard_rows(loc, i, shards, counters[i]) for i, loc in enumerate(locations)]
    with checkpoint.append() as fh:
        for row in heapq.merge(*streams, key=lambda r: r["row"]):
            if row["row"] != tally.rows + 1:
                raise ShardError(
                    f"the shard reports do not add up to one report: row {tally.rows + 1} is missing "
                    f"(next is {row['row']}); are they all from the same input and run?"
                )
            fh.write(row_text(row, fmt))
            tally.add(row["class"], row["action"])
    for i, (counter, manifest, location) in enumerate(zip(counters, manifests, locations, strict=True)):
        expected = manifest.expected()
        if expected is None or manifest.matching(counter.result(expected.rows)) is None:
            raise ShardError(
                f"shard {i}'s report {location} is not the report it committed (its bytes differ from its "
                "manifest): edited or replaced since? Rerun that shard"
            )
    return tally
