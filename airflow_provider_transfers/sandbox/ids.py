"""Identifiers: Twilio SIDs (two-letter prefix + 32 lowercase hex) and VoIPbin UUIDs, seeded."""

from __future__ import annotations

import random
import uuid

NIL_UUID = "00000000-0000-0000-0000-000000000000"


class IdFactory:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"ids-{seed}")

    def sid(self, prefix: str) -> str:
        return f"{prefix}{self._rng.getrandbits(128):032x}"

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


def is_sid(value: str, prefix: str) -> bool:
    if len(value) != 34 or not value.startswith(prefix):
        return False
    try:
        int(value[2:], 16)
    except ValueError:
        return False
    return True


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36
