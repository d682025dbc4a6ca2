"""Early checks of operator arguments: literal values are checked when the DAG is parsed.

A value that is still a Jinja template (or an XComArg) is checked after rendering, by the hook,
before any request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def is_literal(value: Any) -> bool:
    """True for values that will not change at render time (no Jinja, no XComArg)."""
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    return value is None or isinstance(value, int | float | bool | dict | list | tuple)


def check_if_literal(value: Any, check: Callable[[Any], Any]) -> None:
    if is_literal(value):
        check(value)
