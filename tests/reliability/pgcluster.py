"""A private, throw-away PostgreSQL cluster (initdb + pg_ctl) that a test may stop and restart
without touching the machine's shared server."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest


def _binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    override = os.environ.get("GUARD_PG_BIN")
    if override:
        return Path(override)
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PgCluster:
    """One cluster in its own folder, on 127.0.0.1:`port`, trust authentication."""

    bin: Path
    folder: Path
    port: int
    run_as: str | None  # a non-root user to run the server as (PostgreSQL refuses root)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}\n{tail}"
            )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"),
            "-w", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`immediate`: as after a crash, no shutdown checkpoint)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


def start_private_cluster() -> PgCluster:
    """initdb + start a cluster in a fresh folder; skips visibly when the binaries are absent."""
    binaries = _binaries()
    if binaries is None or not (binaries / "initdb").exists():
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin"
            " (set GUARD_PG_BIN): the database outage test needs a private cluster to stop"
        )
    run_as: str | None = None
    folder = Path(tempfile.mkdtemp(prefix="guard-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder, ignore_errors=True)
            pytest.skip("running as root and no 'postgres' user to run a private cluster as")
        if shutil.which("runuser") is None:
            shutil.rmtree(folder, ignore_errors=True)
            pytest.skip("running as root and runuser is absent: cannot start a private cluster")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        run_as = "postgres"
    cluster = PgCluster(binaries, folder, _free_port(), run_as)
    try:
        cluster.init()
        cluster.start()
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return cluster


def remove_cluster(cluster: PgCluster) -> None:
    try:
        if cluster.running():
            cluster.stop()
    finally:
        shutil.rmtree(cluster.folder, ignore_errors=True)
