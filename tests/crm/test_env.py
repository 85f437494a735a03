"""Settings from the environment: strict parsing, safe defaults, a clean deploy check."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from crm.env import EnvError, database_config, email_config, env_bool, env_int, env_list, env_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), ("on", True), ("no", False), ("0", False)]
)
def test_it_parses_booleans(raw, expected):
    assert env_bool("DEBUG", not expected, {"DEBUG": raw}) is expected


@pytest.mark.parametrize("raw", ["maybe", "ture", "2", "enabled"])
def test_it_refuses_a_malformed_boolean_naming_the_variable(raw):
    with pytest.raises(EnvError, match="DEBUG"):
        env_bool("DEBUG", False, {"DEBUG": raw})


def test_it_uses_the_default_for_unset_or_blank_values():
    assert env_bool("DEBUG", False, {}) is False
    assert env_bool("DEBUG", True, {"DEBUG": "  "}) is True
    assert env_int("N", 5, {}) == 5


def test_it_refuses_malformed_numbers_and_lists():
    with pytest.raises(EnvError, match="SECURE_HSTS_SECONDS"):
        env_int("SECURE_HSTS_SECONDS", 0, {"SECURE_HSTS_SECONDS": "1y"})
    with pytest.raises(EnvError, match="at least 0"):
        env_int("SECURE_HSTS_SECONDS", 0, {"SECURE_HSTS_SECONDS": "-1"}, minimum=0)
    with pytest.raises(EnvError, match="ALLOWED_HOSTS"):
        env_list("ALLOWED_HOSTS", [], {"ALLOWED_HOSTS": "a.example,,b.example"})
    assert env_list("ALLOWED_HOSTS", [], {"ALLOWED_HOSTS": "a.example, b.example"}) == [
        "a.example",
        "b.example",
    ]


def test_it_checks_url_schemes_and_ports():
    assert (
        env_url("REDIS_URL", "", {"REDIS_URL": "redis://cache:6379/0"}, schemes=("redis",))
        == "redis://cache:6379/0"
    )
    with pytest.raises(EnvError, match="REDIS_URL"):
        env_url("REDIS_URL", "", {"REDIS_URL": "http://cache"}, schemes=("redis",))
    with pytest.raises(EnvError, match="numeric port"):
        env_url("REDIS_URL", "", {"REDIS_URL": "redis://cache:port/0"}, schemes=("redis",))


def test_it_defaults_the_database_to_sqlite_under_var(tmp_path):
    config = database_config("DATABASE_URL", tmp_path / "crm.sqlite3", {})
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "crm.sqlite3")


def test_it_reads_a_postgres_url():
    config = database_config(
        "DATABASE_URL", Path("x"), {"DATABASE_URL": "postgres://crm:s3cret@db.internal:5433/crm"}
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == (
        "db.internal",
        5433,
        "crm",
        "crm",
    )


@pytest.mark.parametrize("raw", ["mysql://db/crm", "postgres://db:abc/crm", "postgres://db"])
def test_it_refuses_unusable_database_urls(raw):
    with pytest.raises(EnvError, match="DATABASE_URL"):
        database_config("DATABASE_URL", Path("x"), {"DATABASE_URL": raw})


def test_it_reads_email_urls(tmp_path):
    assert email_config("EMAIL_URL", tmp_path, {})["EMAIL_FILE_PATH"] == str(tmp_path)
    smtp = email_config(
        "EMAIL_URL", tmp_path, {"EMAIL_URL": "smtp://user%40x:p%3Ass@mail.example:587?tls=1"}
    )
    assert smtp["EMAIL_HOST"] == "mail.example"
    assert smtp["EMAIL_PORT"] == 587
    assert smtp["EMAIL_HOST_USER"] == "user@x"
    assert smtp["EMAIL_HOST_PASSWORD"] == "p:ss"
    assert smtp["EMAIL_USE_TLS"] is True
    assert smtp["EMAIL_USE_SSL"] is False
    assert (
        email_config("EMAIL_URL", tmp_path, {"EMAIL_URL": "smtps://mail.example"})["EMAIL_PORT"]
        == 465
    )


@pytest.mark.parametrize(
    "raw",
    ["smtp://", "smtp://mail:xx", "imap://mail", "smtp://mail?tls=perhaps", "smtp://mail?ssl=1"],
)
def test_it_refuses_unusable_email_urls(raw, tmp_path):
    with pytest.raises(EnvError, match="EMAIL_URL"):
        email_config("EMAIL_URL", tmp_path, {"EMAIL_URL": raw})


def _django(
    args: list[str], env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DEBUG", "SECRET"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_stops_at_start_up_on_a_malformed_variable(tmp_path):
    result = _django(["check"], {"DEBUG": "sometimes"}, tmp_path)
    assert result.returncode != 0
    assert "DEBUG='sometimes' is invalid" in result.stderr


def test_it_refuses_a_short_secret_key(tmp_path):
    result = _django(["check"], {"SECRET_KEY": "short"}, tmp_path)
    assert result.returncode != 0
    # The message names the variable but never echoes a secret.
    assert "SECRET_KEY='<hidden>' is invalid" in result.stderr


def test_it_passes_the_deploy_check_with_production_settings(tmp_path):
    env = {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "crm.example.org",
        "SITE_URL": "https://crm.example.org",
    }
    result = _django(["check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_keeps_a_generated_secret_key_between_starts(tmp_path):
    command = ["shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)"]
    first = _django(command, {}, tmp_path)
    second = _django(command, {}, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert len(first.stdout.strip()) >= 50
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


def test_it_refuses_a_lost_send_window_shorter_than_an_smtp_exchange(tmp_path):
    env = {
        "EMAIL_URL": "smtp://mail.example:25?timeout=30",
        "FOLLOWUP_SENDING_TIMEOUT": "60",
        "DEBUG": "true",
    }
    result = _django(["check"], env, tmp_path)
    assert result.returncode != 0
    assert (
        "FOLLOWUP_SENDING_TIMEOUT='60' is invalid: expected at least 5 × the SMTP timeout (30 s)"
        in result.stderr
    )


def test_it_requires_a_shared_secret_key_to_send_mail_in_production(tmp_path):
    result = _django(["check"], {"EMAIL_URL": "smtp://mail.example:25", "DEBUG": "false"}, tmp_path)
    assert result.returncode != 0
    assert "a key shared by every web server and worker" in result.stderr


def test_it_refuses_an_address_limit_below_the_account_limit(tmp_path):
    env = {"LOGIN_FAILURE_LIMIT": "10", "LOGIN_ADDRESS_FAILURE_LIMIT": "5", "DEBUG": "true"}
    result = _django(["check"], env, tmp_path)
    assert result.returncode != 0
    assert "LOGIN_ADDRESS_FAILURE_LIMIT='5' is invalid" in result.stderr
