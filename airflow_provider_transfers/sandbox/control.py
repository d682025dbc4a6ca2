"""A small synchronous client for the ``/_sandbox/`` control API."""

from __future__ import annotations

from typing import Any, Self

import httpx

_SUFFIXES = ("/_sandbox", "/v1.0")


class SandboxControl:
    """``SandboxControl(base_url)`` for the sandbox at ``base_url`` (``http://127.0.0.1:PORT``); from a shell
    or another process, :meth:`from_url` also takes the URL a connection uses and checks that a sandbox answers."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=f"{self.base_url}/_sandbox", timeout=timeout)

    @classmethod
    def from_url(cls, url: str, timeout: float = 30.0) -> Self:
        """The control client of the sandbox serving ``url`` (its base URL, or its ``/v1.0`` or ``/_sandbox``
        URL, e.g. ``$TRANSFER_SANDBOX_URL``); raises ``RuntimeError`` naming the URL when no sandbox answers."""
        base = url.strip().rstrip("/")
        for suffix in _SUFFIXES:
            base = base.removesuffix(suffix)
        control = cls(base, timeout)
        try:
            health = control.health()
        except (httpx.HTTPError, RuntimeError, ValueError) as exc:
            control.close()
            raise RuntimeError(f"no transfer sandbox answers at {base} ({type(exc).__name__}: {exc})") from None
        if health.get("status") != "ok":
            control.close()
            raise RuntimeError(f"{base} answered /_sandbox/health without status 'ok': {health}")
        return control

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

    def create_voipbin_call(
        self, status: str = "progressing", *, customer_id: str | None = None, master: str = "customer"
    ) -> dict[str, Any]:
        """A transferer (agent) call in a conference with a customer's call, as ``GET /v1.0/calls/{id}`` would
        render it. ``master="agent"``: the customer's call is chained to the agent's (hanging the agent up hangs
        the customer up); ``customer_id``: another customer's call (it answers 403 to the sandbox's keys)."""
        body = {"status": status, "customer_id": customer_id, "master": master}
        result: dict[str, Any] = self._call("POST", "/voipbin/calls", body)
        return result

    def delete_voipbin_call(self, call_id: str) -> dict[str, Any]:
        """Delete a call as ``DELETE /v1.0/calls/{id}`` does: later requests on it answer 409."""
        result: dict[str, Any] = self._call("POST", f"/voipbin/calls/{call_id}/delete")
        return result

    def seed(
        self,
        platform: str,
        count: int = 1,
        transfer_type: str | None = None,
        outcome: str | None = None,
        delay_s: float | None = None,
        auto_complete_after: float | None = None,
        **voipbin: Any,
    ) -> list[dict[str, Any]]:
        """Create ``count`` transfers directly, each as the create endpoint returns it. VoIPbin also takes
        ``customer_id``, ``master`` (see :meth:`create_voipbin_call`) and ``addresses`` (transferee addresses)."""
        body = {
            "platform": platform,
            "count": count,
            "transfer_type": transfer_type,
            "outcome": outcome,
            "delay_s": delay_s,
            "auto_complete_after": auto_complete_after,
            **voipbin,
        }
        result: list[dict[str, Any]] = self._call("POST", "/seed", body)["transfers"]
        return result

    def set_outcome(self, transfer_id: str, outcome: str, delay_s: float = 0) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/transfers/{transfer_id}/outcome", {"outcome": outcome, "delay_s": delay_s}
        )
        return result

    def voipbin_event(self, transfer_id: str, event: str, address: int | None = None) -> dict[str, Any]:
        """VoIPbin: ``answer`` (of ``transferee_addresses[address]`` when given), ``no_answer``,
        ``transferee_hangup``, ``transferer_hangup``, ``caller_hangup`` or ``cancel`` now; returns the
        transfer's ground truth afterwards."""
        body: dict[str, Any] = {"event": event} if address is None else {"event": event, "address": address}
        result: dict[str, Any] = self._call("POST", f"/transfers/{transfer_id}/events", body)
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
