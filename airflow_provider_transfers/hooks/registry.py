"""Platform-neutral hook lookup: the platform is the connection's ``conn_type``.

Sensors, triggers, the waiting operators and reconciliation take only a connection id; this module
turns it into the right ``TransferHook``. Hook modules are imported lazily, so importing this module
stays cheap. A third platform is one hook module (a ``TransferHook`` subclass) plus one call::

    from airflow_provider_transfers.hooks.registry import register_hook

    register_hook("acme_cc", "acme_transfers.hook.AcmeHook")

made wherever the process imports it first (the plugin or provider package that ships the hook, or a
DAG file's import). The fetched ``Connection`` is handed to the hook (``connection=``) so it is not
fetched a second time.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseHook, Connection

from airflow_provider_transfers.exceptions import TransferConfigError, TransferValidationError
from airflow_provider_transfers.hooks.base import TransferHook

HOOK_CLASSES: dict[str, str] = {
    "twilio_flex": "airflow_provider_transfers.hooks.twilio_flex.TwilioFlexHook",
    "voipbin": "airflow_provider_transfers.hooks.voipbin.VoipbinHook",
}
"""``conn_type`` -> dotted path of the hook class."""


def register_hook(conn_type: str, dotted_path: str) -> None:
    """Serve connections of ``conn_type`` with the ``TransferHook`` subclass at ``dotted_path``.

    The class is imported on first use. Registering a type again replaces its hook.
    """
    key = normalize_conn_type(conn_type)
    module_name, _, class_name = dotted_path.rpartition(".")
    if not key or not module_name or not class_name:
        raise ValueError(
            f"register_hook needs a connection type and a dotted class path; got {conn_type!r}, {dotted_path!r}"
        )
    HOOK_CLASSES[key] = dotted_path


def supported_conn_types() -> list[str]:
    return sorted(HOOK_CLASSES)


def normalize_conn_type(conn_type: str | None) -> str:
    """``twilio-flex`` (URI schemes cannot hold ``_``) and ``Twilio_Flex`` both mean ``twilio_flex``."""
    return (conn_type or "").strip().lower().replace("-", "_")


def hook_class_for(conn_type: str | None, *, conn_id: str | None = None) -> type[TransferHook]:
    """The hook class serving ``conn_type``; a clear error naming the supported types otherwise."""
    key = normalize_conn_type(conn_type)
    path = HOOK_CLASSES.get(key)
    if path is None:
        where = f"Connection {conn_id!r}" if conn_id else "The connection"
        raise TransferConfigError(
            f"{where} has type {conn_type!r}, which is not a transfer platform; "
            f"supported connection types: {', '.join(supported_conn_types())}"
        )
    module_name, _, class_name = path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, TransferHook)):
        raise TypeError(f"{path} is not a TransferHook")
    return cls


def hook_for_connection(conn: Connection, **kwargs: Any) -> TransferHook:
    """A hook for an already loaded connection (no further lookup)."""
    cls = hook_class_for(conn.conn_type, conn_id=conn.conn_id)
    return cls(conn.conn_id, connection=conn, **kwargs)


def get_transfer_hook(conn_id: str, **kwargs: Any) -> TransferHook:
    """Sync lookup (operators, poke): loads the connection with ``BaseHook.get_connection``.

    ``kwargs`` go to the hook's constructor (``policy=...``, transports for tests).
    """
    return hook_for_connection(BaseHook.get_connection(conn_id), **kwargs)


async def aget_transfer_hook(conn_id: str, **kwargs: Any) -> TransferHook:
    """Async lookup for triggers: ``await BaseHook.aget_connection`` never blocks the event loop."""
    return hook_for_connection(await BaseHook.aget_connection(conn_id), **kwargs)


def validate_for_any_platform(transfers: Sequence[Mapping[str, Any]], field: str = "transfer") -> None:
    """Parse-time check, before the connection (so the platform) is known: some platform's hook must
    accept every transfer. The platform's own hook checks again at run time, before any request."""
    reasons = []
    for conn_type in supported_conn_types():
        try:
            cls = hook_class_for(conn_type)
        except ImportError:
            continue
        try:
            for item in transfers:
                cls.transfer_ref(item)
        except TransferValidationError as exc:
            reasons.append(f"{conn_type}: {exc}")
            continue
        return
    if reasons:
        raise TransferValidationError(field, "a transfer JSON object of a supported platform", "; ".join(reasons))
