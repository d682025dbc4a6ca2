"""Checking inputs at the edge: constrained types, the one adapter to ``TransferValidationError``,
literal-or-templated arguments, and base-URL rules (docs/design.md, "Input checks and models")."""

from __future__ import annotations

import ast
import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

import httpx
from airflow.sdk import XComArg
from pydantic import BaseModel, BeforeValidator, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from airflow_provider_transfers.exceptions import TransferConfigError, TransferValidationError

M = TypeVar("M", bound=BaseModel)

FORM_ERROR = "transfer_form"  # the pydantic error type whose message is the expected form
_HEX = "[0-9a-fA-F]"


def form_error(expected: str) -> PydanticCustomError:
    return PydanticCustomError(FORM_ERROR, "{expected}", {"expected": expected})


def full_match(pattern: str, expected: str) -> BeforeValidator:
    """A validator: a string, the whole of which matches ``pattern`` (no trailing newline, no surrounding text)."""
    compiled = re.compile(pattern)

    def check(value: Any) -> Any:
        if not isinstance(value, str) or compiled.fullmatch(value) is None:
            raise form_error(expected)
        return value

    return BeforeValidator(check)


def _number(expected: str, within: Callable[[float], bool], *, integer: bool = False) -> BeforeValidator:
    """Numbers, and strings of numbers (what Airflow templating renders), ``within`` the bounds; never
    booleans, NaN or infinity; with ``integer``, whole numbers only."""

    def check(value: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise form_error(expected)
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise form_error(expected) from None
        if not math.isfinite(number) or (integer and not number.is_integer()) or not within(number):
            raise form_error(expected)
        return int(number) if integer else number

    return BeforeValidator(check)


def sid_format(prefix: str) -> BeforeValidator:
    return full_match(rf"{prefix}{_HEX}{{32}}", f"a Twilio SID: '{prefix}' followed by 32 hex digits (34 chars)")


@functools.cache
def twilio_sid(prefix: str) -> Any:
    return Annotated[str, sid_format(prefix)]


NIL_UUID = "00000000-0000-0000-0000-000000000000"
UUID_EXPECTED = "a UUID like 3fa85f64-5717-4562-b3fc-2c963f66afa6 (not the nil UUID)"
ResourceUuid = Annotated[
    str, full_match(rf"(?!{NIL_UUID}){_HEX}{{8}}(?:-{_HEX}{{4}}){{3}}-{_HEX}{{12}}", UUID_EXPECTED)
]
"""A VoIPbin resource id: a UUID, not the nil UUID."""

PositiveSeconds = Annotated[float, _number("a finite number of seconds > 0", lambda n: n > 0)]
NonNegativeSeconds = Annotated[float, _number("a finite number of seconds >= 0", lambda n: n >= 0)]
EPOCH_EXPECTED = "epoch seconds (a finite number > 0) or an ISO-8601 date-time"
EpochNumber = Annotated[float, _number(EPOCH_EXPECTED, lambda n: n > 0)]
"""A point in time as epoch seconds (``waiting.EpochSeconds`` also takes dates and ISO text)."""
PositiveInt = Annotated[int, _number("a whole number >= 1", lambda n: n >= 1, integer=True)]
NonNegativeInt = Annotated[int, _number("a whole number >= 0", lambda n: n >= 0, integer=True)]
NonNegativeNumber = Annotated[float, _number("a finite number >= 0", lambda n: n >= 0)]
Fraction = Annotated[float, _number("a finite number within [0, 1]", lambda n: 0 <= n <= 1)]


def _strict_bool(value: Any) -> bool:
    """``True``/``False``, and the text Airflow templating renders them to; never 1, 0 or "yes"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise form_error("True or False")


StrictBool = Annotated[bool, BeforeValidator(_strict_bool)]

CONN_ID_EXPECTED = "an Airflow connection id: letters, digits, '_', '.', '-' (at most 250 chars)"
ConnId = Annotated[str, full_match(r"[\w.\-]{1,250}", CONN_ID_EXPECTED)]
"""An Airflow connection id (Airflow's own key rule: ``[\\w.-]``, 1 to 250 characters)."""


def one_conn_id(name: str, own: Any, conn_id: Any, default: str) -> Any:
    """An operator's connection, given as its own keyword (``name``, canonical) or as ``conn_id`` (as in the sensor
    and the reconciliation); checked now when literal. Both given, differing, is refused (which one was meant?)."""
    if conn_id is not None and own != default and own != conn_id:
        raise TransferValidationError(
            f"{name} / conn_id", f"one connection (they name the same argument); got {own!r} and {conn_id!r}"
        )
    chosen = conn_id if conn_id is not None else own
    check_if_literal(chosen, validator(ConnId, name))
    return chosen


# --------------------------------------------------------------------------------------------- addresses

E164_EXPECTED = "an E.164 phone number like +15551234567"
E164 = Annotated[str, full_match(r"\+[1-9][0-9]{1,14}", E164_EXPECTED)]

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_PATTERN = rf"(?:{_LABEL}\.)*{_LABEL}"
SIP_EXPECTED = (
    "a SIP address user@domain like alice@example.com (optionally 'sip:', ':port'): the user part of "
    "letters, digits and . _ ~ - + ! $ & ' * = , %; the domain a hostname or IP address"
)
_SIP_USER = r"(?:[A-Za-z0-9._~+!$&'*=,\-]|%[0-9A-Fa-f]{2})+"
_SIP_HOST = rf"(?=.{{1,259}}\Z)(?:{HOSTNAME_PATTERN}|\[[0-9A-Fa-f:.]{{2,45}}\])"  # 253 chars and a port at most
SipAddress = Annotated[str, full_match(rf"(?:sips?:)?{_SIP_USER}@{_SIP_HOST}(?::[0-9]{{1,5}})?", SIP_EXPECTED)]
"""``user@domain`` (``sip:``/``sips:`` and a port allowed): no path, query, fragment or empty labels."""

EMAIL_EXPECTED = "an email address like alice@example.com"
Email = Annotated[str, full_match(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~\-]{{1,64}}@{HOSTNAME_PATTERN}", EMAIL_EXPECTED)]

TEXT_EXPECTED = "a non-empty single-line text of at most 256 chars, without surrounding spaces"
Text = Annotated[str, full_match(r"[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]{0,254}[^\s\x00-\x1f\x7f])?", TEXT_EXPECTED)]
"""Free text sent to a platform (an extension, a line name, a display name): one line, trimmed."""

# --------------------------------------------------------------------------------------------- JSON

MAX_DEPTH = 32
"""Deepest nesting of dicts and lists accepted in a JSON value (a request body, an address list)."""
MAX_BODY_BYTES = 1_000_000
"""Largest request body (its JSON, UTF-8) sent to a platform; hooks and operators take ``max_body_bytes``."""
MAX_ADDRESSES = 100
"""Most transferee addresses in one VoIPbin transfer; the hook and operator take ``max_addresses``."""


def json_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of dicts/lists/tuples in ``value`` (0 for a scalar), without recursion; stops past
    ``limit`` (returns ``limit + 1``), so a 100,000-deep value costs little."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            item = item.values()
        elif not isinstance(item, list | tuple):
            continue
        deepest = max(deepest, depth + 1)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in item)
    return deepest


def text_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """Bracket depth of JSON (or Python literal) text, ignoring brackets inside strings; no recursion."""
    depth = deepest = 0
    quote = ""
    escaped = False
    for char in text:
        if quote:
            if char == quote and not escaped:
                quote = ""
            escaped = not escaped and char == "\\"
        elif char in "\"'":
            quote = char
        elif char in "[{(":
            depth += 1
            if depth > limit:
                return depth
            deepest = max(deepest, depth)
        elif char in "]})":
            depth -= 1
    return deepest


def _size_expected(what: str, max_bytes: int) -> str:
    return f"{what} of at most {max_bytes} bytes as JSON (raise max_body_bytes to allow more)"


def _depth_expected(what: str, max_depth: int) -> str:
    return f"{what} nested at most {max_depth} levels deep"


def parse_json_text(
    text: str,
    *,
    what: str,
    max_bytes: int = MAX_BODY_BYTES,
    max_depth: int = MAX_DEPTH,
    python_literals: bool = False,
) -> Any:
    """JSON text (or, with ``python_literals``, the ``str()`` Jinja renders a dict/list into), size and
    depth checked *before* parsing, so no parser ever recurses into a hostile value."""
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise form_error(_size_expected(what, max_bytes))
    opening = text.count("[") + text.count("{") + text.count("(")
    if opening > max_depth and text_depth(text, max_depth) > max_depth:
        raise form_error(_depth_expected(what, max_depth))
    try:
        return json.loads(text)
    except ValueError as exc:
        if not python_literals:
            raise form_error(f"{what} (JSON text that parses: {exc})") from None
    except RecursionError:
        raise form_error(_depth_expected(what, max_depth)) from None
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise form_error(f"{what} (JSON text, or a Python literal of one)") from None


@functools.cache
def json_object(*, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """A request body: a dict, or JSON text of an object (``None`` and blank text mean ``{}``), passed on as
    plain JSON data (a deep copy), refusing deep nesting, NaN/inf and oversize values."""
    what = "a JSON object (a dict or JSON text of one)"

    def check(value: Any) -> dict[str, Any]:
        if value is None or (isinstance(value, str) and not value.strip()):
            return {}
        if isinstance(value, str | bytes):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            value = parse_json_text(text, what=what, max_bytes=max_bytes, max_depth=max_depth)
        if not isinstance(value, Mapping):
            raise form_error(what)
        if json_depth(value, max_depth) > max_depth:
            raise form_error(_depth_expected(what, max_depth))
        try:
            text = json.dumps(dict(value), allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise form_error(f"{what} holding only JSON values (no NaN or infinity): {exc}") from None
        except RecursionError:  # a cycle, or nesting hidden from json_depth (e.g. in an exotic Mapping)
            raise form_error(_depth_expected(what, max_depth)) from None
        if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
            raise form_error(_size_expected(what, max_bytes))
        return json.loads(text)

    return Annotated[dict[str, Any], BeforeValidator(check)]


_adapter = functools.cache(TypeAdapter)  # one adapter per type, built on first use


def check_as(tp: Any, value: Any) -> Any:
    """Inside another validator: ``value`` as ``tp``, or a form error stating what ``tp`` expects."""
    try:
        return _adapter(tp).validate_python(value)
    except ValidationError as exc:
        raise form_error(_expected(exc.errors(include_url=False)[0])) from None


def _location(prefix: str, loc: tuple[int | str, ...], subscript: bool = False) -> str:
    """``prefix.field[0]``; with ``subscript``, keys as a mapping's: ``transfer['sid']``."""
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif subscript and text:
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "value"


def _expected(error: Any) -> str:
    if error["type"] == FORM_ERROR:
        return str(error["ctx"]["expected"])
    if error["type"] == "missing":
        return "a value (the field is required)"
    if error["type"] == "extra_forbidden":
        return "no such field (an unknown key, misspelt?)"
    message = str(error["msg"])
    return message[0].lower() + message[1:] if message else error["type"]


class _Shown(str):
    """A value already rendered for the message (its ``repr`` is the text itself)."""

    def __repr__(self) -> str:
        return str(self)


def as_transfer_error(
    exc: ValidationError,
    field: str = "",
    *,
    show_value: bool = True,
    aliases: Mapping[str, str] | None = None,
    subscript: bool = False,
) -> TransferValidationError:
    """The first error of ``exc`` as ``TransferValidationError`` naming the field and the expected form;
    ``aliases`` renames a model field to the argument the user wrote (``poll_interval`` -> ``poke_interval``)."""
    first = exc.errors(include_url=False)[0]
    loc = tuple(first["loc"])
    if aliases and loc and isinstance(loc[0], str) and loc[0] in aliases:
        loc = (aliases[loc[0]], *loc[1:])
    got = first.get("input") if show_value and first["type"] != "missing" else None
    if isinstance(got, str | bytes) and len(got) > 200:
        got = _Shown(f"{got[:200]!r}... ({len(got)} chars)")
    elif not isinstance(got, str | bytes | int | float | type(None)):
        try:  # the value itself (a list, a dict): what to fix, not just its type
            shown = repr(got)
        except Exception:  # a value whose repr fails: its type is all we can say
            shown = type(got).__name__
        got = _Shown(shown if len(shown) <= 200 else f"{shown[:200]}... ({type(got).__name__})")
    error = TransferValidationError(_location(field, loc, subscript), _expected(first), got, show_value=show_value)
    extra = len(exc.errors()) - 1
    if extra:
        error.args = (f"{error.args[0]} (and {extra} more problem{'s' if extra > 1 else ''})",)
    return error


def validate(
    tp: Any,
    value: Any,
    field: str = "",
    *,
    show_value: bool = True,
    aliases: Mapping[str, str] | None = None,
    subscript: bool = False,
) -> Any:
    """``value`` validated as ``tp`` (a type or a model); ``TransferValidationError`` naming ``field`` otherwise
    (``field.<model field>``, or its alias; with ``subscript``, ``field['<model field>']``)."""
    try:
        return _adapter(tp).validate_python(value)
    except ValidationError as exc:
        raise as_transfer_error(exc, field, show_value=show_value, aliases=aliases, subscript=subscript) from None
    except RecursionError:
        where = field or getattr(tp, "__name__", "value")
        raise TransferValidationError(where, "a value nested less deeply", show_value=False) from None


def validate_model(model: type[M], data: Any, field: str = "", **options: Any) -> M:
    """``validate`` typed for a model (``options``: ``show_value``, ``aliases``, ``subscript``)."""
    return validate(model, data, field, **options)


def validator(tp: Any, field: str) -> Callable[[Any], Any]:
    return functools.partial(validate, tp, field=field)


# --------------------------------------------------------------------------------------------- templates


def contains_template(value: Any, *, _depth: int = 0) -> bool:
    """True if rendering may change ``value``: a Jinja template or an ``XComArg`` anywhere inside it."""
    if _depth > 2 * MAX_DEPTH or isinstance(value, XComArg):
        return True
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        return any(contains_template(v, _depth=_depth + 1) for v in value)
    return False


def check_if_literal(value: Any, check: Callable[[Any], Any]) -> None:
    """Run ``check(value)`` now (DAG parse time) unless some part of ``value`` is rendered later; a value
    nested deeper than ``MAX_DEPTH`` is checked (so refused) now whatever it holds."""
    if json_depth(value, MAX_DEPTH) > MAX_DEPTH or not contains_template(value):
        check(value)


# --------------------------------------------------------------------------------------------- base URLs


def validate_base_url(raw: str, *, field: str = "host") -> str:
    """Accept ``https://host[:port][/path]``, or ``http://`` for loopback hosts only (the sandbox); never
    credentials, a query string or a fragment (a base URL is written into logs)."""
    text = raw.strip()
    where = f"Connection field {field!r}"
    if "://" not in text:
        raise TransferConfigError(
            f"{where} must be a base URL like https://flex-api.twilio.com "
            f"(or http://127.0.0.1:PORT for the sandbox); got {text!r}"
        )
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise TransferConfigError(f"{where} is not a valid URL: {exc}") from None
    if url.userinfo:
        raise TransferConfigError(f"{where} must not carry credentials; use login/password")
    if url.query or url.fragment:
        raise TransferConfigError(f"{where} must not have a query string or fragment")
    try:
        loopback = url.host == "localhost" or ipaddress.ip_address(url.host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if url.scheme == "http" and not loopback:
        raise TransferConfigError(
            f"{where}: plain http:// is only allowed for loopback hosts (127.0.0.1, ::1, localhost); "
            f"use https:// for {url.host!r}"
        )
    if url.scheme not in ("http", "https") or not url.host:
        raise TransferConfigError(f"{where} must be an http(s) URL with a host; got {text!r}")
    return str(url).rstrip("/")
