"""Seeded outcome plans: when a transfer resolves and whether it succeeds."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from airflow_provider_transfers.sandbox.clock import seconds_to_us
from airflow_provider_transfers.sandbox.config import SandboxConfig

T = TypeVar("T")

COMPLETED = "completed"
FAILED = "failed"
OUTCOMES = (COMPLETED, FAILED)


@dataclass(frozen=True)
class Plan:
    delay_us: int
    success: bool


class OutcomePlanner:
    """Draws per-transfer delays and outcomes from ``random.Random(seed)`` so a run repeats."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"lifecycle-{seed}")

    def plan(self, config: SandboxConfig, outcome: str | None = None, delay_s: float | None = None) -> Plan:
        delay = (
            delay_s
            if delay_s is not None
            else self._rng.uniform(config.transfer_delay_min_s, config.transfer_delay_max_s)
        )
        success = outcome == COMPLETED if outcome is not None else self._rng.random() < config.success_rate
        return Plan(delay_us=seconds_to_us(delay), success=success)

    def choice(self, items: Sequence[T]) -> T:
        return self._rng.choice(items)

    def chance(self, probability: float) -> bool:
        return self._rng.random() < probability
