"""Validate what the hooks send against the platforms' OpenAPI descriptions (copies in ``specs/``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest

SPECS = Path(__file__).parent / "specs"
TWILIO_SPEC = "twilio_flex_v1_interactions.json"
VOIPBIN_SPEC = "voipbin_v1_transfers.yaml"


@cache
def spec_dict(name: str) -> dict[str, Any]:
    text = (SPECS / name).read_text()
    return json.loads(text) if name.endswith(".json") else yaml.safe_load(text)


@cache
def openapi(name: str) -> OpenAPI:
    return OpenAPI.from_dict(spec_dict(name))


def validate_request(name: str, request: httpx.Request) -> None:
    """Raise unless method, path, parameters, content type and body match an operation of the spec."""
    cookies = SimpleCookie(request.headers.get("cookie", ""))
    content_type = request.headers.get("content-type", "").split(";")[0]
    mock = MockRequest(
        host_url=f"{request.url.scheme}://{request.url.netloc.decode()}",
        method=request.method,
        path=request.url.path,
        args=dict(request.url.params),
        headers=dict(request.headers),
        cookies={key: morsel.value for key, morsel in cookies.items()},
        data=request.content or None,
        content_type=content_type or "application/json",
    )
    openapi(name).validate_request(mock)


def response_examples(name: str, path: str, method: str) -> Iterator[tuple[str, Any]]:
    """Every example body the spec gives for an operation's success responses."""
    operation = spec_dict(name)["paths"][path][method]
    for status, response in operation["responses"].items():
        if not str(status).startswith("2"):
            continue
        for media in response.get("content", {}).values():
            for label, example in media.get("examples", {}).items():
                yield f"{status}:{label}", example["value"]
            if "example" in media:
                yield f"{status}:example", media["example"]
