"""The sandbox's whole mutable state, owned by the server's event loop (no locks needed: only
coroutines on that loop touch it, and none of them awaits in the middle of a state change).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_transfers.sandbox.clock import SandboxClock
from airflow_provider_transfers.sandbox.config import PLATFORMS, SandboxConfig
from airflow_provider_transfers.sandbox.credentials import SandboxCredentials
from airflow_provider_transfers.sandbox.faults import FaultInjector
from airflow_provider_transfers.sandbox.ids import IdFactory
from airflow_provider_transfers.sandbox.lifecycle import OutcomePlanner
from airflow_provider_transfers.sandbox.ratelimit import RateLimiter
from airflow_provider_transfers.sandbox.scheduler import Scheduler
from airflow_provider_transfers.sandbox.spec_validation import ALLOWED_DEVIATIONS, LEGACY_DEVIATIONS, SpecValidator
from airflow_provider_transfers.sandbox.stats import Stats
from airflow_provider_transfers.sandbox.twilio_state import TwilioStore
from airflow_provider_transfers.sandbox.voipbin_state import VoipbinStore

MAX_VIOLATIONS = 1000


class Drift:
    """Deliberate contract deviations (``POST /_sandbox/drift``) applied to successful JSON objects.

    Lets users check how their client copes with a platform changing shape, and proves that response
    validation is not a no-op.
    """

    def __init__(self) -> None:
        self.set: dict[str, dict[str, Any]] = {p: {} for p in PLATFORMS}
        self.remove: dict[str, list[str]] = {p: [] for p in PLATFORMS}

    def active(self, platform: str) -> bool:
        return bool(self.set[platform] or self.remove[platform])

    def apply(self, platform: str, body: Any) -> Any:
        if isinstance(body, dict) and isinstance(body.get("result"), list):
            return {**body, "result": [self.apply(platform, item) for item in body["result"]]}
        if not isinstance(body, dict):
            return body
        out = {k: v for k, v in body.items() if k not in self.remove[platform]}
        out.update(self.set[platform])
        return out


class SandboxState:
    def __init__(self, config: SandboxConfig, credentials: SandboxCredentials) -> None:
        config.check()
        self.initial_config = config.copy()
        self.credentials = credentials
        self.clock = SandboxClock()
        self.limiter = RateLimiter()
        self.stats = Stats()
        self.violations: list[dict[str, Any]] = []
        self._validators: dict[str, SpecValidator] = {}
        self.reset()

    def reset(self, keep_config: bool = False) -> None:
        """Forget every resource, counter and violation; restore the startup settings unless told not to."""
        if not keep_config:
            self.config = self.initial_config.copy()
        seed = self.config.seed
        self.clock.reset()
        self.scheduler = Scheduler()
        self.ids = IdFactory(seed)
        self.planner = OutcomePlanner(seed)
        self.faults = FaultInjector(seed)
        self.limiter.reset()
        self.stats.reset()
        self.violations.clear()
        self.drift = Drift()
        self.twilio = TwilioStore(self.config, self.clock, self.scheduler, self.ids, self.planner)
        self.voipbin = VoipbinStore(self.config, self.clock, self.scheduler, self.ids, self.planner)

    def set_config(self, config: SandboxConfig) -> None:
        """Switch settings at runtime (``seed`` takes effect at the next reset)."""
        if config.validate_responses:
            self._validator_for(config)
        self.config = config
        self.twilio.config = config
        self.voipbin.set_config(config)

    @property
    def validator(self) -> SpecValidator | None:
        if not self.config.validate_responses:
            return None
        return self._validator_for(self.config)

    def _validator_for(self, config: SandboxConfig) -> SpecValidator:
        assert config.spec_dir is not None
        key = f"{config.spec_dir}|{config.voipbin_wire}"
        validator = self._validators.get(key)
        if validator is None:
            allowed = ALLOWED_DEVIATIONS + (LEGACY_DEVIATIONS if config.voipbin_wire == "legacy" else ())
            validator = self._validators[key] = SpecValidator(config.spec_dir, allowed)
        return validator

    def advance(self) -> int:
        """Apply every lifecycle event due by now; returns now (sandbox microseconds)."""
        now = self.clock.now_us()
        self.scheduler.run_due(now)
        return now

    def record_violations(self, findings: list[dict[str, Any]]) -> None:
        room = MAX_VIOLATIONS - len(self.violations)
        if room > 0:
            self.violations.extend(findings[:room])
