"""The Starlette application serving both platforms and the control API from one origin.

Twilio Flex lives at ``/v1/...``, VoIPbin at ``/v1.0/...`` (plus ``/auth/login``), the control API at
``/_sandbox/...``: the prefixes do not clash.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from airflow_provider_transfers.sandbox import control_api, twilio_api, voipbin_api
from airflow_provider_transfers.sandbox.config import SandboxConfig
from airflow_provider_transfers.sandbox.credentials import SandboxCredentials
from airflow_provider_transfers.sandbox.faults import TransportCapture
from airflow_provider_transfers.sandbox.state import SandboxState


def create_app(config: SandboxConfig | None = None, credentials: SandboxCredentials | None = None) -> Any:
    """An ASGI app; its :class:`SandboxState` is at ``app.state.sandbox`` of the inner Starlette app."""
    starlette = Starlette(routes=[*twilio_api.routes(), *voipbin_api.routes(), *control_api.routes()])
    starlette.state.sandbox = SandboxState(config or SandboxConfig(), credentials or SandboxCredentials())
    return TransportCapture(starlette)
