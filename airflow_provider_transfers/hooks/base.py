"""``TransferHook``: what every platform hook shares, and how a connection finds its platform's hook.

A platform is one ``TransferHook`` subclass plus one ``connection-types`` entry in ``get_provider_info()``;
Airflow's providers manager maps the connection type to the hook class (``Connection.get_hook``).
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

import attrs
import httpx
from airflow.sdk import BaseHook, Connection
from airflow.sdk.exceptions import AirflowException
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
from pydantic import BaseModel, ConfigDict

from airflow_provider_transfers.connection_ui import hook_ui_field_behaviour
from airflow_provider_transfers.exceptions import (
    TransferApiError,
    TransferAuthError,
    TransferConfigError,
    TransferProviderError,
    TransferTransportError,
    TransferValidationError,
)
from airflow_provider_transfers.http.client import ApiClient, HttpPolicy, Request, check_extra, check_known_keys
from airflow_provider_transfers.models import TransferCheck, TransferStatus


@dataclass(frozen=True)
class ConnectionSettings:
    """What a hook needs from an Airflow connection, checked. ``secrets`` never reach a URL or log."""

    base_url: str
    auth: httpx.Auth | None = field(repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    details: Mapping[str, Any] = field(default_factory=dict, repr=False)


T = TypeVar("T")


Plan = Generator[Request, Any, T]
"""Logic written once: a generator that yields the ``Request`` it needs next and receives the parsed answer
(a failed request raises its error at that ``yield``)."""


def drive(plan: Plan[T], send: Callable[[Request], Any]) -> T:
    """Run ``plan`` with a synchronous ``send``; return what the plan returns."""
    try:
        request = next(plan)
        while True:
            try:
                answer = send(request)
            except Exception as exc:
                request = plan.throw(exc)
            else:
                request = plan.send(answer)
    except StopIteration as done:
        result: T = done.value
        return result


async def adrive(plan: Plan[T], send: Callable[[Request], Awaitable[Any]]) -> T:
    """Run ``plan`` with an asynchronous ``send``: the same decisions as :func:`drive`."""
    try:
        request = next(plan)
        while True:
            try:
                answer = await send(request)
            except Exception as exc:
                request = plan.throw(exc)
            else:
                request = plan.send(answer)
    except StopIteration as done:
        result: T = done.value
        return result


class TransferRef(BaseModel):
    """A transfer's identifying fields on its platform, validated once (by ``TransferHook.transfer_ref``).

    Subclasses declare the fields (their names are the flat record columns a reconciliation reads) and
    ``transfer_id``. Build one only through the hook, which validates; the fields are not re-checked.
    """

    model_config = ConfigDict(frozen=True)

    @property
    def transfer_id(self) -> str:
        """The id shown in logs, events and reports."""
        raise NotImplementedError

    def fields(self) -> dict[str, str]:
        """The reference as text fields (a report's ``reference`` cell)."""
        return {k: str(v) for k, v in self.model_dump(mode="json").items()}


class TransferHook(BaseHook, abc.ABC):
    """Base of the platform hooks. Use as a (async) context manager, or call ``close()``/``aclose()``."""

    platform: ClassVar[str]
    conn_type: ClassVar[str]
    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    hook_name: ClassVar[str]
    default_policy: ClassVar[HttpPolicy] = HttpPolicy()
    connection_ui: ClassVar[dict[str, Any]]
    ref_model: ClassVar[type[TransferRef]]
    """The platform's ``TransferRef`` subclass (a saved reference is read back with ``model_construct``: it was
    checked when first built)."""
    extra_keys: ClassVar[frozenset[str]] = frozenset()
    """The connection extras the hook reads besides the policy fields; any other key is refused."""

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return hook_ui_field_behaviour(cls.connection_ui)

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        connection: Connection | None = None,
        policy: Mapping[str, Any] | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        **conn_name: str | None,
    ) -> None:
        """``conn_id`` may also be passed as the hook's own keyword (``conn_name_attr``), the way Airflow's
        ``Connection.get_hook`` builds hooks: ``TwilioFlexHook(twilio_flex_conn_id="...")``."""
        super().__init__()
        unexpected = sorted(set(conn_name) - {self.conn_name_attr})
        if unexpected:
            raise TypeError(
                f"{type(self).__name__}() got unexpected keyword argument(s) {unexpected}; "
                f"the connection id is passed as conn_id or {self.conn_name_attr}"
            )
        named = conn_name.get(self.conn_name_attr)
        if conn_id is not None and named is not None and named != conn_id:
            raise TypeError(f"{type(self).__name__}() got conn_id={conn_id!r} and {self.conn_name_attr}={named!r}")
        self.conn_id = conn_id or named or self.default_conn_name
        self._connection = connection
        self._policy_overrides = dict(policy or {})
        check_known_keys(self._policy_overrides, HttpPolicy.FIELDS, f"{type(self).__name__}: unknown policy option")
        self._transport = transport
        self._async_transport = async_transport
        self._api: ApiClient | None = None
        self._settings: ConnectionSettings | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r})"

    # ------------------------------------------------------------------ connection -> client

    @classmethod
    @abc.abstractmethod
    def settings_from_connection(cls, conn: Connection) -> ConnectionSettings:
        """Check the connection's fields and turn them into settings; raise ``TransferConfigError``."""

    @staticmethod
    @abc.abstractmethod
    def parse_error(response: httpx.Response) -> dict[str, Any]:
        """Keyword arguments for ``TransferApiError`` from an error response (any body, even none)."""

    def _make_client(self, conn: Connection) -> ApiClient:
        # The defaults, then the connection's extra (checked as a whole first: not JSON, an unknown key), then the
        # hook's policy= overrides.
        conn_id = conn.conn_id or self.conn_id
        from_extra = check_extra(conn_id, conn.extra, self.extra_keys)
        policy = self.default_policy.merged(from_extra, origin=f"Connection {conn_id!r} extra")
        policy = policy.merged(self._policy_overrides, origin="policy")
        settings = self._settings = self.settings_from_connection(conn)
        # Who the platform's rate limit counts: the account (Twilio) or customer (VoIPbin) at one base URL (the
        # shared bucket's key, hashed there: no id or credential is written to Redis).
        account = settings.details.get("account_sid") or settings.details.get("username")
        who = account or (settings.secrets[0] if settings.secrets else self.conn_id)
        return ApiClient(
            platform=self.platform,
            base_url=settings.base_url,
            policy=policy,
            rate_scope=f"{self.platform}|{settings.base_url}|{who}",
            error_parser=self.parse_error,
            auth=settings.auth,
            secrets=settings.secrets,
            headers=settings.headers,
            transport=self._transport,
            async_transport=self._async_transport,
        )

    def get_conn(self) -> ApiClient:
        """The configured ``ApiClient`` (sync path: reads the connection synchronously)."""
        if self._api is None:
            conn = self._connection or self.get_connection(self.conn_id)
            self._connection = conn
            self._api = self._make_client(conn)
        return self._api

    async def aget_conn(self) -> ApiClient:
        """The configured ``ApiClient``, loading the connection with ``aget_connection`` (trigger-safe)."""
        if self._api is None:
            conn = self._connection or await self.aget_connection(self.conn_id)
            self._connection = conn
            self._api = self._make_client(conn)
        return self._api

    @property
    def api(self) -> ApiClient:
        return self.get_conn()

    @property
    def settings(self) -> ConnectionSettings:
        self.get_conn()
        assert self._settings is not None
        return self._settings

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ references

    created_fields: ClassVar[tuple[str, ...]] = ()
    """Fields of a transfer's JSON that hold its creation time (for staleness), first present wins."""

    @classmethod
    @abc.abstractmethod
    def transfer_ref(cls, transfer: Any) -> TransferRef:
        """Validate a transfer's JSON (or a flat record holding its fields) into a reference, once.

        Raises ``TransferValidationError`` naming the field, before any request.
        """

    @classmethod
    def transfer_id(cls, transfer: Any) -> str:
        """A human-readable id of the transfer (for logs, events, reports); validates the mapping."""
        return cls.transfer_ref(transfer).transfer_id

    @classmethod
    def created_value(cls, transfer: Mapping[str, Any]) -> tuple[str, Any] | None:
        """``(field, raw value)`` of the first non-empty ``created_fields`` entry, or ``None``."""
        for name in cls.created_fields:
            value = transfer.get(name)
            if value not in (None, ""):
                return name, value
        return None

    # ------------------------------------------------------------------ status protocol

    @abc.abstractmethod
    def check_plan(self, ref: Any) -> Plan[TransferCheck]:
        """The reads that check one (validated) transfer, in order, and what they mean: a ``TransferCheck``.

        ``ref`` is this hook's ``TransferRef``. Written once; ``check_ref`` and ``acheck_ref`` run it.
        """

    def check_ref(self, ref: Any) -> TransferCheck:
        """Current status of one (validated) transfer, with its evidence."""
        return drive(self.check_plan(ref), self.send)

    async def acheck_ref(self, ref: Any) -> TransferCheck:
        """``check_ref`` for the event loop (triggers, reconciliation)."""
        return await adrive(self.check_plan(ref), self.asend)

    def send(self, request: Request) -> Any:
        """Send one request through the HTTP policy: every request of a hook passes here (a platform may add
        what a refusal means)."""
        return self.get_conn().request(request)

    async def asend(self, request: Request) -> Any:
        api = await self.aget_conn()
        return await api.arequest(request)

    check_bucket: ClassVar[str] = "default"
    """The rate-limit bucket a status check draws from (the poll budget follows that bucket's rate)."""

    def check_cost(self, ref: Any) -> float:
        """Requests one ``check_ref`` usually costs (the triggerer's poll budget charges it per check)."""
        return 1.0

    def check_transfer(self, transfer: Mapping[str, Any]) -> TransferCheck:
        """Current status of one transfer, given the transfer's own JSON, with its evidence."""
        return self.check_ref(self.transfer_ref(transfer))

    async def acheck_transfer(self, transfer: Mapping[str, Any]) -> TransferCheck:
        """Async twin of ``check_transfer``."""
        return await self.acheck_ref(self.transfer_ref(transfer))

    def get_transfer_status(self, transfer: Mapping[str, Any]) -> TransferStatus:
        return self.check_transfer(transfer).status

    async def aget_transfer_status(self, transfer: Mapping[str, Any]) -> TransferStatus:
        return (await self.acheck_transfer(transfer)).status

    # ------------------------------------------------------------------ stale transfers

    @classmethod
    def check_stale_action(cls, body: Mapping[str, Any]) -> None:
        """Refuse, before any request, a stale-transfer action this platform cannot take.

        ``body`` is the user's ``stale_action_body`` (``{}`` when none). Default: no action exists.
        """
        raise TransferConfigError(f"act_on_stale is not supported for platform {cls.platform!r}")

    def describe_stale_action(self, ref: Any, body: Mapping[str, Any]) -> str:
        """What acting on the stale transfer ``ref`` would do, as a phrase (``update UX... with {...}``)."""
        raise TransferConfigError(f"act_on_stale is not supported for platform {self.platform!r}")

    async def aact_on_stale(self, ref: Any, body: Mapping[str, Any]) -> str:
        """Act on the stale transfer ``ref``; return what was done (``updated UX...; status now failed``)."""
        raise TransferConfigError(f"act_on_stale is not supported for platform {self.platform!r}")

    # ------------------------------------------------------------------ connection test

    @abc.abstractmethod
    def _probe(self) -> str:
        """One real authenticated request; return a success message or raise."""

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's Test button: one real request, and a message that says *what* is wrong."""
        try:
            return True, self._probe()
        except TransferApiError as exc:
            return False, self._explain(exc)
        except TransferTransportError as exc:
            api = self._api
            where = api.base_url if api is not None else "the configured host"
            return False, f"Cannot reach {where}: {exc}"
        except TransferProviderError as exc:
            return False, str(exc)
        finally:
            self.close()

    def _explain(self, exc: TransferApiError) -> str:
        """The Test button's message for an error answer; platforms may word it their own way."""
        if isinstance(exc, TransferAuthError):
            if exc.status_code == 401:
                return f"Bad credentials: {self.platform} rejected the login/password ({exc.message})"
            return f"Credentials accepted but not allowed here (wrong account?): {exc}"
        return f"Unexpected answer from {self.platform}: {exc}"


# --------------------------------------------------------------------------------------------- lookup


def normalize_conn_type(conn_type: str | None) -> str:
    """``twilio-flex`` (URI schemes cannot hold ``_``) and ``Twilio_Flex`` both mean ``twilio_flex``."""
    return (conn_type or "").strip().lower().replace("-", "_")


def _registered(conn_type: str) -> type[TransferHook] | None:
    """The hook class Airflow's providers manager serves ``conn_type`` with, if it is a ``TransferHook``."""
    info = ProvidersManagerTaskRuntime().hooks.get(conn_type)
    if info is None or not info.hook_class_name:
        return None
    module_name, _, class_name = info.hook_class_name.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    return cls if isinstance(cls, type) and issubclass(cls, TransferHook) else None


def transfer_platforms() -> dict[str, type[TransferHook]]:
    """Every connection type whose hook is a ``TransferHook`` (imports every provider's hooks: error paths only)."""
    found = {conn_type: _registered(conn_type) for conn_type in list(ProvidersManagerTaskRuntime().hooks)}
    return {conn_type: cls for conn_type, cls in sorted(found.items()) if cls is not None}


def hook_class_for(conn_type: str | None, *, conn_id: str | None = None) -> type[TransferHook]:
    """The hook class serving ``conn_type``; a clear error naming the supported types otherwise."""
    cls = _registered(normalize_conn_type(conn_type))
    if cls is None:
        where = f"Connection {conn_id!r}" if conn_id else "The connection"
        raise TransferConfigError(
            f"{where} has type {conn_type!r}, which is not a transfer platform; "
            f"supported connection types: {', '.join(transfer_platforms())}"
        )
    return cls


def hook_for_connection(conn: Connection, **kwargs: Any) -> TransferHook:
    """The platform's hook for a loaded connection, built by Airflow's own lookup (``Connection.get_hook``, from
    the providers' ``connection-types``) and handed the connection so it is not fetched again. ``kwargs``:
    ``policy=``, transports for tests."""
    conn_type = normalize_conn_type(conn.conn_type)
    own = conn if conn.conn_type == conn_type else attrs.evolve(conn, conn_type=conn_type)
    try:
        hook = own.get_hook(hook_params={"connection": conn, **kwargs})
    except (AirflowException, TypeError, ImportError):  # an unknown type, or a hook that is no TransferHook
        hook = None
    if not isinstance(hook, TransferHook):
        hook_class_for(conn.conn_type, conn_id=conn.conn_id)  # raises, naming the supported types
        raise TypeError(f"{type(hook).__name__} is not a TransferHook")
    return hook


def get_transfer_hook(conn_id: str, **kwargs: Any) -> TransferHook:
    """Sync lookup (operators, poke): loads the connection with ``BaseHook.get_connection``."""
    return hook_for_connection(BaseHook.get_connection(conn_id), **kwargs)


async def aget_transfer_hook(conn_id: str, **kwargs: Any) -> TransferHook:
    """Async lookup for triggers: ``await BaseHook.aget_connection`` never blocks the event loop."""
    return hook_for_connection(await BaseHook.aget_connection(conn_id), **kwargs)


def _platforms_to_try() -> Iterator[tuple[str, type[TransferHook]]]:
    """This provider's platforms first (already imported), then any other provider's (imported on demand)."""
    from airflow_provider_transfers import get_provider_info

    own = [entry["connection-type"] for entry in get_provider_info()["connection-types"]]
    for conn_type in own:
        if (cls := _registered(conn_type)) is not None:
            yield conn_type, cls
    yield from ((ct, cls) for ct, cls in transfer_platforms().items() if ct not in own)


def platform_of(transfer: Any) -> str | None:
    """The connection type of the first platform whose hook accepts ``transfer``'s reference, if any."""
    for conn_type, cls in _platforms_to_try():
        try:
            cls.transfer_ref(transfer)
        except (TransferValidationError, TypeError):
            continue
        return conn_type
    return None


def check_for_any_platform(transfers: list[dict[str, Any]], field: str = "transfer") -> None:
    """Parse-time check, before the connection (so the platform) is known: some platform's hook accepts
    every transfer. The platform's own hook checks again at run time, before any request."""
    reasons = []
    for conn_type, cls in _platforms_to_try():
        try:
            for item in transfers:
                cls.transfer_ref(item)
        except TransferValidationError as exc:
            reasons.append(f"{conn_type}: {exc}")
            continue
        return
    raise TransferValidationError(field, "a transfer JSON object of a supported platform", "; ".join(reasons))
