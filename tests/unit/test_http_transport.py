"""``ShardedAsyncTransport``: requests spread over small pools, every slot released after the body."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from airflow_provider_transfers.http.transport import ShardedAsyncTransport


def test_shard_sizes() -> None:
    assert ShardedAsyncTransport(50, per_shard=8).shards == 7
    assert ShardedAsyncTransport(3, per_shard=8).shards == 1
    with pytest.raises(ValueError, match=">= 1"):
        ShardedAsyncTransport(0)


def test_requests_spread_over_the_shards_and_release_their_slots(transfer_sandbox: Any) -> None:
    transfer_sandbox.control.configure(latency_ms=30, rate_limit=False)
    transport = ShardedAsyncTransport(12, per_shard=4)
    samples: list[list[int]] = []

    async def main() -> list[int]:
        async with httpx.AsyncClient(base_url=transfer_sandbox.url, transport=transport) as client:
            calls = asyncio.gather(*(client.get("/v1/Configuration") for _ in range(36)))
            while not calls.done():
                samples.append(list(transport._busy))
                await asyncio.sleep(0.005)
            return [r.status_code for r in await calls]

    assert asyncio.run(main()) == [401] * 36  # delayed like any platform request, then refused: no credentials
    busiest = max(samples, key=sum)
    assert sum(busiest) == 36 and max(busiest) - min(busiest) <= 1
    assert transport._busy == [0, 0, 0]
