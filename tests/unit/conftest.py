from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook
from tests.factories import twilio_connection


@pytest.fixture
def make_twilio_hook() -> Callable[..., TwilioFlexHook]:
    """A hook with a given connection and fast retries (no real sleeping)."""

    def _make(conn: Connection | None = None, **policy: Any) -> TwilioFlexHook:
        merged = {"backoff_initial": 0.0, "backoff_max": 0.01, "rate_limit": 0, **policy}
        hook = TwilioFlexHook(connection=conn or twilio_connection(), policy=merged)
        return hook

    return _make
