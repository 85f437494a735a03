"""Real processes for end-to-end tests: Celery workers and beat on the test database, and a
Redis server of the test's own that it may stop and start."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def database_url_of_tests() -> str:
    """The database pytest-django created, for processes started by a test."""
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update(
        {
            "DATABASE_URL": database_url_of_tests(),
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            # Every process signs with the same key (unsubscribe links), as in production.
            "SECRET_KEY": settings.SECRET_KEY,
            "IMPORT_DIR": str(settings.IMPORT_DIR),
        }
    )
    env.update(overrides)
    return env


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = field(default=None)

    def start(self) -> Process:
        handle = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, as when a machine dies."""
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def celery_worker(tmp: Path, name: str, env: dict[str, str], concurrency: int = 4) -> Process:
    args = [
        str(BIN / "celery"),
        "-A",
        "crm",
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency}",
    ]
    args += ["--without-mingle", "--without-gossip", "--loglevel=INFO", f"--hostname={name}@%h"]
    return Process(name, args, env, tmp / f"{name}.log")


# What systemd's Restart=always or a container's restart policy does for a worker in production.
SUPERVISOR = (
    'while true; do "$@"; echo "supervisor: exited with status $?, restarting"; sleep 1; done'
)


def supervised(process: Process) -> Process:
    """The process under a supervisor that starts it again whenever it exits. Stopping or
    killing it stops both: they share a process group."""
    process.args = ["bash", "-c", SUPERVISOR, "supervisor", *process.args]
    return process


def celery_beat(tmp: Path, env: dict[str, str]) -> Process:
    args = [
        str(BIN / "celery"),
        "-A",
        "crm",
        "beat",
        "--loglevel=INFO",
        f"--schedule={tmp / 'beat-schedule'}",
    ]
    return Process("beat", args, env, tmp / "beat.log")


def redis_server(tmp: Path, port: int) -> Process:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return Process("redis", args, {"PATH": os.environ.get("PATH", "")}, tmp / "redis.log")


def answers(port: int) -> bool:
    """Whether something listens on this loopback port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.2, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")


def logs(directory: Path) -> str:
    """The end of every process log, to explain a timeout."""
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
        for log in sorted(directory.glob("*.log"))
    )
