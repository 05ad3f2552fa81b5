"""Starting the real start command (`python -m src.cli dev`) as a process."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_service(
    database_url: str,
    key_file: Path,
    output: int | IO[bytes] = subprocess.DEVNULL,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Run the start command on a free port; return it once `/readyz` answers 200."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "src.cli", "dev", "--port", str(port), "--key-file", str(key_file)],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            stop_service(process)
            raise AssertionError("the service exited before it was ready")
        if time.monotonic() > deadline:
            stop_service(process)
            raise AssertionError("the service was not ready in 30 s")
        time.sleep(0.2)


def stop_service(process: subprocess.Popen[bytes]) -> str:
    """Ctrl-C, as a person would; return what it printed (when it was captured)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=20)[0]
    return output.decode() if output else ""
