"""A set of row numbers in one bit per row: which rows a checkpoint or a report holds, without the rows."""

from __future__ import annotations

from collections.abc import Iterator

GROWTH_SLACK = 1 << 16
"""Without a known total the bitmap grows to at most ``4 x rows added + GROWTH_SLACK`` bits; a row beyond
(a corrupt cell such as ``10**12``) goes to a small side set."""


class RowSet:
    """Row numbers ``>= 1``; ``add`` says whether the row was new. ``total`` fixes the range when known."""

    def __init__(self, total: int | None = None) -> None:
        self.total = total
        self._bits = bytearray((total + 7) // 8 if total else 0)
        self._far: set[int] = set()
        self.count = 0

    def __contains__(self, row: int) -> bool:
        index = row - 1
        if 0 <= index < len(self._bits) * 8:
            return bool(self._bits[index >> 3] & (1 << (index & 7)))
        return row in self._far

    def in_range(self, row: int) -> bool:
        return row >= 1 and (self.total is None or row <= self.total)

    def add(self, row: int) -> bool:
        """Record ``row`` (which must be ``in_range``); ``False`` if it was already there."""
        if row in self:
            return False
        self.count += 1
        index = row - 1
        if index >= len(self._bits) * 8 and self.total is None:
            wanted = index // 8 + 1
            if wanted * 8 <= 4 * self.count + GROWTH_SLACK:
                self._bits.extend(bytes(max(wanted - len(self._bits), len(self._bits))))
        if index < len(self._bits) * 8:
            self._bits[index >> 3] |= 1 << (index & 7)
        else:
            self._far.add(row)
        return True

    def missing(self, total: int) -> Iterator[tuple[int, int]]:
        """The rows of ``1..total`` not in the set, as inclusive ranges ``(first, last)``, in order."""
        start: int | None = None
        row = 1
        while row <= total:
            index = row - 1
            if not self._far and index >= len(self._bits) * 8:
                yield (row if start is None else start), total  # nothing recorded beyond the bitmap
                return
            byte = self._bits[index >> 3] if index >> 3 < len(self._bits) else None
            whole = index & 7 == 0 and row + 7 <= total and (byte == 0xFF or (byte == 0 and not self._far))
            present = row in self if not whole else byte == 0xFF
            if present and start is not None:
                yield start, row - 1
                start = None
            elif not present and start is None:
                start = row
            row += 8 if whole else 1
        if start is not None:
            yield start, total
