"""Records that repeat the transfer of an earlier record, found in two passes with bounded memory
(a growing Bloom filter of ids, then the first row of each candidate id; docs: Reconciliation internals)."""

from __future__ import annotations

import hashlib
import math

FIRST_CAPACITY = 1 << 14
FALSE_ALARM_RATE = 0.001
"""Of the first filter; each further filter (twice as large) halves it, so the total stays under 0.2%."""


class _Bloom:
    def __init__(self, capacity: int, error: float) -> None:
        bits = 1 << max(10, math.ceil(math.log2(-capacity * math.log(error) / math.log(2) ** 2)))
        self.mask = bits - 1
        self.hashes = max(1, round(bits / capacity * math.log(2)))
        self.bits = bytearray(bits // 8)
        self.capacity = capacity
        self.count = 0

    def positions(self, low: int, high: int) -> list[int]:
        return [(low + i * high) & self.mask for i in range(self.hashes)]

    def __contains__(self, hashed: tuple[int, int]) -> bool:
        return all(self.bits[p >> 3] & (1 << (p & 7)) for p in self.positions(*hashed))

    def add(self, hashed: tuple[int, int]) -> None:
        for p in self.positions(*hashed):
            self.bits[p >> 3] |= 1 << (p & 7)
        self.count += 1


class Duplicates:
    """``seen(id)`` for every record of the first pass; ``first_row(id, row)`` for every record of the second."""

    def __init__(self) -> None:
        self._filters = [_Bloom(FIRST_CAPACITY, FALSE_ALARM_RATE)]
        self._candidates: set[str] = set()
        self._first: dict[str, int] = {}

    def seen(self, transfer_id: str) -> None:
        key = transfer_id.lower()
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        hashed = (int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little") | 1)
        if any(hashed in f for f in self._filters):
            self._candidates.add(key)
            return
        current = self._filters[-1]
        if current.count >= current.capacity:
            current = _Bloom(current.capacity * 2, FALSE_ALARM_RATE / 2 ** len(self._filters))
            self._filters.append(current)
        current.add(hashed)

    @property
    def possible(self) -> bool:
        """Whether any id may repeat (else the second pass need not look at ids at all)."""
        return bool(self._candidates)

    def first_row(self, transfer_id: str, row: int) -> int | None:
        """The row of this transfer's first record when ``row`` (in input order) repeats it; ids ignore case."""
        key = transfer_id.lower()
        if key not in self._candidates:
            return None
        first = self._first.setdefault(key, row)
        return first if first != row else None
