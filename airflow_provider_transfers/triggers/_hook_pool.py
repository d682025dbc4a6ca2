"""One hook per connection per event loop, shared by every trigger waiting in that loop.

A triggerer runs hundreds of deferred sensors in one event loop. Giving each its own hook would mean
one httpx client each (about 0.8 MB and 25 ms of blocking SSL set-up per client), one connection
pool each, and one client-side rate limiter each, so N triggers would send N times the platform's
rate limit. Sharing one hook per ``(loop, conn_id, policy)`` keeps one pool, one limiter per account
and one bound on checks in flight: ``MAX_CHECKS_IN_FLIGHT`` (or the policy's ``max_connections`` when
lower). More would not help: the platforms allow 20 (Twilio) and 16.7 (VoIPbin) requests/s, which 10
checks in flight sustain at up to 0.5 s per request; and httpcore's pool costs O(open connections)
per request, so 100 connections made a 1,000-trigger benchmark CPU-bound on the client.

Leases are counted; the hook is closed when the last lease ends. An entry older than ``max_age``
is not handed out again (a rotated password is picked up), and closes once its own leases end.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from airflow_provider_transfers.hooks.base import TransferHook
from airflow_provider_transfers.hooks.registry import aget_transfer_hook
from airflow_provider_transfers.http.ratelimit import RateLimiter
from airflow_provider_transfers.http.shared import SharedBucket
from airflow_provider_transfers.waiting.budget import Demand, PollBudget, Tally

_PoolKey = tuple[str, str]
MAX_CHECKS_IN_FLIGHT = 10


@dataclass
class SharedHook:
    hook: TransferHook
    semaphore: asyncio.Semaphore
    """Bounds the checks in flight over all triggers using this hook."""
    created: float
    budget: PollBudget
    """Round-robin turns for the checks of every trigger on this connection, within its rate limit."""
    leases: int = 0
    retired: bool = False


def _check_rate(limiter: RateLimiter | None, bucket: str) -> Callable[[], float | None]:
    """The current rate of the bucket status checks draw from: adaptive (lowered after a 429) when on."""
    if limiter is None:
        return lambda: None
    return lambda: limiter.local_bucket(bucket).current_rate


def _check_tally(limiter: RateLimiter | None, bucket: str) -> Tally | None:
    """With a shared limit (Redis), the tally of every process's poll demand on the account; else none."""
    found = limiter.bucket(bucket) if limiter is not None else None
    if not isinstance(found, SharedBucket):
        return None
    shared = found

    async def tally(own: Demand) -> list[Demand]:
        return [Demand(members, queued) for members, queued in await shared.atally(own.members, own.queued)]

    return tally


class HookPool:
    def __init__(self, max_age: float = 300.0, max_in_flight: int = MAX_CHECKS_IN_FLIGHT) -> None:
        self.max_age = max_age
        self.max_in_flight = max_in_flight
        self._entries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_PoolKey, SharedHook]] = (
            weakref.WeakKeyDictionary()
        )
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_PoolKey, asyncio.Lock]] = (
            weakref.WeakKeyDictionary()
        )

    @asynccontextmanager
    async def lease(self, conn_id: str, policy: Mapping[str, Any] | None = None) -> AsyncIterator[SharedHook]:
        """The shared hook for ``conn_id``: connection loaded with ``aget_connection``, client ready."""
        loop = asyncio.get_running_loop()
        key = (conn_id, json.dumps(dict(policy or {}), sort_keys=True))
        lock = self._locks.setdefault(loop, {}).setdefault(key, asyncio.Lock())
        async with lock:
            entries = self._entries.setdefault(loop, {})
            entry = entries.get(key)
            if entry is not None and time.monotonic() - entry.created > self.max_age:
                entry.retired = True
                del entries[key]
                if entry.leases == 0:
                    await entry.hook.aclose()
                entry = None
            if entry is None:
                hook = await aget_transfer_hook(conn_id, policy=dict(policy or {}))
                api = await hook.aget_conn()
                in_flight = min(api.policy.max_connections, self.max_in_flight)
                budget = PollBudget(
                    _check_rate(api.limiter, hook.check_bucket), tally=_check_tally(api.limiter, hook.check_bucket)
                )
                entry = SharedHook(hook, asyncio.Semaphore(in_flight), time.monotonic(), budget)
                entries[key] = entry
            entry.leases += 1
        try:
            yield entry
        finally:
            entry.leases -= 1
            if entry.leases == 0:
                if not entry.retired and self._entries.get(loop, {}).get(key) is entry:
                    del self._entries[loop][key]
                try:
                    await entry.budget.aclose()
                finally:
                    await entry.hook.aclose()

    def active(self) -> int:
        """Hooks currently leased in the running loop (for tests and benchmarks)."""
        return len(self._entries.get(asyncio.get_running_loop(), {}))


HOOKS = HookPool()
