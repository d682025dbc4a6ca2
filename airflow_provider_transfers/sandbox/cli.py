"""``python -m airflow_provider_transfers.sandbox``: serve both APIs and print the connection exports;
``... sandbox seed ...`` creates transfers in a running sandbox (:mod:`.seed`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow_provider_transfers.sandbox.config import DELETED_STYLES, VOIPBIN_WIRES, SandboxConfig
from airflow_provider_transfers.sandbox.server import ensure_loopback, serve_forever

DEFAULT_SPEC_DIR = Path("tests") / "contract" / "specs"
"""Used by ``--validate`` without ``--spec-dir`` when run from a checkout of the repository."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_transfers.sandbox",
        description="Offline emulator of the Twilio Flex and VoIPbin transfer APIs. Prints shell export "
        "lines for AIRFLOW_CONN_TWILIO_FLEX_DEFAULT, AIRFLOW_CONN_VOIPBIN_DEFAULT and TRANSFER_SANDBOX_URL. "
        "'... sandbox seed --help': create transfers in a running sandbox.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 = a free one, the default)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every API response")
    parser.add_argument(
        "--rate-limit",
        default="twilio=20,voipbin=16.7",
        help="requests/s: 'twilio=20,voipbin=16.7' (the platforms' limits, default) or 'off'",
    )
    parser.add_argument(
        "--faults",
        default="",
        help="fault rates, e.g. '429=0.05,500=0.02,502=0.01,503=0.01,reset=0.01,slow=0.01,malformed=0.01'",
    )
    parser.add_argument("--retry-after", choices=("on", "off"), default="on", help="Retry-After on 429")
    parser.add_argument("--seed", type=int, default=0, help="seed for lifecycle, faults and ids")
    parser.add_argument("--slow-delay-s", type=float, default=35.0, help="how long a 'slow' fault holds")
    parser.add_argument("--success-rate", type=float, default=0.8, help="share of transfers that complete")
    parser.add_argument(
        "--transfer-delay",
        default="1-3",
        help="seconds until a transfer resolves, drawn uniformly from MIN-MAX (default 1-3)",
    )
    parser.add_argument(
        "--voipbin-wire",
        choices=VOIPBIN_WIRES,
        default=None,
        help="VoIPbin wire format: 'current' (RFC 3339, the server since February 2026; default) or 'legacy' "
        "(2006-01-02 15:04:05.000000 timestamps, the 9999-01-01 sentinel, an empty 401 without credentials)",
    )
    parser.add_argument(
        "--deleted-style", choices=DELETED_STYLES, default="sentinel", help="legacy wire: unset VoIPbin tm_*"
    )
    parser.add_argument("--validate", action="store_true", help="validate responses against --spec-dir")
    parser.add_argument(
        "--spec-dir", default=None, help="directory with the OpenAPI files (default: ./tests/contract/specs)"
    )
    parser.add_argument(
        "--config-json",
        default=None,
        help="a JSON object of SandboxConfig fields, applied over the other options (used by SandboxProcess)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    low, _, high = args.transfer_delay.partition("-")
    changes: dict[str, Any] = {
        "latency_ms": args.latency_ms,
        "rate_limit": args.rate_limit,
        "faults": args.faults,
        "retry_after": args.retry_after == "on",
        "seed": args.seed,
        "slow_delay_s": args.slow_delay_s,
        "success_rate": args.success_rate,
        "transfer_delay_min_s": float(low),
        "transfer_delay_max_s": float(high or low),
        "deleted_style": args.deleted_style,
    }
    if args.voipbin_wire:
        changes["voipbin_wire"] = args.voipbin_wire
    if args.validate:
        changes["validate_responses"] = True
    if args.spec_dir:
        changes["spec_dir"] = args.spec_dir
    elif args.validate and not os.environ.get("TRANSFER_SANDBOX_SPEC_DIR") and DEFAULT_SPEC_DIR.is_dir():
        changes["spec_dir"] = str(DEFAULT_SPEC_DIR.resolve())
    if args.config_json:
        extra = json.loads(args.config_json)
        if not isinstance(extra, dict):
            raise ValueError("--config-json must be a JSON object")
        changes.update(extra)
    return SandboxConfig.from_env(**changes)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["seed"]:
        from airflow_provider_transfers.sandbox import seed

        return seed.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        ensure_loopback(args.host)
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(config, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
