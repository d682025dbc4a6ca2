"""pytest plugin (entry point ``pytest11``): the ``transfer_sandbox`` fixtures.

* ``transfer_sandbox`` (function scope): a running :class:`~.server.TransferSandbox`, reset before the
  test (resources, counters, clock and settings). One server serves the whole session.
* ``transfer_sandbox_env``: the same, with ``AIRFLOW_CONN_TWILIO_FLEX_DEFAULT``,
  ``AIRFLOW_CONN_VOIPBIN_DEFAULT`` and ``TRANSFER_SANDBOX_URL`` set for the test (monkeypatch).
* ``transfer_sandbox_server`` (session scope): the server itself, without the reset.

Response validation: on when the OpenAPI files are found, in ``TRANSFER_SANDBOX_SPEC_DIR`` or else in
``<rootdir>/tests/contract/specs``; ``TRANSFER_SANDBOX_VALIDATE=0`` turns it off, ``=1`` demands it.
A test during which the sandbox sent a response violating the contract fails at teardown.

VoIPbin wire format: ``--voipbin-wire=legacy`` (or ``TRANSFER_SANDBOX_VOIPBIN_WIRE=legacy``) starts the
session's sandbox speaking VoIPbin's pre-2026 form; a single test switches with
``transfer_sandbox.control.configure(voipbin_wire="legacy")`` (the reset before the next test restores
the session's setting).

Importing this module is cheap (it is loaded into every pytest run of an environment where the
provider is installed); the server modules load when a fixture is first used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_transfers.sandbox.server import TransferSandbox

SPEC_SUBDIR = Path("tests") / "contract" / "specs"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--voipbin-wire",
        choices=("current", "legacy"),
        default=None,
        help="VoIPbin wire format of the transfer sandbox (default: current, or TRANSFER_SANDBOX_VOIPBIN_WIRE)",
    )


def find_spec_dir(rootdir: Path) -> str | None:
    """``TRANSFER_SANDBOX_SPEC_DIR``, else ``<rootdir>/tests/contract/specs`` when it holds the files."""
    from airflow_provider_transfers.sandbox.spec_validation import TWILIO_SPEC_FILE, VOIPBIN_SPEC_FILE

    explicit = os.environ.get("TRANSFER_SANDBOX_SPEC_DIR")
    if explicit:
        return explicit
    candidate = rootdir / SPEC_SUBDIR
    if (candidate / TWILIO_SPEC_FILE).is_file() and (candidate / VOIPBIN_SPEC_FILE).is_file():
        return str(candidate)
    return None


def _validation_wanted(spec_dir: str | None) -> bool:
    flag = os.environ.get("TRANSFER_SANDBOX_VALIDATE", "").strip().lower()
    if flag in _FALSE:
        return False
    if flag in _TRUE and spec_dir is None:
        raise pytest.UsageError(
            "TRANSFER_SANDBOX_VALIDATE=1 but no spec directory: set TRANSFER_SANDBOX_SPEC_DIR "
            f"or provide <rootdir>/{SPEC_SUBDIR.as_posix()}"
        )
    return spec_dir is not None


@pytest.fixture(scope="session")
def transfer_sandbox_server(request: pytest.FixtureRequest) -> Iterator[TransferSandbox]:
    from airflow_provider_transfers.sandbox.config import SandboxConfig
    from airflow_provider_transfers.sandbox.server import TransferSandbox

    spec_dir = find_spec_dir(Path(request.config.rootpath))
    validate = _validation_wanted(spec_dir)
    wire = request.config.getoption("--voipbin-wire", default=None) or os.environ.get(
        "TRANSFER_SANDBOX_VOIPBIN_WIRE", "current"
    )
    config = SandboxConfig(
        validate_responses=validate, spec_dir=spec_dir if validate else None, voipbin_wire=str(wire).strip().lower()
    )
    config.check()
    with TransferSandbox(config) as sandbox:
        yield sandbox


@pytest.fixture
def transfer_sandbox(transfer_sandbox_server: TransferSandbox) -> Iterator[TransferSandbox]:
    sandbox = transfer_sandbox_server
    sandbox.control.reset()
    yield sandbox
    found = sandbox.control.violations()
    if found:
        sandbox.control.clear_violations()
        shown = "\n".join(json.dumps(v, default=str) for v in found[:10])
        pytest.fail(f"the transfer sandbox sent {len(found)} response(s) violating the API contract:\n{shown}")


@pytest.fixture
def transfer_sandbox_env(transfer_sandbox: TransferSandbox, monkeypatch: pytest.MonkeyPatch) -> TransferSandbox:
    for name, value in transfer_sandbox.environ().items():
        monkeypatch.setenv(name, value)
    return transfer_sandbox
