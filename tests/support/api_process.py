"""The API as a real server process (`python -m src.cli serve`), which a test can kill."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.tlog import TEST_LOG_SIGNING_KEY

ROOT = Path(__file__).resolve().parents[2]
PEPPER = "fault-test-pepper-not-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ApiProcess:
    """One uvicorn worker serving the app on a free port of 127.0.0.1."""

    def __init__(self, database_url: str, log_file: Path, **settings: str) -> None:
        self.database_url = database_url
        self.log_file = log_file
        self.settings = settings
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "ApiProcess":
        """Start it and wait until `/healthz` answers (readiness may depend on the database)."""
        env = {
            **os.environ,
            "ENVIRONMENT": "production",
            "DATABASE_URL": self.database_url,
            "API_KEY_PEPPER": PEPPER,
            "LOG_SIGNING_KEY": TEST_LOG_SIGNING_KEY,
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "false",
            **{name.upper(): value for name, value in self.settings.items()},
        }
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "src.cli", "serve", "--port", str(self.port), "--workers=1"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                raise AssertionError(f"the API exited at start:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the API did not answer in 30 s:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")[-4000:]

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, open transactions die with the connections."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)
