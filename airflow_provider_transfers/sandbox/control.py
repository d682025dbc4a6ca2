"""A small synchronous client for the ``/_sandbox/`` control API."""

from __future__ import annotations

from typing import Any

import httpx


class SandboxControl:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=f"{self.base_url}/_sandbox", timeout=timeout)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._client.request(method, path, json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"sandbox control {method} {path} -> {response.status_code}: {response.text}")
        return response.json()

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def reset(self, keep_config: bool = False) -> None:
        self._call("POST", "/reset", {"keep_config": keep_config})

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/config")
        return result

    def configure(self, **changes: Any) -> dict[str, Any]:
        """E.g. ``configure(latency_ms=50, faults="500=0.1", rate_limit=False, retry_after=False)``."""
        result: dict[str, Any] = self._call("POST", "/config", changes)
        return result

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/clock/advance", {"seconds": seconds})
        return result

    def create_twilio_interaction(self, channel_type: str = "voice") -> dict[str, Any]:
        """Returns ``interaction_sid``, ``channel_sid``, ``account_sid`` and ``transfers_url``."""
        result: dict[str, Any] = self._call("POST", "/twilio/interactions", {"channel_type": channel_type})
        return result

    def create_voipbin_call(self, status: str = "progressing") -> dict[str, Any]:
        """A transferer call, as ``GET /v1.0/calls/{id}`` would render it."""
        result: dict[str, Any] = self._call("POST", "/voipbin/calls", {"status": status})
        return result

    def seed(
        self,
        platform: str,
        count: int = 1,
        transfer_type: str | None = None,
        outcome: str | None = None,
        delay_s: float | None = None,
        auto_complete_after: float | None = None,
    ) -> list[dict[str, Any]]:
        body = {
            "platform": platform,
            "count": count,
            "transfer_type": transfer_type,
            "outcome": outcome,
            "delay_s": delay_s,
            "auto_complete_after": auto_complete_after,
        }
        result: list[dict[str, Any]] = self._call("POST", "/seed", body)["transfers"]
        return result

    def set_outcome(self, transfer_id: str, outcome: str, delay_s: float = 0) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/transfers/{transfer_id}/outcome", {"outcome": outcome, "delay_s": delay_s}
        )
        return result

    def voipbin_event(self, transfer_id: str, event: str) -> dict[str, Any]:
        """VoIPbin: ``answer``, ``no_answer``, ``transferee_hangup``, ``transferer_hangup`` or ``cancel``
        now; returns the transfer's ground truth afterwards."""
        result: dict[str, Any] = self._call("POST", f"/transfers/{transfer_id}/events", {"event": event})
        return result

    def transfer(self, transfer_id: str) -> dict[str, Any]:
        """Ground truth: ``status`` (true/derived), ``last_request_body`` and related resources."""
        result: dict[str, Any] = self._call("GET", f"/transfers/{transfer_id}")
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/stats")
        return result

    def violations(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/violations")["violations"]
        return result

    def clear_violations(self) -> int:
        result: int = self._call("DELETE", "/violations")["cleared"]
        return result

    def drift(
        self, platform: str | None = None, set_fields: dict[str, Any] | None = None, remove: list[str] | None = None
    ) -> None:
        """Make ``platform``'s successful JSON responses deviate from the contract; no platform clears it."""
        body = {} if platform is None else {"platform": platform, "set": set_fields or {}, "remove": remove or []}
        self._call("POST", "/drift", body)

    def close(self) -> None:
        self._client.close()
