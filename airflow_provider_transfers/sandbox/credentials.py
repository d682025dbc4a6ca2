"""Fixed sandbox credentials and the Airflow connections that use them.

The values are well known on purpose: they only unlock a loopback emulator.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SandboxCredentials:
    twilio_account_sid: str = "AC" + "5a" * 16
    twilio_auth_token: str = "sandbox-auth-token"
    twilio_api_key_sid: str = "SK" + "5a" * 16
    twilio_api_key_secret: str = "sandbox-api-key-secret"
    voipbin_customer_id: str = "5a5a5a5a-0000-4000-8000-5a5a5a5a5a5a"
    voipbin_access_key: str = "sandbox-access-key"
    voipbin_username: str = "sandbox"
    voipbin_password: str = "sandbox-password"
    jwt_secret: str = "sandbox-jwt-secret"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def twilio_connection(base_url: str, credentials: SandboxCredentials) -> dict[str, Any]:
    return {
        "conn_type": "twilio_flex",
        "login": credentials.twilio_account_sid,
        "password": credentials.twilio_auth_token,
        "host": base_url,
        "extra": {"account_sid": credentials.twilio_account_sid},
    }


def voipbin_connection(base_url: str, credentials: SandboxCredentials) -> dict[str, Any]:
    return {"conn_type": "voipbin", "password": credentials.voipbin_access_key, "host": f"{base_url}/v1.0"}


def connection_env(base_url: str, credentials: SandboxCredentials) -> dict[str, str]:
    """``AIRFLOW_CONN_TWILIO_FLEX_DEFAULT`` and ``AIRFLOW_CONN_VOIPBIN_DEFAULT`` in Airflow's JSON form."""
    return {
        "AIRFLOW_CONN_TWILIO_FLEX_DEFAULT": json.dumps(twilio_connection(base_url, credentials)),
        "AIRFLOW_CONN_VOIPBIN_DEFAULT": json.dumps(voipbin_connection(base_url, credentials)),
    }
