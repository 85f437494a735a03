"""`make run`'s processes on the embedded defaults: SQLite, the filesystem broker, no server.

The web server, a worker and beat are started from Procfile.dev by honcho, as `make run` does;
a task sent through the filesystem broker must reach the worker.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def embedded_env(tmp_path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update({"DEBUG": "true", "VAR_DIR": str(tmp_path), "PATH": f"{BIN}:{env.get('PATH', '')}"})
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_it_runs_web_worker_and_beat_without_any_server(embedded_env, tmp_path):
    _manage(embedded_env, "migrate", "--no-input")
    seeded = _manage(embedded_env, "seed_demo", "--contacts", "20", "--users")
    assert "20 contacts" in seeded
    assert "organizer" in seeded
    port = _free_port()
    log = (tmp_path / "honcho.log").open("w")
    honcho = subprocess.Popen(
        [str(BIN / "honcho"), "-f", "Procfile.dev", "start"],
        cwd=ROOT,
        env={**embedded_env, "WEB_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline:
            try:
                status, _body = _get(f"{base}/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert status == 200, (tmp_path / "honcho.log").read_text()
        assert _get(f"{base}/accounts/login/")[0] == 200
        assert list((tmp_path / "broker").iterdir())  # the filesystem transport lives under var/

        _manage(
            embedded_env,
            "shell",
            "-c",
            "from crm.tasks import worker_heartbeat; worker_heartbeat.delay()",
        )
        seen = None
        while time.monotonic() < deadline + 30 and seen is None:
            seen = json.loads(_get(f"{base}/healthz")[1])["worker_last_seen"]
            time.sleep(0.5)
        assert seen is not None, (tmp_path / "honcho.log").read_text()
    finally:
        # Ctrl-C in a terminal: SIGINT to the whole group stops web, worker and beat together.
        os.killpg(honcho.pid, signal.SIGINT)
        honcho.wait(timeout=30)
        log.close()
    output = (tmp_path / "honcho.log").read_text()
    pids = [int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", output)]
    assert len(pids) == 3, output
    assert "SIGKILL" not in output, output  # each process stopped by itself, none had to be killed
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_it_imports_and_exports_on_sqlite(embedded_env, tmp_path):
    """The bulk writes' SQLite path: ids, history rows and their dates, a second run unchanged."""
    _manage(embedded_env, "migrate", "--no-input")
    _manage(embedded_env, "seed_demo", "--contacts", "5")
    people = tmp_path / "people.csv"
    rows = ["first_name,last_name,email,union,country,languages,tags"]
    rows += [f"Zoë,Novák-{n},zoe{n}@example.cz,IG Metall,DE,de;cs,site visit" for n in range(2500)]
    rows += [f"Jiří,Dvořák-{n},,,CZ,,," for n in range(1200)]  # by name: over 1,000 names
    people.write_text("\n".join(rows) + "\n", encoding="utf-8")
    first = _manage(embedded_env, "import_contacts", str(people))
    assert first.strip().splitlines()[-1] == "created=3700 updated=0 unchanged=0 rejected=0"
    again = _manage(embedded_env, "import_contacts", str(people))
    assert again.strip().splitlines()[-1] == "created=0 updated=0 unchanged=3700 rejected=0"
    exported = tmp_path / "contacts.xlsx"
    _manage(embedded_env, "export_contacts", str(exported))
    back = _manage(embedded_env, "import_contacts", str(exported))
    assert back.strip().splitlines()[-1] == "created=0 updated=0 unchanged=3705 rejected=0"
    check = _manage(
        embedded_env,
        "shell",
        "-c",
        "from crm.models import Contact; from crm.history import history_entries; "
        "c = Contact.objects.get(email='zoe7@example.cz'); "
        "print(c.history.count(), len(history_entries(obj=c)), "
        "Contact.history.filter(history_date__lte=c.updated_at, id=c.pk).count(), "
        "sorted(c.languages.values_list('code', flat=True)))",
    )
    assert check.strip().splitlines()[-1] == "1 1 1 ['cs', 'de']"
