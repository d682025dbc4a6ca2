"""``python -m airflow_provider_transfers.sandbox seed``: create transfers in a running sandbox from a shell.

The sandbox is found at ``--url`` or ``$TRANSFER_SANDBOX_URL`` (which the serving command prints); the seeded
transfers are printed as a JSON array, each as the platform's create endpoint returns it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from airflow_provider_transfers.sandbox.config import PLATFORMS
from airflow_provider_transfers.sandbox.control import SandboxControl
from airflow_provider_transfers.sandbox.handle import URL_ENV
from airflow_provider_transfers.sandbox.lifecycle import OUTCOMES
from airflow_provider_transfers.sandbox.voipbin_state import MASTERS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_transfers.sandbox seed",
        description="Create transfers in a running sandbox and print them as JSON.",
    )
    parser.add_argument("--url", default=None, help=f"the sandbox's URL (default: ${URL_ENV})")
    parser.add_argument("--platform", required=True, choices=PLATFORMS)
    parser.add_argument("--count", type=int, default=1, help="how many transfers (default 1)")
    kinds = "twilio_flex: warm|cold|external; voipbin: blind|attended"
    parser.add_argument("--transfer-type", default=None, help=kinds)
    parser.add_argument("--outcome", choices=OUTCOMES, default=None, help="default: drawn with the success rate")
    parser.add_argument("--delay-s", type=float, default=None, help="seconds until the outcome (default: drawn)")
    parser.add_argument(
        "--auto-complete-after", type=float, default=None, help="voipbin attended: the agent hangs up this long after"
    )
    parser.add_argument("--customer-id", default=None, help="voipbin: owner of the calls (another customer: 403s)")
    parser.add_argument("--master", choices=MASTERS, default=None, help="voipbin: whose call is the master call")
    parser.add_argument(
        "--address",
        action="append",
        default=None,
        metavar="TYPE:TARGET[:TARGET_NAME]",
        help="voipbin: a transferee address, repeatable (default: one tel address)",
    )
    return parser


def _address(text: str) -> dict[str, str]:
    kind, sep, rest = text.partition(":")
    target, _, name = rest.partition(":") if kind != "sip" else (rest, "", "")
    if not sep or not kind or not target:
        raise ValueError(f"--address must be TYPE:TARGET[:TARGET_NAME], got {text!r}")
    return {"type": kind, "target": target, **({"target_name": name} if name else {})}


def _voipbin_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.customer_id:
        options["customer_id"] = args.customer_id
    if args.master:
        options["master"] = args.master
    if args.address:
        options["addresses"] = [_address(a) for a in args.address]
    return options


def main(argv: Sequence[str], out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    url = args.url or os.environ.get(URL_ENV)
    if not url:
        parser.error(f"give --url or set {URL_ENV} (the serving command prints it)")
    try:
        options = _voipbin_options(args)
        control = SandboxControl.from_url(url)
    except (ValueError, RuntimeError) as exc:
        parser.error(str(exc))
    try:
        transfers = control.seed(
            args.platform,
            args.count,
            transfer_type=args.transfer_type,
            outcome=args.outcome,
            delay_s=args.delay_s,
            auto_complete_after=args.auto_complete_after,
            **options,
        )
    except RuntimeError as exc:
        print(f"seed failed: {exc}", file=sys.stderr)
        return 1
    finally:
        control.close()
    print(json.dumps(transfers, indent=2), file=out or sys.stdout)
    return 0
