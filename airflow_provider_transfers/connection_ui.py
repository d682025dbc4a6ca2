"""Connection-form metadata of both connection types, as plain data: ``get_provider_info()`` publishes it
for Airflow >= 3.2, the hooks' ``get_ui_field_behaviour()`` for older UIs (docs/design.md).
"""

from __future__ import annotations

import copy
from typing import Any

_POLICY_FIELDS: dict[str, dict[str, Any]] = {
    "timeout": {
        "label": "Request timeout (seconds)",
        "schema": {"type": ["number", "null"], "default": 30},
    },
    "max_attempts": {
        "label": "Attempts per request (retries on 429/5xx/timeouts)",
        "schema": {"type": ["integer", "null"], "default": 5},
    },
    "rate_limit": {
        "label": "Client-side rate limit (requests/second, 0 = off)",
        "schema": {"type": ["number", "null"]},
    },
    "rate_limit_backend": {
        "label": "Shared rate limit: Redis URL (redis://host:6379/0), optional",
        "schema": {"type": ["string", "null"]},
    },
}

TWILIO_FLEX_UI: dict[str, Any] = {
    "hook-name": "Twilio Flex",
    "conn-fields": {
        "account_sid": {
            "label": "Account SID (required with an API key)",
            "schema": {"type": ["string", "null"], "pattern": "^(AC[0-9a-fA-F]{32})?$"},
        },
        "region": {"label": "Region (e.g. au1, ie1, us1)", "schema": {"type": ["string", "null"]}},
        "edge": {"label": "Edge (e.g. sydney, dublin)", "schema": {"type": ["string", "null"]}},
        **_POLICY_FIELDS,
    },
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port"],
        "relabeling": {
            "login": "API Key SID (SK...) or Account SID (AC...)",
            "password": "API Key Secret or Auth Token",
            "host": "Base URL override (optional)",
        },
        "placeholders": {
            "login": "SKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "password": "secret",
            "host": "https://flex-api.twilio.com",
            "account_sid": "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "region": "us1",
            "edge": "ashburn",
        },
    },
}

VOIPBIN_UI: dict[str, Any] = {
    "hook-name": "VoIPbin",
    "conn-fields": {**_POLICY_FIELDS},
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port"],
        "relabeling": {
            "login": "Username (only for username/password login)",
            "password": "Access key, or the password of the username",
            "host": "Base URL override (optional)",
        },
        "placeholders": {
            "login": "leave empty when using an access key",
            "password": "access key",
            "host": "https://api.voipbin.net/v1.0",
        },
    },
}


def hook_ui_field_behaviour(ui: dict[str, Any]) -> dict[str, Any]:
    """The snake_case shape ``BaseHook.get_ui_field_behaviour()`` returns (a copy)."""
    return {key.replace("-", "_"): copy.deepcopy(value) for key, value in ui["ui-field-behaviour"].items()}
