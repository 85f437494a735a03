"""The fault drills' system: the processes a deployment runs, started for real on loopback against
the test database: gunicorn (2 workers, 4 threads each), a Celery worker, beat, and a Redis of the
drill's own (cache and broker) that a drill may stop without touching anyone else's.

Each drill prints what it did and what it checked; `make drills` shows it (pytest -s)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group, User

from tests.conftest import free_port
from tests.http_client import Session
from tests.processes import (
    BIN,
    ROOT,
    Process,
    answers,
    celery_beat,
    celery_worker,
    logs,
    process_env,
    redis_server,
    supervised,
    wait_for,
)

PASSWORD = "drill: correct horse battery staple"
RUN: list[Drill] = []


class Drill:
    """A drill's account of itself, printed as it goes and summed up in a table at the end."""

    def __init__(self, name: str) -> None:
        self.name = name
        # "tests/drills/test_x.py::test_y (call)": which test's outcome is this drill's.
        self.nodeid = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
        self.started = time.monotonic()
        self.seconds = 0.0
        self.actions = 0
        self.checks = 0
        self.outcome = "not finished"
        RUN.append(self)
        self._print(f"\nDRILL  {name}")

    def did(self, text: str) -> None:
        self.actions += 1
        self._print(f"  did      {text}")

    def checked(self, text: str) -> None:
        self.checks += 1
        self._print(f"  checked  {text}")

    @staticmethod
    def _print(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VAR_DIR of the drills' processes, with the static files collected once, as a deployment
    does before it starts its web servers."""
    folder = tmp_path_factory.mktemp("drill-var")
    env = {key: value for key, value in process_env().items() if key != "DATABASE_URL"}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "--verbosity=0"],
        cwd=ROOT,
        env={**env, "VAR_DIR": str(folder)},
        check=True,
    )
    return folder


@dataclass
class System:
    tmp: Path
    env: dict[str, str]
    redis_port: int
    web_port: int
    processes: list[Process] = field(default_factory=list)
    redis: Process | None = None

    def _start(self, process: Process) -> Process:
        self.processes.append(process.start())
        return process

    def start_redis(self) -> None:
        self.redis = self._start(redis_server(self.tmp, self.redis_port))
        wait_for(lambda: answers(self.redis_port), timeout=10, what="the drill's Redis")

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.kill()
        wait_for(lambda: not answers(self.redis_port), timeout=10, what="Redis to stop")

    def start_web(self) -> Process:
        args = [
            str(BIN / "gunicorn"),
            "crm.wsgi",
            "--workers=2",
            "--worker-class=gthread",
            "--threads=4",
            f"--bind=127.0.0.1:{self.web_port}",
            "--timeout=60",
            "--graceful-timeout=5",
        ]
        web = self._start(Process("web", args, self.env, self.tmp / "web.log"))
        wait_for(lambda: answers(self.web_port), timeout=30, what="gunicorn to listen")
        return web

    def start_worker(self, name: str = "worker", *, supervise: bool = True) -> Process:
        """A worker as production runs it: under a supervisor that restarts it if it exits
        (Celery can stop on a broker connection lost at the wrong moment)."""
        worker = celery_worker(self.tmp, name, self.env, concurrency=2)
        return self._start(supervised(worker) if supervise else worker)

    def restarts(self, name: str = "worker") -> int:
        """How many times the supervisor had to start the worker again."""
        return (self.tmp / f"{name}.log").read_text(errors="replace").count("supervisor: exited")

    def start_beat(self) -> Process:
        return self._start(celery_beat(self.tmp, self.env))

    def session(self, user: User) -> Session:
        session = Session(self.web_port, timeout=60)
        session.sign_in(user.username, PASSWORD)
        return session

    def anonymous(self) -> Session:
        return Session(self.web_port, timeout=60)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


@pytest.fixture
def system(
    tmp_path: Path, var_dir: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., System]]:
    started: list[System] = []

    def start(**env: str) -> System:
        redis_port, web_port = free_port(), free_port()
        environment = process_env(
            CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
            REDIS_URL=f"redis://127.0.0.1:{redis_port}/1",
            VAR_DIR=str(var_dir),
            ALLOWED_HOSTS="127.0.0.1",
            SITE_URL=f"http://127.0.0.1:{web_port}",
            SECURE_COOKIES="false",
            SECURE_HSTS_SECONDS="0",
            LOG_LEVEL="INFO",
            **env,
        )
        system = System(tmp_path, environment, redis_port, web_port)
        started.append(system)
        system.start_redis()
        return system

    yield start
    for system in started:
        system.stop()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        sys.stdout.write(logs(tmp_path))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    # The processes' logs explain a failed drill; the fixture prints them when the call failed.
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
    for drill in RUN:
        if drill.nodeid == item.nodeid and report.when == "call":
            drill.outcome = "passed" if report.passed else "FAILED"
            drill.seconds = time.monotonic() - drill.started


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The drills' table, printed last and kept in bench/drills.md with the machine it ran on."""
    if not RUN:
        return
    from bench.run import machine

    lines = [
        "| drill | result | actions | checks | seconds |",
        "|---|---|---|---|---|",
        *(f"| {d.name} | {d.outcome} | {d.actions} | {d.checks} | {d.seconds:.0f} |" for d in RUN),
    ]
    table = "\n".join(lines)
    terminalreporter.write_line("")
    for line in lines:
        terminalreporter.write_line(line)
    if terminalreporter.config.option.keyword or terminalreporter.config.option.markexpr:
        return  # a partial run does not replace the record of the whole one
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    (ROOT / "bench" / "drills.md").write_text(
        f"# Fault drills\n\nRun {when} on {machine()} (`make drills`; what each did and checked "
        f'is printed as it runs, see README "Fault drills").\n\n{table}\n'
    )


def staff_user(username: str, role: str) -> User:
    """A user the real servers can sign in: their password hashed as production hashes it (the
    test settings' fast hasher is unknown to them)."""
    hasher = PBKDF2PasswordHasher()
    user = User.objects.create(
        username=username,
        email=f"{username}@example.org",
        password=hasher.encode(PASSWORD, hasher.salt()),
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def postgresql_cluster() -> tuple[str, str]:
    """This machine's PostgreSQL cluster (version, name), which the drills stop and start."""
    if not shutil.which("pg_ctlcluster"):
        pytest.fail("the PostgreSQL drill needs pg_ctlcluster (Debian's PostgreSQL) here")
    host = settings.DATABASES["default"]["HOST"]
    if host not in {"127.0.0.1", "localhost", "::1", ""}:
        pytest.fail(f"the PostgreSQL drill restarts the local server; the tests use {host}")
    versions = sorted(path.name for path in Path("/etc/postgresql").iterdir())
    return versions[-1], "main"


@pytest.fixture(autouse=True)
def _quiet_smtp_server() -> Iterator[None]:
    # aiosmtpd logs every SMTP command at INFO: noise between the drills' own lines.
    import logging

    logger = logging.getLogger("mail.log")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)
