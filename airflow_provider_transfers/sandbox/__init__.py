"""Offline emulator of the Twilio Flex and VoIPbin transfer APIs (in the spirit of moto for AWS).

``python -m airflow_provider_transfers.sandbox`` serves it; :class:`TransferSandbox` runs it in a
background thread; the pytest plugin provides the ``transfer_sandbox`` fixture. Importing this package
is light: the server modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_transfers.sandbox.config import SandboxConfig
    from airflow_provider_transfers.sandbox.control import SandboxControl
    from airflow_provider_transfers.sandbox.credentials import SandboxCredentials
    from airflow_provider_transfers.sandbox.process import SandboxProcess
    from airflow_provider_transfers.sandbox.server import TransferSandbox, serve_forever

__all__ = [
    "SandboxConfig",
    "SandboxControl",
    "SandboxCredentials",
    "SandboxProcess",
    "TransferSandbox",
    "serve_forever",
]

_HOMES = {
    "SandboxConfig": "config",
    "SandboxControl": "control",
    "SandboxCredentials": "credentials",
    "SandboxProcess": "process",
    "TransferSandbox": "server",
    "serve_forever": "server",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(name)
