"""Logs: one JSON object per line, and no personal data in them.

Every process (web, Celery worker, beat, commands) logs through the one handler that
`logging_config` builds (settings.LOGGING). The CRM holds trade-union membership, special-category
data (GDPR Article 9): log lines name records by number, never by a person's name, address, phone
or words. `PersonalDataFilter` is the net under that rule, for what a library or an exception's
text lets through: it masks e-mail addresses and E.164 phone numbers. It cannot recognise a name.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery import current_task

if TYPE_CHECKING:
    # Only for annotations: settings import this module before Django is set up.
    from django.http import HttpRequest, HttpResponse

FORMATS = ("json", "plain")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Only from the start of a run of such characters (a long run without "@" is read once, not once
# per character); no "*" before the "@" and a top-level domain starting with a letter, so that a
# URL's hidden password (redis://:**@10.0.0.5) is not taken for an address.
_LOCAL = r"[\w.!#$%&'+/=?^`{|}~-]"
EMAIL = re.compile(rf"(?<!{_LOCAL}){_LOCAL}+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_][\w-]*")
# E.164, the form the CRM stores phone numbers in: "+", then 7 to 15 digits, not part of a longer
# run of digits. Numbers written with spaces are not recognised (nor mistaken for anything).
PHONE = re.compile(r"(?<![\w+])\+[1-9]\d{6,14}(?!\d)")
# The development server's request line: a query string may hold a searched name (?q=…).
_REQUEST_LINE = re.compile(r"^(\S+ [^?\s]*)\?\S*( HTTP/[\d.]+)$")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_ROOT = Path(__file__).resolve().parent.parent


def mask(text: str) -> str:
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text))


def exception_outline(error: BaseException) -> str:
    """The exception's class and where it was raised, without its message.

    For errors that may quote the data being handled (a database error's DETAIL repeats the
    row's values, a parser's message the cell): enough to find the code, nothing of the person.
    """
    frames = traceback.extract_tb(error.__traceback__)
    outline = type(error).__name__
    if frames:
        outline += f" at {_where(frames[-1])}"
        ours = [frame for frame in frames if _is_ours(frame.filename)]
        if ours and ours[-1] is not frames[-1]:
            outline += f" (from {_where(ours[-1])})"
    return outline


def _is_ours(filename: str) -> bool:
    path = Path(filename)
    return path.is_relative_to(_ROOT) and ".venv" not in path.parts


def _where(frame: traceback.FrameSummary) -> str:
    path = Path(frame.filename)
    shown = path.relative_to(_ROOT) if _is_ours(frame.filename) else Path(*path.parts[-2:])
    return f"{shown}:{frame.lineno} in {frame.name}"


class PersonalDataFilter(logging.Filter):
    """Masks e-mail addresses and phone numbers in a record's message, arguments and traceback.

    On the handler, so that it sees the records of every logger (Django's, Celery's, the
    libraries'). The message is rendered here and the arguments dropped: an argument that is an
    exception or a model instance only shows its text when rendered.
    """

    _tracebacks = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "django.server" and isinstance(record.args, tuple) and record.args:
            line = record.args[0]
            if isinstance(line, str):
                record.args = (_REQUEST_LINE.sub(r"\1\2", line), *record.args[1:])
        try:
            message = record.getMessage()
        except Exception:
            # Arguments that do not fit the format: logging would print them as they are in its
            # error report. Kept side by side instead, masked like the rest.
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = mask(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._tracebacks.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, process, and when known the
    request id, the Celery task, the HTTP status and the exception.

    Only those fields: a record's other attributes (Django passes the whole request) are left out,
    since their text may carry a query string or a signed-in person.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        request_id = _request_id.get() or getattr(
            getattr(record, "request", None), "request_id", None
        )
        if isinstance(request_id, str):
            entry["request_id"] = request_id
        task = current_task
        if task and task.request.id:
            entry["task"] = task.name
            entry["task_id"] = task.request.id
        status_code = getattr(record, "status_code", None)
        if isinstance(status_code, int):
            entry["status_code"] = status_code
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ASCII: every byte of a line is readable whatever the encoding of the log's destination.
        return json.dumps(entry, default=str)


class RequestIdMiddleware:
    """Gives each request an id, in its log lines and in the X-Request-ID response header, so
    that a person reporting an error page and the lines of that request can be matched up."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Always our own: a client's header would let anyone make their lines pass for another's.
        request_id = uuid.uuid4().hex
        # Django logs an error answer once the middleware is done; it finds the id on the request.
        request.request_id = request_id  # type: ignore[attr-defined]
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)  # the thread serves someone else next
        response["X-Request-ID"] = request_id
        return response


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """settings.LOGGING: everything through one handler, in `log_format` (json or plain)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"personal_data": {"()": PersonalDataFilter}},
        "formatters": {
            "json": {"()": JsonFormatter},
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["personal_data"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's defaults give django.* handlers of their own (plain text to the console,
            # e-mail to ADMINS with the request's details); these send them up to the root's.
            "django": {"handlers": [], "level": level, "propagate": True},
            "django.server": {"handlers": [], "level": level, "propagate": True},
            # At DEBUG these quote personal data: SQL with its parameters, spreadsheet cells.
            "django.db.backends": {"level": "INFO"},
            "import_export": {"level": "INFO"},
        },
    }
