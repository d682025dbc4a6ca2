"""What the cluster tier reads back: task instances, what the triggerers logged per trigger, which
triggerer job is which host, the gaps between checks in the sandbox's request log, RSS per process,
and the figures printed at the end of the session."""

from __future__ import annotations

import bisect
import itertools
import json
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.cluster.sandbox import Request
from tests.harness.airflow import AirflowDeployment
from tests.harness.processes import Component
from tests.harness.runs import WatchedRun

FIRED = "Trigger fired event"
FIGURES: list[str] = []
"""Lines for the session's closing summary (``conftest.pytest_terminal_summary``)."""


def figure(line: str) -> None:
    FIGURES.append(line)


def mapped(run: WatchedRun, task_id: str) -> dict[int, dict[str, Any]]:
    """The run's task instances of ``task_id`` by map index (as last polled)."""
    return {ti["map_index"]: ti for ti in run.task_instances if ti["task_id"] == task_id}


@dataclass
class TriggerLog:
    """What the triggerers logged for one task instance's trigger, each event tagged with ``host``."""

    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fired(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == FIRED]

    @property
    def started(self) -> list[dict[str, Any]]:
        return [e for e in self.events if str(e.get("event", "")).endswith(" starting")]


# A trigger's name is "<dag_id>/<run_id>/<task_id>/<map_index>/<try_number> (ID <trigger id>)".
_STARTING = re.compile(r"^(?P<timestamp>\S+) \[\w+\s*\] (?P<event>trigger (?P<name>\S+) \(ID \d+\) starting)")
_FIRED = re.compile(r"^(?P<timestamp>\S+) \[\w+\s*\] (?P<event>Trigger fired event) .* name='(?P<name>\S+) \(ID \d+\)' "
                    r'result="(?P<result>.*)" run_id=')  # fmt: skip


def trigger_logs(
    deployment: AirflowDeployment, run: WatchedRun, task_id: str, hosts: dict[int, str]
) -> dict[int, TriggerLog]:
    """Per map index: what the triggerers logged for the task's triggers.

    A triggerer writes a trigger's lines to ``<task log>.trigger.<job id>.log`` (``hosts``: job id ->
    host), and now and then to its own log instead (``<host>.log``): both are read.
    """
    folder = deployment.logs / "tasks" / f"dag_id={run.dag_id}" / f"run_id={run.run_id}" / f"task_id={task_id}"
    logs: dict[int, TriggerLog] = {}
    for path in sorted(folder.glob("map_index=*/*.trigger.*.log")):
        index = int(path.parent.name.split("=", 1)[1])
        host = hosts[int(path.name.rsplit(".", 2)[-2])]
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                logs.setdefault(index, TriggerLog()).events.append({**json.loads(line), "host": host})
    for path in sorted(deployment.logs.glob("triggerer-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            match = _FIRED.match(line) or _STARTING.match(line)
            if match is None:
                continue
            dag_id, run_id, task, index = match["name"].split("/")[:4]
            if (dag_id, run_id, task) == (run.dag_id, run.run_id, task_id):
                event = {**match.groupdict(), "host": path.stem}
                logs.setdefault(int(index), TriggerLog()).events.append(event)
    for log in logs.values():
        log.events.sort(key=lambda e: str(e.get("timestamp", "")))
    return logs


def transfer_checks(requests: Iterable[Request], sids: set[str]) -> dict[str, list[Request]]:
    """Per Twilio transfer SID: the ``GET`` requests for it (each a check, or a retry of one), in order."""
    checks: dict[str, list[Request]] = {}
    for request in requests:
        sid = request.path.rsplit("/", 1)[-1]
        if request.method == "GET" and sid in sids:
            checks.setdefault(sid, []).append(request)
    return checks


@dataclass(frozen=True)
class Gaps:
    """Gaps between two answered checks of one transfer by the triggerers, against the account's
    round-robin interval ``max(N / rate, poll_interval)``, N = waits being checked when the gap began."""

    ratios: list[tuple[float, float, int]]
    """(gap / interval, gap in seconds, N), sorted."""

    @property
    def worst(self) -> tuple[float, float, int]:
        return self.ratios[-1] if self.ratios else (0.0, 0.0, 0)

    @property
    def p99(self) -> float:
        return self.ratios[int(0.99 * (len(self.ratios) - 1))][0] if self.ratios else 0.0


def trigger_gaps(checks: dict[str, list[Request]], rate: float, poll_interval: float) -> Gaps:
    """The first check of each transfer is the sensor's, on a worker, before it defers: left out. A wait
    counts as being checked from its trigger's first check to its last."""
    answered = {sid: [r.t for r in found if r.status != "429"][1:] for sid, found in checks.items()}
    starts = sorted(times[0] for times in answered.values() if times)
    ends = sorted(times[-1] for times in answered.values() if times)
    ratios = []
    for times in answered.values():
        for a, b in itertools.pairwise(times):
            n = bisect.bisect_right(starts, a) - bisect.bisect_left(ends, a)
            ratios.append(((b - a) / max(n / rate, poll_interval), b - a, n))
    return Gaps(sorted(ratios))


def share_429(requests: Iterable[Request]) -> tuple[int, int]:
    """(requests answered 429, all requests)."""
    statuses = Counter(r.status for r in requests)
    return statuses["429"], sum(statuses.values())


class RssSampler:
    """Peak RSS (the process and its descendants) of each component, sampled every 0.5 s in a thread."""

    def __init__(self, components: dict[str, Component]) -> None:
        self.components = components
        self.peak_mb: dict[str, float] = dict.fromkeys(components, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, component in self.components.items():
                self.peak_mb[key] = max(self.peak_mb[key], rss_mb(component))
            self._stop.wait(0.5)


def rss_mb(component: Component) -> float:
    total = 0
    if not component.alive():
        return 0.0
    for process in [psutil.Process(component.pid), *component.descendants()]:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
