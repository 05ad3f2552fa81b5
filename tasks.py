#!/usr/bin/env python3
"""Trailmark's two commands, on any machine with Python 3.11+:

    python3 tasks.py start   # the API on http://127.0.0.1:8000 with an embedded PostgreSQL
    python3 tasks.py test    # the whole test suite (embedded PostgreSQL, or TEST_DATABASE_URL)
    python3 tasks.py test tests/unit -x  # some tests: pytest's arguments
    python3 tasks.py cli ... # the command line, e.g. `python3 tasks.py cli keys list`
    python3 tasks.py fake-openai  # a local OpenAI-compatible fake, to try the AI endpoints
    python3 tasks.py bench   # the benchmark: JSON on stdout (`--smoke`: a quick check)

Both install `uv` if it is missing (into .tools/, from PyPI), then sync the locked
dependencies into .venv/ before running. Only the standard library is used here.
"""

import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
UV_VERSION = "0.13.9"
TOOLS = ROOT / ".tools"


def _uv() -> str:
    """The path of a `uv` executable, installing one into .tools/ if none is on PATH."""
    found = shutil.which("uv")
    if found:
        return found
    bindir = TOOLS / ("Scripts" if os.name == "nt" else "bin")
    local = bindir / ("uv.exe" if os.name == "nt" else "uv")
    if not local.exists():
        print(f"installing uv {UV_VERSION} into {TOOLS} ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        python = bindir / ("python.exe" if os.name == "nt" else "python")
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"uv=={UV_VERSION}",
            ],
            check=True,
        )
    return str(local)


# The whole suite: everything but the contract tests in parallel (a process per CPU, each
# with its own database; a file's tests stay in one process, so a module's server starts
# once), then the contract tests alone: schemathesis's per-operation tests do not survive
# pytest-xdist (they collapse into one test that checks nothing), so they never run under it.
# Coverage adds up over both.
PARALLEL = ["-n", "auto", "--dist", "loadfile"]
SUITE = [
    ["pytest", *PARALLEL, "--ignore=tests/contract", "--cov", "--cov-report="],
    ["pytest", "tests/contract", "--cov", "--cov-append", "--cov-report=term"],
]


def _run(*commands: list[str]) -> int:
    """Each command in turn with the locked dependencies; the first failure's exit code."""
    uv = _uv()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run([uv, "sync", "--frozen", "--quiet"], cwd=ROOT, check=True, env=env)
    # Ctrl-C reaches the child directly (same process group); this process waits for it to
    # shut down cleanly (the API, then the embedded PostgreSQL) instead of killing it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for args in commands:
        child = subprocess.Popen([uv, "run", "--frozen", "--no-sync", *args], cwd=ROOT, env=env)
        code = child.wait()
        if code != 0:
            return code
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["test"] and len(argv) == 1:
        return _run(*SUITE)
    commands = {
        "start": ["python", "-m", "src.cli", "dev"],
        "test": ["pytest", "--cov", "--cov-report=term"],  # with arguments: just those tests
        "cli": ["python", "-m", "src.cli"],
        "fake-openai": ["python", "-m", "tests.support.fake_openai"],
        "bench": ["python", "-m", "bench"],
    }
    if not argv or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return _run(commands[argv[0]] + argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
