"""Request counters per platform, endpoint and outcome (HTTP status, or ``reset`` for dropped connections)."""

from __future__ import annotations

from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._faults: Counter[str] = Counter()

    def record(self, platform: str, endpoint: str, outcome: str) -> None:
        self._counts[(platform, endpoint, outcome)] += 1

    def record_fault(self, kind: str) -> None:
        self._faults[kind] += 1

    def reset(self) -> None:
        self._counts.clear()
        self._faults.clear()

    def snapshot(self) -> dict[str, Any]:
        platforms: dict[str, dict[str, Any]] = {}
        for (platform, endpoint, outcome), count in sorted(self._counts.items()):
            entry = platforms.setdefault(platform, {"total": 0, "rate_limited": 0, "by_status": {}, "endpoints": {}})
            entry["total"] += count
            if outcome == "429":
                entry["rate_limited"] += count
            entry["by_status"][outcome] = entry["by_status"].get(outcome, 0) + count
            entry["endpoints"].setdefault(endpoint, {})[outcome] = count
        return {
            "total": sum(self._counts.values()),
            "platforms": platforms,
            "faults": dict(self._faults),
        }
