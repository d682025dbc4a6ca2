"""What every way of running the sandbox offers a client: URLs, the control client, connection env vars."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self

from airflow_provider_transfers.sandbox.config import SandboxConfig
from airflow_provider_transfers.sandbox.control import SandboxControl
from airflow_provider_transfers.sandbox.credentials import SandboxCredentials, connection_env

URL_ENV = "TRANSFER_SANDBOX_URL"


class SandboxHandle(abc.ABC):
    """A running (or startable) sandbox. Subclasses say how it runs: ``start()`` sets ``url`` and ``_control``."""

    def __init__(self, config: SandboxConfig | None, credentials: SandboxCredentials | None) -> None:
        self.config = config or SandboxConfig()
        self.config.check()
        self.credentials = credentials or SandboxCredentials()
        self._control: SandboxControl | None = None
        self.url = ""

    @abc.abstractmethod
    def start(self) -> Self: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @property
    def twilio_url(self) -> str:
        """Host of a ``twilio_flex`` connection."""
        return self.url

    @property
    def voipbin_url(self) -> str:
        """Host of a ``voipbin`` connection (``POST /auth/login`` sits beside it, at ``{url}/auth/login``)."""
        return f"{self.url}/v1.0"

    @property
    def control(self) -> SandboxControl:
        if self._control is None:
            raise RuntimeError("the sandbox is not running; call start() or use it as a context manager")
        return self._control

    def connection_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_TWILIO_FLEX_DEFAULT`` and ``AIRFLOW_CONN_VOIPBIN_DEFAULT`` for this sandbox."""
        return connection_env(self.url, self.credentials)

    def environ(self) -> dict[str, str]:
        """:meth:`connection_env` plus ``TRANSFER_SANDBOX_URL``."""
        return {**self.connection_env(), URL_ENV: self.url}

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
