"""Run wrk and turn its text report into numbers.

The load is always run with one thread (`-t1`), as the issue asks, so the load
generator uses at most one of the machine's two cores. W5's latency probe
(probe.py) is the one caller that asks for more: one thread per connection.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
_DURATION = r"([\d.]+)(us|ms|s|m|h)"


class WrkError(RuntimeError):
    """wrk failed to run or printed something we cannot read."""


@dataclass(frozen=True)
class WrkResult:
    """The numbers of one wrk run."""

    requests: int
    seconds: float
    rps: float
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    non_2xx: int
    socket_errors: dict[str, int] = field(default_factory=dict)
    script_output: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        """Socket errors of any kind plus non-2xx/3xx answers."""
        return self.non_2xx + sum(self.socket_errors.values())

    @property
    def ok_rps(self) -> float:
        """Successful (2xx/3xx) answers per second: wrk's req/s counts fast errors too."""
        if self.requests == 0:
            return 0.0
        return self.rps * (self.requests - self.non_2xx) / self.requests

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for the JSON results (with `ok_rps`)."""
        return {**asdict(self), "ok_rps": self.ok_rps}


def _to_ms(number: str, unit: str) -> float:
    return float(number) * _UNITS_MS[unit]


def parse_wrk_output(text: str) -> WrkResult:
    """Parse the report of `wrk --latency` (plus KEY=VALUE lines from a script's done())."""
    total = re.search(r"(\d+) requests in " + _DURATION, text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not total or not rps:
        raise WrkError(f"cannot read wrk output:\n{text}")
    percentiles = {p: _to_ms(n, u) for p, n, u in re.findall(r"^\s+(50|90|99)%\s+" + _DURATION, text, re.M)}
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    kinds = ("connect", "read", "write", "timeout")
    socket_errors = dict(zip(kinds, map(int, sock.groups()), strict=True)) if sock else dict.fromkeys(kinds, 0)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    script_output = dict(re.findall(r"^BENCH (\w+)=(\S+)$", text, re.M))
    return WrkResult(
        requests=int(total.group(1)),
        seconds=_to_ms(total.group(2), total.group(3)) / 1000.0,
        rps=float(rps.group(1)),
        latency_p50_ms=percentiles.get("50", float("nan")),
        latency_p90_ms=percentiles.get("90", float("nan")),
        latency_p99_ms=percentiles.get("99", float("nan")),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
        script_output=script_output,
    )


def run_wrk(url: str, connections: int, duration_s: float, script: Path | None = None,
            script_args: list[str] | None = None, timeout_s: float = 10.0, threads: int = 1) -> WrkResult:
    """Run `wrk -tT -cN -dD --latency` against `url` (T = 1 unless asked) and parse its report."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--latency",
            f"--timeout={max(1, round(timeout_s))}s"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    if script_args:
        argv += ["--", *script_args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + timeout_s + 30)
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish: {' '.join(argv)}") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk_output(done.stdout)
