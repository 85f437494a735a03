"""Settings from the environment: strict parsing, safe defaults, a clean deploy check."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from crm.env import (
    EnvError,
    database_config,
    email_config,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    env_url,
)

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


def test_it_reads_a_choice_in_any_case_and_refuses_others():
    choices = ("DEBUG", "INFO", "WARNING")
    assert env_choice("LOG_LEVEL", "INFO", choices, {"LOG_LEVEL": "debug"}) == "DEBUG"
    assert env_choice("LOG_LEVEL", "INFO", choices, {}) == "INFO"
    with pytest.raises(EnvError, match="LOG_LEVEL='verbose' is invalid: expected one of DEBUG"):
        env_choice("LOG_LEVEL", "INFO", choices, {"LOG_LEVEL": "verbose"})


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


_SECURITY_SETTINGS = (
    "from django.conf import settings as s; import json; print(json.dumps([s.SECURE_SSL_REDIRECT,"
    " s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD,"
    " s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER, s.X_FRAME_OPTIONS,"
    " s.SESSION_IDLE_MINUTES, s.SESSION_MAX_HOURS, s.SESSION_COOKIE_AGE]))"
)


def _security_settings(env: dict[str, str], tmp_path: Path) -> list[object]:
    result = _django(["shell", "-c", _SECURITY_SETTINGS], env, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_keeps_the_embedded_mode_on_plain_http(tmp_path):
    # `make run`: http://localhost, where a redirect to HTTPS or a secure cookie would lock
    # everyone out.
    assert _security_settings({"DEBUG": "true"}, tmp_path) == [
        False, 0, True, True, False, False, None, "DENY", 30, 12, 12 * 3600,
    ]  # fmt: skip


def test_it_is_strict_in_production_and_relaxed_only_on_request(tmp_path):
    production = {"DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(64)}
    assert _security_settings(production, tmp_path) == [
        True, 31_536_000, True, True, True, True, None, "DENY", 30, 12, 12 * 3600,
    ]  # fmt: skip
    behind_a_proxy = {
        **production,
        "SECURE_SSL_REDIRECT": "off",
        "SECURE_HSTS_SECONDS": "600",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "no",
        "SECURE_HSTS_PRELOAD": "no",
        "TRUST_X_FORWARDED_PROTO": "yes",
        "SESSION_IDLE_MINUTES": "15",
        "SESSION_MAX_HOURS": "8",
    }
    assert _security_settings(behind_a_proxy, tmp_path) == [
        False, 600, False, False, True, True, ["HTTP_X_FORWARDED_PROTO", "https"], "DENY",
        15, 8, 8 * 3600,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECURE_HSTS_PRELOAD", "preload"),
        ("SECURE_HSTS_SECONDS", "1 year"),
        ("TRUST_X_FORWARDED_PROTO", "maybe"),
        ("SESSION_IDLE_MINUTES", "1"),
        ("SESSION_MAX_HOURS", "half a day"),
        ("SESSION_COOKIE_AGE", "28800"),  # replaced by SESSION_MAX_HOURS
    ],
)
def test_it_refuses_a_malformed_security_setting(name, value, tmp_path):
    result = _django(["check"], {"DEBUG": "true", name: value}, tmp_path)
    assert result.returncode != 0
    assert f"{name}={value!r} is invalid" in result.stderr


def test_it_reads_a_secret_from_the_file_named_by_name_file(tmp_path):
    secret = tmp_path / "database_url"
    secret.write_text("postgres://crm:p4ss word@db.internal:5432/crm\n")
    config = database_config("DATABASE_URL", Path("x"), {"DATABASE_URL_FILE": str(secret)})
    assert (config["HOST"], config["PASSWORD"]) == ("db.internal", "p4ss word")
    secret.write_text("smtp://mailer:s3cret@mail.example:587?tls=1\r\n")
    smtp = email_config("EMAIL_URL", tmp_path, {"EMAIL_URL_FILE": str(secret)})
    assert smtp["EMAIL_HOST_PASSWORD"] == "s3cret"


def test_it_keeps_a_secret_files_value_but_its_final_newline(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("  spaces are part of it \n\n")
    assert (
        env_str("SECRET_KEY", "", {"SECRET_KEY_FILE": str(secret)}) == "  spaces are part of it \n"
    )


def test_it_refuses_a_secret_given_both_ways(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("from the file")
    with pytest.raises(EnvError, match="either SECRET_KEY or SECRET_KEY_FILE, not both"):
        env_str("SECRET_KEY", "", {"SECRET_KEY": "x" * 50, "SECRET_KEY_FILE": str(secret)})


@pytest.mark.parametrize("problem", ["missing", "folder", "empty", "binary"])
def test_it_names_the_variable_of_an_unusable_secret_file(tmp_path, problem):
    path = tmp_path / "secret"
    if problem == "folder":
        path.mkdir()
    elif problem == "empty":
        path.write_text("\n")
    elif problem == "binary":
        path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(EnvError, match=f"REDIS_URL_FILE='{path}' is invalid"):
        env_url("REDIS_URL", "", {"REDIS_URL_FILE": str(path)}, schemes=("redis",))


def test_it_never_shows_a_urls_password_in_an_error():
    with pytest.raises(EnvError) as raised:
        database_config("DATABASE_URL", Path("x"), {"DATABASE_URL": "mysql://crm:hunter2@db/crm"})
    assert "hunter2" not in str(raised.value)
    assert "mysql://crm:***@db/crm" in str(raised.value)


def test_it_starts_with_the_secret_key_and_database_from_files(tmp_path):
    key, database = tmp_path / "key", tmp_path / "db"
    key.write_text(secrets.token_urlsafe(64) + "\n")
    database.write_text(f"sqlite:///{tmp_path / 'from-file.sqlite3'}\n")
    command = [
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print(s.SECRET_KEY, s.DATABASES['default']['NAME'])",
    ]
    env = {"SECRET_KEY_FILE": str(key), "DATABASE_URL_FILE": str(database), "DEBUG": "true"}
    result = _django(command, {**env, "DATABASE_URL": ""}, tmp_path)
    assert result.returncode == 0, result.stderr
    last_line = result.stdout.strip().splitlines()[-1]
    assert last_line.split() == [key.read_text().strip(), str(tmp_path / "from-file.sqlite3")]


def test_it_stops_at_start_up_on_a_secret_file_it_cannot_read(tmp_path):
    result = _django(["check"], {"SECRET_KEY_FILE": str(tmp_path / "nowhere")}, tmp_path)
    assert result.returncode != 0
    assert f"SECRET_KEY_FILE='{tmp_path / 'nowhere'}' is invalid" in result.stderr


def test_it_refuses_an_address_limit_below_the_account_limit(tmp_path):
    env = {"LOGIN_FAILURE_LIMIT": "10", "LOGIN_ADDRESS_FAILURE_LIMIT": "5", "DEBUG": "true"}
    result = _django(["check"], env, tmp_path)
    assert result.returncode != 0
    assert "LOGIN_ADDRESS_FAILURE_LIMIT='5' is invalid" in result.stderr
