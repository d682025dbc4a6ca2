"""The input a report describes: a digest of every record read by the first pass (8 bytes each, in a
temporary file), checked by the second pass.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from typing import IO

from airflow_provider_transfers.exceptions import TransferProviderError
from airflow_provider_transfers.reconcile.records import RawRecord

RECORD_DIGEST_BYTES = 8


class InputChangedError(TransferProviderError):
    """The records changed between the two passes (rewritten, truncated, emptied): nothing was committed."""

    def __init__(self, source: str, what: str) -> None:
        super().__init__(
            f"The records in {source} changed while this run read them: {what}. Nothing was committed and the "
            "previous report, if any, is intact. Rerun once the input is complete and no longer being written "
            "(a retry reads it again)."
        )


class EmptyInputError(TransferProviderError):
    """An input without records would replace a report that has rows."""

    def __init__(self, source: str, report: str) -> None:
        super().__init__(
            f"{source} holds no records, and report {report} already has rows: an empty input does not replace "
            "a report unless allowed. If the input is really empty, pass allow_empty=True; otherwise rerun once "
            "it is written (a retry reads it again)."
        )


def canonical(raw: RawRecord) -> bytes:
    """A record's number and content as bytes (what both the input fingerprint and its digests cover)."""
    body = raw.parse_error if raw.parse_error is not None else raw.data
    return json.dumps([raw.number, body], sort_keys=True, default=str, separators=(",", ":")).encode() + b"\n"


def record_digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=RECORD_DIGEST_BYTES).digest()


class RecordDigests:
    """Digests of the records in input order: ``add`` them in the first pass; then ``verifier()`` rewinds,
    and ``check`` each record of the second pass against the digest at the same position, ``finish`` at its end.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.count = 0
        self.seen = 0
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="transfers-input-")  # noqa: SIM115 (close())

    def add(self, data: bytes) -> None:
        self._file.write(record_digest(data))
        self.count += 1

    def verifier(self) -> RecordDigests:
        self._file.flush()
        self._file.seek(0)
        return self

    def check(self, raw: RawRecord, data: bytes) -> None:
        self.seen += 1
        expected = self._file.read(RECORD_DIGEST_BYTES)
        if not expected:
            what = f"{raw.where} was not there when the first pass read {self.count} record(s)"
            raise InputChangedError(self.source, what)
        if expected != record_digest(data):
            what = f"{raw.where} is not what the first pass read there (rewritten, reordered or truncated mid-run?)"
            raise InputChangedError(self.source, what)

    def finish(self) -> None:
        if self.seen != self.count:
            what = f"it now ends after {self.seen} record(s), but the first pass read {self.count}"
            raise InputChangedError(self.source, what)

    def close(self) -> None:
        self._file.close()
