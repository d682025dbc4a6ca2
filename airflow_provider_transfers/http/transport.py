"""A connection pool split into shards for many concurrent requests from one event loop: httpcore's pool costs
O(open connections) per request, several small pools keep that cost flat (docs/design.md)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable

import httpx


class _ReleasingStream(httpx.AsyncByteStream):
    """The response body; closing it frees the request's place in its shard."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._release()
            self._release = lambda: None  # once


class ShardedAsyncTransport(httpx.AsyncBaseTransport):
    """``max_connections`` over pools of at most ``per_shard`` connections; each request through the least busy."""

    def __init__(self, max_connections: int, per_shard: int = 8) -> None:
        if max_connections < 1 or per_shard < 1:
            raise ValueError("max_connections and per_shard must be >= 1")
        count = math.ceil(max_connections / per_shard)
        size = math.ceil(max_connections / count)
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self._shards = [httpx.AsyncHTTPTransport(limits=limits) for _ in range(count)]
        self._busy = [0] * count

    @property
    def shards(self) -> int:
        return len(self._shards)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._shards)), key=self._busy.__getitem__)
        self._busy[index] += 1

        def release() -> None:
            self._busy[index] -= 1

        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _ReleasingStream(response.stream, release)  # as httpx's own client wraps it
        return response

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()
