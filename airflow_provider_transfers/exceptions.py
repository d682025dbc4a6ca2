"""One exception family for both platforms, which errors are worth another try, and how to say them."""

from __future__ import annotations

from typing import Any


class TransferProviderError(Exception):
    """Base of every error this provider raises."""


class TransferValidationError(TransferProviderError, ValueError):
    """Bad input, raised before any network call. The message names the field and the expected form."""

    def __init__(self, field: str, expected: str, got: Any = None, *, show_value: bool = True) -> None:
        self.field = field
        self.expected = expected
        shown = f"; got {got!r}" if show_value and got is not None else ""
        super().__init__(f"Invalid {field}: expected {expected}{shown}")


class TransferConfigError(TransferProviderError):
    """The Airflow connection is missing something or holds a value of the wrong form."""


_NO_ANSWER = {
    "ConnectError": "could not connect",
    "ConnectTimeout": "timed out connecting",
    "PoolTimeout": "timed out waiting for a free connection",
    "ReadTimeout": "timed out waiting for the answer",
    "WriteTimeout": "timed out sending the request",
    "ReadError": "the connection broke while reading the answer",
    "WriteError": "the connection broke while sending the request",
    "RemoteProtocolError": "the server closed the connection without a complete answer",
}


class TransferTransportError(TransferProviderError):
    """The request never got an HTTP answer: connection refused or reset, DNS, timeout.

    ``sent`` is false when the request cannot have reached the platform (it could not connect).
    """

    retryable = True

    def __init__(self, platform: str, method: str, path: str, cause: BaseException, *, sent: bool = True) -> None:
        self.platform = platform
        self.method = method
        self.path = path
        self.sent = sent
        self.cause_name = type(cause).__name__
        self.reason = _NO_ANSWER.get(self.cause_name, f"no answer ({self.cause_name})")
        super().__init__(f"{platform}: {method} {path} got no answer: {self.reason}")


class TransferApiError(TransferProviderError):
    """The platform answered with an error status: what it says (Twilio ``code``/``more_info``, VoIPbin
    ``reason``/``request_id``), never the request's headers or credentials."""

    def __init__(
        self,
        *,
        platform: str,
        status_code: int,
        message: str,
        method: str = "",
        path: str = "",
        code: int | None = None,
        reason: str | None = None,
        more_info: str | None = None,
        request_id: str | None = None,
        details: list[Any] | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.platform = platform
        self.status_code = status_code
        self.message = message
        self.method = method
        self.path = path
        self.code = code
        self.reason = reason
        self.more_info = more_info
        self.request_id = request_id
        self.details = details or []
        self.retry_after = retry_after
        self.hint = hint
        super().__init__(self._describe())

    @property
    def retryable(self) -> bool:
        return self.status_code == 429 or self.status_code >= 500

    def _describe(self) -> str:
        label = " ".join(str(x) for x in (self.code, self.reason) if x not in (None, ""))
        where = f" on {self.method} {self.path}" if self.method else ""
        text = f"{self.platform} API error {self.status_code}{' ' + label if label else ''}{where}: {self.message}"
        extras = [f"request_id={self.request_id}"] if self.request_id else []
        if self.more_info:
            extras.append(f"see {self.more_info}")
        if extras:
            text += f" ({'; '.join(extras)})"
        if self.hint:
            text += f". {self.hint}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_api_error, (type(self), self.__dict__.copy()))


def _rebuild_api_error(cls: type[TransferApiError], state: dict[str, Any]) -> TransferApiError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err._describe())
    return err


class TransferAuthError(TransferApiError):
    """401/403: bad credentials, or credentials without access to this account or resource."""


class TransferPermissionError(TransferApiError):
    """403 on one resource to credentials the platform otherwise accepts (VoIPbin: a call or groupcall of
    another customer). A problem of that record, not of the connection: not a ``TransferAuthError``."""


class TransferNotFoundError(TransferApiError):
    """404: the transfer, call, groupcall, interaction or channel does not exist (or has expired)."""


class TransferConflictError(TransferApiError):
    """409: the resource is in a state that refuses the request."""


class TransferRateLimitError(TransferApiError):
    """429: too many requests. Never processed by the platform, always safe to retry."""


class TransferServerError(TransferApiError):
    """5xx, or a 2xx whose body is not the JSON the platform documents."""


_BY_STATUS: dict[int, type[TransferApiError]] = {
    401: TransferAuthError,
    403: TransferAuthError,
    404: TransferNotFoundError,
    409: TransferConflictError,
    429: TransferRateLimitError,
}


def api_error_class(status_code: int) -> type[TransferApiError]:
    return _BY_STATUS.get(status_code, TransferServerError if status_code >= 500 else TransferApiError)


def is_transient(exc: BaseException) -> bool:
    """Worth another poll: 429, 5xx, malformed bodies, timeouts, resets (after the client's own retries)."""
    return isinstance(exc, TransferProviderError) and bool(getattr(exc, "retryable", False))


def is_fatal(exc: BaseException) -> bool:
    """No task retry can fix it (not found, invalid input, bad connection): fail without retries."""
    return isinstance(exc, TransferNotFoundError | TransferValidationError | TransferConfigError | TransferAuthError)


def describe(exc: BaseException) -> str:
    """The error in the user's words: the provider's own messages as they are, anything else with its type."""
    return str(exc) if isinstance(exc, TransferProviderError) else f"{type(exc).__name__}: {exc}"
