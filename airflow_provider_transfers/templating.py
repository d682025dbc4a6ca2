"""Is an argument final when the DAG is parsed, or rendered later?

Operators and sensors check literal arguments at parse time (a typo fails the DAG import, not a run at
3 a.m.) and leave the rest to the check after rendering, before any request. "Rendered later" means a
Jinja template (``{{ ... }}`` or ``{% ... %}``) or an ``XComArg`` anywhere inside the value, however
deeply nested in dicts, lists, tuples or sets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow.sdk import XComArg

from airflow_provider_transfers.validation import MAX_DEPTH as CHECKED_DEPTH
from airflow_provider_transfers.validation import json_depth

MAX_DEPTH = 64
"""Deeper nesting is not looked into; the post-render check (which refuses it) decides."""


def contains_template(value: Any, *, _depth: int = 0) -> bool:
    """True if rendering may change ``value``: a Jinja template or an ``XComArg`` anywhere inside it."""
    if _depth > MAX_DEPTH:
        return True
    if isinstance(value, XComArg):
        return True
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(
            contains_template(k, _depth=_depth + 1) or contains_template(v, _depth=_depth + 1) for k, v in value.items()
        )
    if isinstance(value, list | tuple | set | frozenset):
        return any(contains_template(v, _depth=_depth + 1) for v in value)
    return False


def check_if_literal(value: Any, check: Callable[[Any], Any]) -> None:
    """Run ``check(value)`` now unless some part of ``value`` is rendered later.

    A value nested deeper than ``validation.MAX_DEPTH`` is checked (and refused) now whatever it holds:
    rendering cannot make it shallower, and Airflow's own walk over template fields for ``XComArg``
    references would otherwise die of ``RecursionError`` right after ``__init__``.
    """
    if json_depth(value, CHECKED_DEPTH) > CHECKED_DEPTH or not contains_template(value):
        check(value)
