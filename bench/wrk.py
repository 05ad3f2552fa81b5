"""HTTP throughput and latency from `wrk` (Debian package `wrk`), not from Python.

A Python load generator shares the two cores with the server it measures and bends the
figures; `wrk` is C, an event loop per thread, and costs the server little. Requests come
from a Lua script that cycles through the given paths and bodies.
"""

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CONNECTIONS = 64
THREADS = 2


class WrkMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class WrkResult:
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # answers other than 2xx/3xx, and socket errors


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS_MS[unit]


def parse(output: str) -> WrkResult:
    """The figures of `wrk --latency` output."""

    def find(pattern: str) -> str:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk printed no {pattern!r}:\n{output}")
        return match.group(1)

    errors = sum(
        int(count) for count in re.findall(r"(?:connect|read|write|timeout) (\d+)", output)
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests=int(find(r"^\s*(\d+) requests in")),
        requests_per_s=float(find(r"^Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(find(r"^\s+50%\s+(\S+)")),
        p99_ms=_ms(find(r"^\s+99%\s+(\S+)")),
        errors=errors + (int(non_2xx.group(1)) if non_2xx else 0),
    )


def _lua_string(text: str) -> str:
    """A Lua long string holding `text` exactly (its level chosen so nothing closes it)."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def script(method: str, paths: list[str], bodies: list[str], headers: dict[str, str]) -> str:
    """A wrk Lua script sending `method` to each path in turn, with each body in turn."""
    lines = [
        "local paths = {" + ", ".join(_lua_string(path) for path in paths) + "}",
        "local bodies = {" + ", ".join(_lua_string(body) for body in bodies) + "}",
        "local headers = {"
        + ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items())
        + "}",
        "local n = 0",
        "request = function()",
        "  n = n + 1",
        "  local body = nil",
        "  if #bodies > 0 then body = bodies[(n % #bodies) + 1] end",
        f"  return wrk.format({_lua_string(method)}, paths[(n % #paths) + 1], headers, body)",
        "end",
    ]
    return "\n".join(lines) + "\n"


def run(
    base_url: str,
    paths: list[str],
    *,
    seconds: float,
    method: str = "GET",
    bodies: list[str] | None = None,
    headers: dict[str, str] | None = None,
    connections: int = CONNECTIONS,
) -> WrkResult:
    """`wrk` against the server for `seconds`, the requests cycling through paths and bodies."""
    executable = shutil.which("wrk")
    if executable is None:
        raise WrkMissing("wrk is not installed (Debian package `wrk`; .ci/run installs it)")
    all_headers = dict(headers or {})
    if bodies:
        all_headers.setdefault("Content-Type", "application/json")
    with tempfile.TemporaryDirectory() as scratch:
        lua = Path(scratch) / "requests.lua"
        lua.write_text(script(method, paths, bodies or [], all_headers))
        completed = subprocess.run(
            [
                executable,
                f"--threads={min(THREADS, connections)}",
                f"--connections={connections}",
                f"--duration={max(1, round(seconds))}s",
                "--latency",
                f"--script={lua}",
                base_url,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 60,
        )
    # A script error is printed, not fatal: wrk then sends plain GETs of the base URL and
    # would report their figures as ours. Anything on stderr fails the run.
    if completed.returncode != 0 or completed.stderr.strip():
        raise RuntimeError(f"wrk failed:\n{completed.stdout}{completed.stderr}")
    return parse(completed.stdout)
