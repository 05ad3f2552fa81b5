"""`python -m src.cli` commands as processes forked from one that has imported it already, so
a test can run many and kill each at a chosen point of its work.

Importing the command line takes seconds on a slow machine (FastAPI, SQLAlchemy, Alembic...),
far longer than a retention run's work: a test killing fresh processes at random points would
mostly kill imports, and pay those seconds for every run. The zygote (`python -m
tests.support.forked_cli`) imports `src.cli` once, single-threaded; each command is a fork of it
that runs `src.cli.app()` with the command's arguments as `sys.argv` (what `python -m src.cli
<args>` runs once imported), in the environment the API process gets, its stdout in a file.
The zygote is the forks' parent: it kills and reaps them on request, so no pid is ever
signalled after it could have been reused.
"""

import faulthandler
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.api_process import PEPPER, ROOT
from tests.support.tlog import TEST_LOG_SIGNING_KEY


@dataclass(frozen=True)
class Run:
    pid: int
    stdout: Path
    started_at: float  # time.monotonic() when it was forked

    def lines(self) -> list[str]:
        """What the command printed (a killed one: until it died)."""
        return [line for line in self.stdout.read_text().splitlines() if line]


class ForkingCli:
    """The zygote process; `start()` it early, then `run(...)` commands from it."""

    def __init__(self, database_url: str, directory: Path, **settings: str) -> None:
        self.database_url = database_url
        self.directory = directory
        self.log_file = directory / "cli.log"  # the zygote's and every command's stderr
        self.settings = settings
        self.process: subprocess.Popen[str] | None = None
        self.runs = 0

    def start(self) -> "ForkingCli":
        env = {
            **os.environ,
            "ENVIRONMENT": "production",
            "DATABASE_URL": self.database_url,
            "API_KEY_PEPPER": PEPPER,
            "LOG_SIGNING_KEY": TEST_LOG_SIGNING_KEY,
            "LOG_LEVEL": "WARNING",
            "TYPER_STANDARD_TRACEBACK": "1",  # a failure's traceback: rich's takes seconds
            **{name.upper(): value for name, value in self.settings.items()},
        }
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.forked_cli"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        return self

    def wait_ready(self) -> None:
        """Block until the zygote has imported the command line."""
        self._reply()

    def run(self, *args: str) -> Run:
        """Fork `python -m src.cli <args>` now."""
        self.runs += 1
        stdout = self.directory / f"cli-{self.runs}.out"
        reply = self._ask(run=list(args), stdout=str(stdout))
        return Run(reply["pid"], stdout, time.monotonic())

    def running(self, run: Run) -> bool:
        return bool(self._ask(poll=run.pid)["running"])

    def kill(self, run: Run) -> bool:
        """SIGKILL it; whether it was still running (False: it had exited by itself)."""
        return bool(self._ask(kill=run.pid)["killed"])

    def wait(self, run: Run, timeout: float) -> int:
        """Its exit code (negative: the signal that killed it); if it does not end within
        `timeout`, it dumps its stacks into the log and is killed, and the test fails."""
        reply = self._ask(wait=run.pid, timeout=timeout)
        if reply["hung"]:
            raise AssertionError(f"the command did not end in {timeout} s:\n{self.log()}")
        code: int = reply["code"]
        return code

    def stop(self) -> None:
        """End the zygote (after killing any command still running)."""
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")[-4000:]

    def _ask(self, **request: Any) -> dict[str, Any]:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._reply()

    def _reply(self) -> dict[str, Any]:
        assert self.process is not None
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the CLI zygote died:\n{self.log()}")
        reply: dict[str, Any] = json.loads(line)
        return reply


# The zygote.

_exited: dict[int, int] = {}  # pid -> exit code, once reaped
_children: set[int] = set()


def _reap(pid: int, *, block: bool = False) -> bool:
    """Whether the child has exited (its code then in `_exited`)."""
    if pid in _exited:
        return True
    done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    if done == 0:
        return False
    _exited[pid] = os.waitstatus_to_exitcode(status)
    _children.discard(pid)
    return True


def _fork(args: list[str], stdout: str) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        _children.add(pid)
        return pid
    # The child: stdin from nowhere, stdout to its file, stderr shared with the zygote's.
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.close(null)
    os.close(out)
    import src.cli

    sys.argv = ["python -m src.cli", *args]
    src.cli.app()  # exits the process, as `python -m src.cli` does (SystemExit)
    raise SystemExit(0)


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    if "run" in request:
        return {"pid": _fork(request["run"], request["stdout"])}
    if "poll" in request:
        return {"running": not _reap(request["poll"])}
    if "kill" in request:
        pid = request["kill"]
        alive = not _reap(pid)
        if alive:
            os.kill(pid, signal.SIGKILL)  # not reaped yet: the pid is still this child's
            _reap(pid, block=True)
        return {"killed": alive, "code": _exited[pid]}
    pid, deadline = request["wait"], time.monotonic() + request["timeout"]
    while not _reap(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGUSR1)  # faulthandler: its stacks into the log
            time.sleep(0.5)
            os.kill(pid, signal.SIGKILL)
            _reap(pid, block=True)
            return {"hung": True, "code": _exited[pid]}
        time.sleep(0.005)
    return {"hung": False, "code": _exited[pid]}


def _main() -> None:
    faulthandler.register(signal.SIGUSR1)  # the forks inherit it
    import src.cli  # noqa: F401  # the slow part, once

    print("{}", flush=True)  # ready
    try:
        while line := sys.stdin.readline():
            print(json.dumps(_answer(json.loads(line))), flush=True)
    finally:
        if os.getpid() == _zygote:  # not in a fork leaving through here
            for pid in list(_children):
                os.kill(pid, signal.SIGKILL)
                _reap(pid, block=True)


_zygote = os.getpid()

if __name__ == "__main__":
    _main()
