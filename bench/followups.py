"""Follow-ups delivered per second by 2 worker processes through a local SMTP server, against the
same messages sent in one plain loop with Django's send_mail (measured in the same run)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import ROOT, Row

MESSAGES = int(os.environ.get("BENCH_FOLLOWUPS", "1000"))
THREADS = int(os.environ.get("BENCH_WORKER_THREADS", "4"))


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        with self.lock:
            self.count += 1
        return "250 OK"


def _wait(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark did not finish")
        time.sleep(0.05)


def run(tmp: Path) -> list[Row]:
    from aiosmtpd.controller import Controller
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.mail import send_mail
    from django.utils import timezone

    from crm.models import Contact
    from outreach.models import FollowUp
    from outreach.services import followups_dispatch_due

    # The SMTP server shares this machine's two cores with the workers: keep its logging quiet.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    counter = Counter()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(counter, hostname="127.0.0.1", port=port)
    smtp.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False

    started = time.perf_counter()
    for index in range(MESSAGES):
        send_mail("Thank you", "Thank you for meeting us.", None, [f"plain{index}@example.org"])
    baseline = MESSAGES / (time.perf_counter() - started)

    owner = User.objects.create(username="bench")
    contacts = Contact.objects.bulk_create(
        [
            Contact(last_name=f"Bench {i}", email=f"bench{i}@example.org", email_consent="granted")
            for i in range(MESSAGES)
        ]
    )
    now = timezone.now()
    FollowUp.objects.bulk_create(
        [
            FollowUp(
                contact=c,
                owner=owner,
                subject="Thank you",
                body="Thank you.",
                send_at=now,
                message_id=f"<b{c.pk}@bench>",
            )
            for c in contacts
        ]
    )
    env = {**os.environ, "EMAIL_URL": f"smtp://127.0.0.1:{port}", "SECRET_KEY": settings.SECRET_KEY}
    command = [sys.executable, "-m", "celery", "-A", "crm", "worker", "--pool=threads"]
    command += [
        f"--concurrency={THREADS}",
        "--without-mingle",
        "--without-gossip",
        "--loglevel=WARNING",
    ]
    workers = [
        subprocess.Popen(
            [*command, f"--hostname=bench{n}@%h"],
            cwd=ROOT,
            env=env,
            stdout=(tmp / f"worker{n}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for n in range(2)
    ]
    try:
        time.sleep(3)  # let both workers connect before the clock starts
        before = counter.count
        started = time.perf_counter()
        followups_dispatch_due()
        _wait(lambda: counter.count - before >= MESSAGES, timeout=600)
        rate = MESSAGES / (time.perf_counter() - started)
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        smtp.stop()
    sent = FollowUp.objects.filter(status=FollowUp.Status.SENT).count()
    if sent != MESSAGES:
        raise RuntimeError(f"only {sent} of {MESSAGES} follow-ups were recorded as sent")
    return [
        Row(
            name="follow-up delivery",
            workload=f"{MESSAGES} e-mails, 2 worker processes × {THREADS} threads, local SMTP",
            figure=rate,
            baseline=baseline,
            unit="e-mails/s (baseline: one loop of send_mail)",
        )
    ]
