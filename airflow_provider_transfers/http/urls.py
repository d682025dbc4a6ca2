"""Base-URL checks shared by both connection types."""

from __future__ import annotations

import ipaddress

import httpx

from airflow_provider_transfers.exceptions import TransferConfigError


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_base_url(raw: str, *, field: str = "host") -> str:
    """Accept ``https://host[:port][/path]``, or ``http://`` for loopback hosts only (the sandbox).

    Credentials, a query string or a fragment in the URL are refused: a base URL is written into logs.
    """
    text = raw.strip()
    if "://" not in text:
        raise TransferConfigError(
            f"Connection field {field!r} must be a base URL like https://flex-api.twilio.com "
            f"(or http://127.0.0.1:PORT for the sandbox); got {text!r}"
        )
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise TransferConfigError(f"Connection field {field!r} is not a valid URL: {exc}") from None
    if url.userinfo:
        raise TransferConfigError(f"Connection field {field!r} must not carry credentials; use login/password")
    if url.query or url.fragment:
        raise TransferConfigError(f"Connection field {field!r} must not have a query string or fragment")
    if url.scheme == "http" and not is_loopback_host(url.host):
        raise TransferConfigError(
            f"Connection field {field!r}: plain http:// is only allowed for loopback hosts "
            f"(127.0.0.1, ::1, localhost); use https:// for {url.host!r}"
        )
    if url.scheme not in ("http", "https") or not url.host:
        raise TransferConfigError(f"Connection field {field!r} must be an http(s) URL with a host; got {text!r}")
    return str(url).rstrip("/")
