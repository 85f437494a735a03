"""The web under load: a production-like server (gunicorn, 2 workers) on PostgreSQL and Redis with
BENCH_WEB_CONTACTS contacts and BENCH_WEB_CONSULTATIONS consultations, and BENCH_WEB_SESSIONS
signed-in sessions on loopback for BENCH_WEB_SECONDS seconds, mixing contact search, contact pages,
consultation logging and the managers' dashboard.

Checked, not only measured: no 5xx answer, and every consultation a session was told was saved is
in the database afterwards. Baseline: the same mix from one session alone, in the same run.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from bench.common import ROOT, Row, own_database
from tests.http_client import Session, SignInError, consultation_form

SESSIONS = int(os.environ.get("BENCH_WEB_SESSIONS", "32"))
SECONDS = float(os.environ.get("BENCH_WEB_SECONDS", "60"))
CONTACTS = int(os.environ.get("BENCH_WEB_CONTACTS", "100000"))
CONSULTATIONS = int(os.environ.get("BENCH_WEB_CONSULTATIONS", "200000"))
BASELINE_SECONDS = float(os.environ.get("BENCH_WEB_BASELINE_SECONDS", "15"))
PASSWORD = secrets.token_urlsafe(16)
PAGES = ("contact search", "contact page", "consultation logged", "dashboard")
TITLE = "Load test"


@dataclass
class Outcome:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    saved: list[str] = field(default_factory=list)  # titles the server said it saved
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, page: str, status: int, seconds: float) -> None:
        with self.lock:
            self.latencies[page].append(seconds)
            self.statuses[status] += 1


def _mix(
    session: Session,
    outcome: Outcome,
    *,
    manager: bool,
    names: list[str],
    contact_ids: list[int],
    union_ids: list[int],
    rng: random.Random,
    deadline: float,
    tag: str,
) -> None:
    number = 0
    while time.perf_counter() < deadline:
        number += 1
        if manager and rng.random() < 0.5:
            page, method, path, body = "dashboard", "GET", "/reports/", None
        else:
            choice = rng.random()
            if choice < 0.4:
                query = urlencode({"q": rng.choice(names)})
                page, method, path, body = "contact search", "GET", f"/contacts/?{query}", None
            elif choice < 0.8:
                contact = rng.choice(contact_ids)
                page, method, path, body = "contact page", "GET", f"/contacts/{contact}/", None
            elif manager:
                page, method, path, body = "dashboard", "GET", "/reports/", None
            else:
                title = f"{TITLE} {tag}-{number}"
                page, method, path = "consultation logged", "POST", "/consultations/new/"
                body = consultation_form(
                    title,
                    format="in_person",
                    position="support",
                    unions=[str(rng.choice(union_ids))],
                    summary="Cross-training on the floor; keep the work here.",
                )
        start = time.perf_counter()
        status, _location, _text = session.request(method, path, body)
        outcome.add(page, status, time.perf_counter() - start)
        if page == "consultation logged" and status == 302:
            with outcome.lock:
                outcome.saved.append(str(body["title"]) if body else "")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server(port: int, folder: Path, database_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": f"http://127.0.0.1:{port}",
        # Plain HTTP on loopback: TLS is the proxy's work in production.
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        "VAR_DIR": str(folder / "var"),
        "LOG_LEVEL": "WARNING",
    }
    # As a deployment does: static files collected once, served by WhiteNoise.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "--verbosity=0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "crm.wsgi",
            "--workers=2",
            "--worker-class=gthread",
            "--threads=4",
            f"--bind=127.0.0.1:{port}",
            "--timeout=120",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "gunicorn.log").open("wb"),
    )
    for _ in range(300):
        try:
            status, _l, _t = Session(port).request("GET", "/healthz")
            if status in (200, 503):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("bench/web: gunicorn did not start; see its log")


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] * 1000 if values else float("nan")
    return statistics.quantiles(values, n=20)[-1] * 1000


def _run_sessions(
    port: int,
    users: list[tuple[str, bool]],
    seconds: float,
    names: list[str],
    ids: list[int],
    unions: list[int],
) -> Outcome:
    outcome = Outcome()
    sessions = []
    for username, _manager in users:
        session = Session(port)
        try:
            session.sign_in(username, PASSWORD)
        except SignInError as error:
            raise SystemExit(f"bench/web: {error}") from None
        session.request("GET", "/consultations/new/")  # the CSRF cookie, as a browser gets it
        sessions.append(session)
    deadline = time.perf_counter() + seconds
    threads = [
        threading.Thread(
            target=_mix,
            args=(session, outcome),
            kwargs={
                "manager": manager,
                "names": names,
                "contact_ids": ids,
                "union_ids": unions,
                "rng": random.Random(number),
                "deadline": deadline,
                "tag": f"{uuid.uuid4().hex[:6]}-{number}",
            },
        )
        for number, (session, (_username, manager)) in enumerate(zip(sessions, users, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome


def run(folder: Path) -> list[Row]:
    # A database of its own: the report benchmark leaves a million consultations in the shared
    # one, and this workload is 200,000.
    with own_database("web") as database_url:
        return _run(folder, database_url)


def _run(folder: Path, database_url: str) -> list[Row]:
    from django.contrib.auth.models import Group, User

    from crm import roles
    from crm.demo import SeedReport, seed_unions
    from crm.models import Contact, Union
    from outreach.models import Consultation
    from outreach.volume import volume_seed

    seed_unions(SeedReport())
    volume_seed(consultations=CONSULTATIONS, contacts=CONTACTS)
    consultations, contacts = Consultation.objects.count(), Contact.objects.count()
    staff_group = Group.objects.get(name=roles.OUTREACH_STAFF)
    manager_group = Group.objects.get(name=roles.MANAGER)
    users = []
    for number in range(SESSIONS):
        manager = number % 4 == 3  # a quarter of the sessions read the dashboard
        user = User.objects.create_user(username=f"load-{number}", password=PASSWORD)
        user.groups.add(manager_group if manager else staff_group)
        users.append((user.username, manager))
    sample = list(Contact.objects.order_by("?").values_list("id", "last_name")[:2000])
    ids = [pk for pk, _name in sample]
    names = sorted({re.split(r"[\s-]", name)[0] for _pk, name in sample if name})
    unions = list(Union.objects.filter(country="DE").values_list("id", flat=True)[:20])
    port = _free_port()
    server = _server(port, folder, database_url)
    try:
        pair = users[3:4] + users[:1]
        alone = _run_sessions(port, pair, BASELINE_SECONDS / 2, names, ids, unions)
        loaded = _run_sessions(port, users, SECONDS, names, ids, unions)
    finally:
        server.terminate()
        server.wait(timeout=30)
    errors = sum(count for status, count in loaded.statuses.items() if status >= 500)
    stored = set(
        Consultation.objects.filter(title__startswith=TITLE).values_list("title", flat=True)
    )
    lost = [title for title in loaded.saved + alone.saved if title not in stored]
    requests = sum(len(values) for values in loaded.latencies.values())
    workload = (
        f"{SESSIONS} sessions for {SECONDS:.0f} s, gunicorn 2 workers × 4 threads, "
        f"{contacts:,} contacts, {consultations:,} consultations; {requests:,} requests, "
        f"{errors} answered 5xx, {len(loaded.saved):,} consultations logged, {len(lost)} lost"
    )
    posted = len(loaded.latencies.get("consultation logged", []))
    if errors or lost or len(loaded.saved) != posted:
        raise SystemExit(
            f"bench/web: {errors} 5xx answers, {len(lost)} lost consultations, "
            f"{posted - len(loaded.saved)} of {posted} posts not saved"
        )
    rows = [
        Row(
            "web throughput",
            workload,
            requests / SECONDS,
            sum(len(v) for v in alone.latencies.values()) / (BASELINE_SECONDS / 2),
            "requests/s (baseline: two sessions at once, a staffer and a manager, the same mix)",
        )
    ]
    for page in PAGES:
        if loaded.latencies.get(page):
            rows.append(
                Row(
                    f"web p95, {page}",
                    workload,
                    _p95(loaded.latencies[page]),
                    _p95(alone.latencies.get(page, [])),
                    "ms p95 latency under load (lower is better; baseline: the same page with "
                    "two sessions)",
                )
            )
    return rows
