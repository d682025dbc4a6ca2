from __future__ import annotations

import asyncio
import email.utils
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_transfers.exceptions import TransferConfigError, TransferValidationError
from airflow_provider_transfers.http.client import HttpPolicy, check_extra, make_limiter, parse_retry_after
from airflow_provider_transfers.http.ratelimit import FIRST_ARRIVAL_S, RateLimiter, TokenBucket
from airflow_provider_transfers.validation import validate_base_url


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_the_burst_then_spaces_requests_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    waits = [bucket.reserve() for _ in range(3)]
    assert waits == pytest.approx([0.1, 0.2, 0.3])
    clock.now += 1.0  # refill: 10 tokens/s for 1 s pays the 3 of debt, up to the burst
    assert bucket.reserve() == 0.0


def test_token_bucket_never_exceeds_its_burst_after_idling() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=5, burst=2, clock=clock)
    clock.now += 3600
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.2])


async def test_async_acquire_paces_concurrent_callers() -> None:
    bucket = TokenBucket(rate=50, burst=1)
    started = time.monotonic()
    await asyncio.gather(*(bucket.aacquire() for _ in range(11)))
    assert time.monotonic() - started >= 0.19  # 10 waits of 20 ms after the first token


def test_rate_limiter_keeps_one_bucket_per_key() -> None:
    limiter = RateLimiter(rate=1, burst=1)
    assert limiter.bucket("fetch") is limiter.bucket("fetch")
    assert limiter.bucket("fetch") is not limiter.bucket("create")
    assert limiter.bucket("create").reserve() == 0.0


def test_a_process_bucket_keeps_room_for_a_late_first_arrival_each_time_it_starts_full() -> None:
    # The platform's bucket starts refilling when the first request arrives, and that one opens a connection:
    # a process's own bucket, drawn from full, grants 0.2 s of its rate fewer tokens (Twilio: 16 of 20).
    limiter = RateLimiter(rate=20, burst=20)
    assert [limiter.bucket("fetch").reserve() for _ in range(16)] == [0.0] * 16
    assert limiter.bucket("fetch").reserve() > 0
    clock = FakeClock()
    bucket = TokenBucket(rate=20, burst=20, clock=clock, first_arrival=FIRST_ARRIVAL_S)
    assert [bucket.reserve() for _ in range(17)] == pytest.approx([0.0] * 16 + [0.05])
    clock.now += 60  # idle: full again, and the next burst keeps the same room
    assert sum(bucket.reserve() == 0.0 for _ in range(20)) == 16
    assert RateLimiter(rate=1, burst=1).bucket("fetch").reserve() == 0.0  # the request finding it full never waits
    plain = TokenBucket(rate=20, burst=20, clock=clock)  # a bare TokenBucket keeps no such room
    assert sum(plain.reserve() == 0.0 for _ in range(20)) == 20


def test_policy_merges_and_names_bad_fields() -> None:
    policy = HttpPolicy().merged({"timeout": "5", "max_attempts": 3, "unrelated": "x"}, origin="extra")
    assert (policy.timeout, policy.max_attempts) == (5.0, 3)
    with pytest.raises(TransferConfigError, match="extra: Invalid rate_limit: expected a finite number"):
        HttpPolicy().merged({"rate_limit": "fast"}, origin="extra")
    with pytest.raises(TransferValidationError, match="Invalid max_attempts: expected a whole number >= 1"):
        HttpPolicy(max_attempts=0)
    with pytest.raises(TransferConfigError, match="Invalid timeout: expected a finite number of seconds > 0"):
        HttpPolicy().merged({"timeout": 0}, origin="extra")
    assert make_limiter(HttpPolicy(rate_limit=0), "scope") is None  # 0 turns the limiter off
    assert getattr(make_limiter(HttpPolicy(rate_limit=16.7), "scope"), "burst", None) == 16
    assert getattr(make_limiter(HttpPolicy(rate_limit=16.7, rate_burst=33), "scope"), "burst", None) == 33


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"max_connections": 2.5}, "Invalid max_connections: expected a whole number >= 1; got 2.5"),
        ({"rate_burst": "many"}, "Invalid rate_burst: expected a whole number >= 1"),
        ({"timeout": float("nan")}, "Invalid timeout"),
        ({"max_attempts": True}, "Invalid max_attempts"),
        ({"adaptive_rate": "maybe"}, "Invalid adaptive_rate: expected true or false"),
        ({"rate_limit_backend": "http://redis:6379"}, "Invalid rate_limit_backend: expected a Redis URL"),
        ({"rate_limit": -1}, "Invalid rate_limit"),
    ],
)
def test_policy_errors_name_the_field(changes: dict[str, object], match: str) -> None:
    with pytest.raises(TransferConfigError, match=re.escape(match)):
        HttpPolicy().merged(changes, origin="Connection 'c' extra")


def test_policy_flags_and_backend_parse_from_text() -> None:
    policy = HttpPolicy().merged(
        {"adaptive_rate": "off", "rate_limit_backend": " redis://127.0.0.1:6379/2 ", "rate_limit": ""}, origin="x"
    )
    assert policy.adaptive_rate is False and policy.rate_limit_backend == "redis://127.0.0.1:6379/2"
    assert policy.rate_limit is None  # an empty form field means "not set"
    assert HttpPolicy().adaptive_rate is True and HttpPolicy().rate_limit_backend is None


def test_extra_must_be_a_json_object_with_known_keys() -> None:
    assert check_extra("c", None) == {} and check_extra("c", "  ") == {}
    assert check_extra("c", '{"rate_limit": 5, "region": "au1"}', {"region"}) == {"rate_limit": 5, "region": "au1"}
    with pytest.raises(TransferConfigError, match=r"Connection 'c': extra is not valid JSON"):
        check_extra("c", '{"rate_limit": 5,}')
    with pytest.raises(TransferConfigError, match=r"Connection 'c': extra must be a JSON object; got list"):
        check_extra("c", "[1]")
    with pytest.raises(TransferConfigError, match=r"unknown extra 'rate_limt'; did you mean 'rate_limit'\?"):
        check_extra("c", '{"rate_limt": 5}')
    with pytest.raises(TransferConfigError, match=r"unknown extra 'acount_sid'; did you mean 'account_sid'\?"):
        check_extra("c", '{"acount_sid": "AC"}', {"account_sid", "region", "edge"})
    with pytest.raises(TransferConfigError, match=r"unknown extra 'account_sid'"):
        check_extra("c", '{"account_sid": "AC"}')  # not a VoIPbin extra


def test_hooks_refuse_unknown_extras_and_accept_their_own(make_twilio_hook: Any) -> None:
    from airflow.sdk import Connection

    from airflow_provider_transfers.hooks.voipbin import VoipbinHook
    from tests.factories import ACCOUNT, twilio_connection

    ok = twilio_connection()
    ok.extra = json.dumps({"account_sid": ACCOUNT, "region": "au1", "edge": "sydney", "timeout": 3})
    assert make_twilio_hook(ok).api.policy.timeout == 3.0
    bad = twilio_connection()
    bad.extra = json.dumps({"account_sid": ACCOUNT, "timout": 3})
    with pytest.raises(TransferConfigError, match=r"unknown extra 'timout'; did you mean 'timeout'\?"):
        make_twilio_hook(bad).get_conn()
    broken = twilio_connection()
    broken.extra = '{"account_sid": '
    with pytest.raises(TransferConfigError, match=r"Connection '[^']+': extra is not valid JSON"):
        make_twilio_hook(broken).get_conn()
    voipbin = Connection(conn_id="vb", conn_type="voipbin", password="key", extra='{"regoin": "au1"}')
    with pytest.raises(TransferConfigError, match=r"Connection 'vb': unknown extra 'regoin'"):
        VoipbinHook(connection=voipbin).get_conn()
    voipbin.extra = '{"max_connections": 2.5}'
    with pytest.raises(TransferConfigError, match=r"Invalid max_connections: expected a whole number >= 1"):
        VoipbinHook(connection=voipbin).get_conn()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://flex-api.twilio.com/", "https://flex-api.twilio.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:1/v1.0", "http://localhost:1/v1.0"),
        ("http://[::1]:9/v1.0/", "http://[::1]:9/v1.0"),
    ],
)
def test_base_urls_accepted(raw: str, expected: str) -> None:
    assert validate_base_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("http://10.0.0.1", "only allowed for loopback"),
        ("https://api.voipbin.net/v1.0?accesskey=abc", "query string"),
        ("https://k:s@api.voipbin.net", "credentials"),
        ("ftp://example.com", "http"),
        ("api.voipbin.net", "base URL"),
    ],
)
def test_base_urls_refused(raw: str, match: str) -> None:
    with pytest.raises(TransferConfigError, match=match):
        validate_base_url(raw)


def test_retry_after_seconds_and_http_dates() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (parse_retry_after(future) or 0) <= 30
    past = email.utils.format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(past) == 0.0


def test_client_side_rate_limit_paces_requests_per_bucket(make_twilio_hook: object) -> None:
    import httpx
    import respx

    from tests.factories import KD, UO, UX, twilio_transfer

    hook = make_twilio_hook(rate_limit=20, rate_burst=1)  # type: ignore[operator]
    with respx.mock() as router:
        router.get(host="flex-api.twilio.com").mock(return_value=httpx.Response(200, json=twilio_transfer()))
        started = time.monotonic()
        for _ in range(5):
            hook.get_transfer(KD, UO, UX)
        elapsed = time.monotonic() - started
    assert elapsed >= 0.19  # 4 waits of 50 ms after the first token


def test_every_connection_form_field_is_an_accepted_extra() -> None:
    from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook
    from airflow_provider_transfers.hooks.voipbin import VoipbinHook

    for hook in (TwilioFlexHook, VoipbinHook):
        fields = set(hook.connection_ui["conn-fields"])
        assert fields <= {*HttpPolicy.FIELDS, *hook.extra_keys}, hook
        assert check_extra("c", json.dumps(dict.fromkeys(fields)), hook.extra_keys)
