"""What a platform handler returns: status + JSON body (validated before it is serialised)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

EMPTY: Any = object()
"""Body marker for an empty response (distinct from a JSON ``null``)."""


@dataclass
class Reply:
    status: int
    body: Any = EMPTY
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    """Pre-encoded body (faults); bypasses JSON encoding and validation."""
    media_type: str = "application/json"

    def to_response(self) -> Response:
        if self.raw is not None:
            content = self.raw
        elif self.body is EMPTY:
            content = b""
        else:
            content = json.dumps(self.body, separators=(",", ":")).encode()
        media_type = self.media_type if content or self.raw is not None else None
        return Response(content, status_code=self.status, headers=dict(self.headers), media_type=media_type)


def json_reply(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, body, dict(headers or {}))
