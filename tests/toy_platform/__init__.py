"""A toy third transfer platform: one hook module (``hook.py``), a tiny HTTP server (``server.py``), and the
provider info that registers it with Airflow (``get_provider_info``), exactly as a real provider package does.

It keeps the promise honest: a platform is one ``TransferHook`` subclass plus one ``connection-types`` entry;
the sensor, the trigger and reconciliation then work on it unchanged.
"""

from __future__ import annotations

from typing import Any

PACKAGE = "toy-transfers-provider"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": PACKAGE,
        "name": "Toy transfers",
        "description": "A third transfer platform, for tests.",
        "connection-types": [{"connection-type": "toy", "hook-class-name": "tests.toy_platform.hook.ToyHook"}],
    }
