"""Strict parsing of settings from the environment.

Every reader names the variable in its error, so a typo in deployment configuration stops the
process at start-up instead of silently turning a feature off.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_PASSWORD_IN_URL = re.compile(r"(//[^/:@]*:)[^/@]*@")


class EnvError(ImproperlyConfigured):
    """A variable is present but cannot be understood."""

    def __init__(self, name: str, value: str, expected: str) -> None:
        # A URL's password never reaches a log; the rest of the value shows what went wrong.
        value = _PASSWORD_IN_URL.sub(r"\1***@", value)
        super().__init__(f"Environment variable {name}={value!r} is invalid: expected {expected}.")
        self.name = name


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    environ = os.environ if environ is None else environ
    value = environ.get(name)
    from_file = _from_file(name, environ)
    if from_file is not None:
        if value is not None and value.strip() != "":
            raise EnvError(f"{name}_FILE", "<file>", f"either {name} or {name}_FILE, not both")
        return from_file
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _from_file(name: str, environ: Mapping[str, str]) -> str | None:
    """NAME_FILE: the value of NAME is in that file, as Docker and Kubernetes hand out secrets.

    Any variable may be given so; the secrets (SECRET_KEY, DATABASE_URL, EMAIL_URL, REDIS_URL,
    CELERY_BROKER_URL, SECRET_KEY_FALLBACKS) are the ones that should be.
    """
    variable = f"{name}_FILE"
    path = environ.get(variable, "").strip()
    if not path:
        return None
    try:
        content = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        # The path is not a secret; what the file holds is never echoed.
        raise EnvError(
            variable, path, f"a readable UTF-8 file ({error.__class__.__name__})"
        ) from None
    # Editors and `echo` end files with a newline; the value itself is kept exactly.
    value = content.removesuffix("\n").removesuffix("\r")
    if value == "":
        raise EnvError(variable, path, f"a file holding the value of {name}, not an empty one")
    return value


def env_str(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None else value


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise EnvError(name, value, "one of 1/0, true/false, yes/no, on/off")


def env_int(
    name: str,
    default: int,
    environ: Mapping[str, str] | None = None,
    *,
    minimum: int | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise EnvError(name, value, "a whole number") from None
    if minimum is not None and number < minimum:
        raise EnvError(name, value, f"a whole number of at least {minimum}")
    return number


def env_choice(
    name: str, default: str, choices: tuple[str, ...], environ: Mapping[str, str] | None = None
) -> str:
    """One of `choices`, in any case, given back as spelled in `choices`."""
    value = _raw(name, environ)
    if value is None:
        return default
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise EnvError(name, value, f"one of {', '.join(choices)}")


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    value = _raw(name, environ)
    if value is None:
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if any(item == "" for item in items):
        raise EnvError(name, value, "a comma-separated list without empty items")
    return items


def env_url(
    name: str,
    default: str,
    environ: Mapping[str, str] | None = None,
    *,
    schemes: tuple[str, ...],
) -> str:
    value = _raw(name, environ)
    if value is None:
        return default
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise EnvError(name, value, f"a URL starting with one of {', '.join(schemes)}")
    if parts.scheme in {"http", "https", "redis", "rediss"} and not parts.hostname:
        raise EnvError(name, value, "a URL with a host name")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError:
        raise EnvError(name, value, "a URL with a numeric port") from None
    return value


def database_config(
    name: str, default_sqlite: Path, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """DATABASE_URL as a Django DATABASES entry; SQLite under var/ when unset."""
    import dj_database_url

    value = _raw(name, environ)
    if value is None:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(default_sqlite),
            # WAL and immediate transactions let the web server, worker and beat share the file
            # without "database is locked" errors under the embedded set-up.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    scheme = urlsplit(value).scheme
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise EnvError(name, value, "a postgres:// or sqlite:/// URL")
    try:
        config: dict[str, Any] = dict(
            dj_database_url.parse(value, conn_max_age=60, conn_health_checks=True)
        )
    except ValueError as exc:
        raise EnvError(name, value, f"a database URL ({exc})") from None
    if config["ENGINE"] == "django.db.backends.postgresql" and not config.get("NAME"):
        raise EnvError(name, value, "a postgres URL naming the database (…/dbname)")
    return config


def email_config(
    name: str, default_dir: Path, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """EMAIL_URL as Django EMAIL_* settings.

    smtp://user:pass@host:port (plain, or STARTTLS with ?tls=1), smtps://… (implicit TLS),
    console:// (print), file:///path (one file per message). Unset: files under var/mail/.
    """
    value = _raw(name, environ)
    if value is None:
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(default_dir),
        }
    parts = urlsplit(value)
    if parts.scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if parts.scheme == "file":
        if not parts.path:
            raise EnvError(name, value, "file:///absolute/path")
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": unquote(parts.path),
        }
    if parts.scheme not in {"smtp", "smtps"}:
        raise EnvError(name, value, "a URL starting with smtp://, smtps://, console:// or file://")
    if not parts.hostname:
        raise EnvError(name, value, "an SMTP URL with a host name")
    try:
        port = parts.port
    except ValueError:
        raise EnvError(name, value, "an SMTP URL with a numeric port") from None
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = set(query) - {"tls", "timeout"}
    if unknown:
        raise EnvError(
            name, value, f"no query options other than tls and timeout (got {sorted(unknown)})"
        )
    use_tls = env_bool(f"{name}?tls", False, {f"{name}?tls": query.get("tls", "")})
    implicit_tls = parts.scheme == "smtps"
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port or (465 if implicit_tls else 25),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_SSL": implicit_tls,
        "EMAIL_USE_TLS": use_tls and not implicit_tls,
        "EMAIL_TIMEOUT": env_int(
            f"{name}?timeout", 30, {f"{name}?timeout": query.get("timeout", "")}, minimum=1
        ),
    }
