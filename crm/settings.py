"""Settings for the union outreach CRM: the only settings module.

Everything that differs between a laptop and production comes from the environment and is parsed
strictly (see crm/env.py). Unset variables give the embedded set-up of `make run`: SQLite,
Celery's filesystem broker and e-mail written to files, all under var/.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

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
from crm.logs import FORMATS, LEVELS, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
for _folder in ("", "broker/queue", "broker/processed", "broker/control", "mail", "static"):
    # Embedded mode keeps everything under var/; create it so a fresh clone just works.
    (VAR_DIR / _folder).mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    configured = env_str("SECRET_KEY", "")
    if configured:
        if len(configured) < 50:
            raise EnvError("SECRET_KEY", "<hidden>", "at least 50 random characters")
        return configured
    # No key configured: keep a random one per installation rather than a key in the source.
    # Several web servers sharing sessions must be given the same SECRET_KEY explicitly.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        # Written aside then linked into place: the web server, worker and beat start together,
        # and none of them may read a half-written key or replace another's.
        draft = VAR_DIR / f".secret_key.{os.getpid()}"
        draft.touch(mode=0o600)
        draft.write_text(secrets.token_urlsafe(64))
        try:
            os.link(draft, key_file)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# Keys retired by a rotation: what they signed (sessions, unsubscribe links already sent) still
# verifies. Unsubscribe links never expire, so keep old keys here for as long as mail circulates.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
SITE_URL = env_url("SITE_URL", "http://localhost:8000", schemes=("http", "https")).rstrip("/")
CSRF_TRUSTED_ORIGINS = [
    f"{urlsplit(SITE_URL).scheme}://{urlsplit(SITE_URL).netloc}",
    *env_list("CSRF_TRUSTED_ORIGINS", []),
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_countries",
    "django_htmx",
    "simple_history",
    "import_export",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "crm",
    "outreach",
]

MIDDLEWARE = [
    # First, so that every log line of a request carries its id, whichever middleware answers.
    "crm.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, so that static files stay cacheable; before the rest, so that even
    # their early answers (redirects, CSRF failures) carry the policy and no-store.
    "crm.security.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks request.user verified when this session's sign-in included the authenticator code.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "crm.middleware.SessionLimitMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "crm.middleware.StaffTimezoneMiddleware",
    "crm.middleware.TwoFactorMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a sign-in refused for lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
# Django's, except that select boxes are drawn in Python (the union and country lists are long).
FORM_RENDERER = "crm.forms_renderer.FormRenderer"
WSGI_APPLICATION = "crm.wsgi.application"
ASGI_APPLICATION = "crm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.navigation.navigation",
            ],
        },
    },
]

DATABASES = {"default": database_config("DATABASE_URL", VAR_DIR / "crm.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss"))
CACHES: dict[str, dict[str, Any]] = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "crm",
            # A cache outage must not hang every request: fail fast and let callers decide.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
        if REDIS_URL
        # Files rather than process memory: the web server and the worker share what is here
        # (an import's progress, rate limits).
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The lockout check runs first and refuses before any password is compared (django-axes). Then
# Django's own, whose user of each request also says whether they have an authenticator.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "crm.twofactor.TwoFactorModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# A staff member idle this long, or signed in this long, signs in again (crm/middleware.py).
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30, minimum=2)
SESSION_MAX_HOURS = env_int("SESSION_MAX_HOURS", 12, minimum=1)
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600
if env_str("SESSION_COOKIE_AGE", ""):
    # Read before the session limits existed; ignoring it silently would lengthen sessions.
    raise EnvError(
        "SESSION_COOKIE_AGE", env_str("SESSION_COOKIE_AGE", ""), "no value: set SESSION_MAX_HOURS"
    )

LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("fr", _("French")),
    ("de", _("German")),
    ("es", _("Spanish")),
    ("it", _("Italian")),
    ("pl", _("Polish")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Front-end libraries come from npm at install time (package-lock.json), never from a CDN.
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/pico", BASE_DIR / "node_modules" / "@picocss" / "pico" / "css"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "import_export": {"BACKEND": "crm.importing.storage.AdminUploadStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = VAR_DIR / "media"

# E-mail
_EMAIL = email_config("EMAIL_URL", VAR_DIR / "mail")
EMAIL_BACKEND: str = _EMAIL["EMAIL_BACKEND"]
EMAIL_FILE_PATH = _EMAIL.get("EMAIL_FILE_PATH")
EMAIL_HOST = _EMAIL.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _EMAIL.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _EMAIL.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _EMAIL.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _EMAIL.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _EMAIL.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT: int | None = _EMAIL.get("EMAIL_TIMEOUT")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Union outreach <outreach@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_MESSAGE_ID_DOMAIN = env_str(
    "EMAIL_MESSAGE_ID_DOMAIN", urlsplit(SITE_URL).hostname or "localhost"
)

# Celery: the broker defaults to files under var/broker/ so `make run` needs no server.
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL", "filesystem://", schemes=("filesystem", "redis", "rediss", "amqp")
)
if CELERY_BROKER_URL.startswith("filesystem"):
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 5, "socket_timeout": 10}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# The only schedule of periodic work; each entry takes no arguments and claims its own rows.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "worker-heartbeat": {"task": "crm.tasks.worker_heartbeat", "schedule": crontab()},
    "imports-recover": {"task": "crm.tasks.import_jobs_recover", "schedule": crontab()},
    "imports-clean-up": {"task": "crm.tasks.import_files_clean_up", "schedule": crontab(minute=7)},
    # Hourly: each subscriber's Monday morning comes in their own time zone.
    "report-counts-compact": {
        "task": "outreach.tasks.report_counts_compact",
        "schedule": crontab(),
    },
    "digests": {"task": "outreach.tasks.digests_run", "schedule": crontab(minute=5)},
    "followups-dispatch": {
        "task": "outreach.tasks.followups_dispatch",
        # Every minute; shorter only for tests and drills that cannot wait.
        "schedule": timedelta(seconds=env_int("FOLLOWUP_DISPATCH_SECONDS", 60, minimum=1)),
    },
}

# Follow-ups (outreach/services/followups.py)
FOLLOWUP_MAX_ATTEMPTS = env_int("FOLLOWUP_MAX_ATTEMPTS", 5, minimum=1)
FOLLOWUP_RETRY_BASE_SECONDS = env_int("FOLLOWUP_RETRY_BASE_SECONDS", 60, minimum=1)
# A queued row whose task has not claimed it by then is enqueued again (its task was lost).
FOLLOWUP_REQUEUE_AFTER = env_int("FOLLOWUP_REQUEUE_AFTER", 300, minimum=5)
# A row still "sending" after this long lost its worker mid-send: it needs review.
FOLLOWUP_SENDING_TIMEOUT = env_int("FOLLOWUP_SENDING_TIMEOUT", 900, minimum=5)
if EMAIL_BACKEND.endswith("smtp.EmailBackend") and EMAIL_TIMEOUT:
    # A send is SMTP steps each bounded by EMAIL_TIMEOUT; a row may only be declared lost once
    # its worker cannot still be sending it, or "send again" could send it twice.
    if FOLLOWUP_SENDING_TIMEOUT < 5 * EMAIL_TIMEOUT:
        raise EnvError(
            "FOLLOWUP_SENDING_TIMEOUT",
            str(FOLLOWUP_SENDING_TIMEOUT),
            f"at least 5 × the SMTP timeout ({EMAIL_TIMEOUT} s)",
        )
    if not DEBUG and not env_str("SECRET_KEY", ""):
        # Workers sign the unsubscribe links that web servers check: one key for all machines.
        raise EnvError(
            "SECRET_KEY",
            "",
            "a key shared by every web server and worker when e-mail is sent by SMTP",
        )

# Security. Production (DEBUG off) is strict by default; each switch can be relaxed explicitly,
# e.g. SECURE_SSL_REDIRECT=false when a proxy already redirects.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers often probe over plain HTTP
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    # Only behind a proxy that sets this header itself; otherwise clients could spoof HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# JSON lines for log collectors in production; the plain format is easier on the eye in a terminal.
LOG_FORMAT = env_choice("LOG_FORMAT", "plain" if DEBUG else "json", FORMATS)
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", LEVELS)
LOGGING: dict[str, Any] = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)

SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
# The admin import's upload waits under IMPORT_DIR (STORAGES["import_export"]), not in /tmp,
# and is deleted with the other uploads (crm/importing/services.py: import_files_clean_up).
IMPORT_EXPORT_TMP_STORAGE_CLASS = "import_export.tmp_storages.MediaStorage"

CRM_PAGE_SIZE = 50

# Spreadsheet imports (crm/importing/). Uploaded files wait here, outside anything served.
IMPORT_DIR = Path(env_str("IMPORT_DIR", str(VAR_DIR / "imports")))
# Files with more data rows than this are previewed and imported by a Celery worker.
IMPORT_BACKGROUND_ROWS = env_int("IMPORT_BACKGROUND_ROWS", 2000, minimum=0)
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
# What an XLSX or ODS file (a zip) may unpack to.
IMPORT_MAX_UNPACKED_BYTES = env_int("IMPORT_MAX_UNPACKED_BYTES", 300 * 1024 * 1024, minimum=1024)
# A running import whose worker has not reported progress for this long has died.
IMPORT_STALE_SECONDS = env_int("IMPORT_STALE_SECONDS", 120, minimum=5)
# A queued import no worker has started by then is failed (and can be run again).
IMPORT_QUEUE_TIMEOUT = env_int("IMPORT_QUEUE_TIMEOUT", 900, minimum=5)
# Uploaded files and error reports are deleted this long after the upload.
IMPORT_KEEP_HOURS = env_int("IMPORT_KEEP_HOURS", 24, minimum=1)
# Files of more than one chunk are parsed in a forked second process (crm/importing/parallel.py).
IMPORT_PARSE_PROCESS = env_bool("IMPORT_PARSE_PROCESS", True)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Public comments ("Share your voice", outreach/comment_views.py): a form anyone may post, so
# every limit below protects it from floods without a third-party service.
PUBLIC_COMMENT_MAX_LENGTH = env_int("PUBLIC_COMMENT_MAX_LENGTH", 5000, minimum=100)
# The whole request; a longer one gets a polite 413 page without being read. Generous enough
# that a comment over the length limit in any script still arrives and is answered on the form.
PUBLIC_COMMENT_MAX_BYTES = env_int("PUBLIC_COMMENT_MAX_BYTES", 256 * 1024, minimum=16 * 1024)
# Posts per client address (an IPv6 /64) in the cache; over either one, the form comes back
# with the text kept and "try again in a minute".
PUBLIC_COMMENT_RATE_PER_MINUTE = env_int("PUBLIC_COMMENT_RATE_PER_MINUTE", 5, minimum=1)
PUBLIC_COMMENT_RATE_PER_HOUR = env_int("PUBLIC_COMMENT_RATE_PER_HOUR", 30, minimum=1)
# A form sent sooner than this after it was shown was filled by a program; one older than the
# maximum age is a token replayed (or a tab left open): either comes back to be sent again.
PUBLIC_COMMENT_MIN_SECONDS = env_int("PUBLIC_COMMENT_MIN_SECONDS", 3, minimum=0)
PUBLIC_COMMENT_MAX_AGE_SECONDS = env_int("PUBLIC_COMMENT_MAX_AGE_SECONDS", 24 * 3600, minimum=60)
# How many reverse proxies in front of the web servers append to X-Forwarded-For. 0: the header
# is ignored (anyone can send it) and the connection's address counts.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

# Sign-in security (README "Sign-in security"; crm/lockout.py, crm/twofactor.py, crm/reauth.py).
# Failed sign-ins (a wrong password or a wrong authenticator code) counted per account from one
# address, and per address across all accounts. Never per account alone: anyone could then lock
# anyone out from anywhere.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 20, minimum=1)
if LOGIN_ADDRESS_FAILURE_LIMIT < LOGIN_FAILURE_LIMIT:
    raise EnvError(
        "LOGIN_ADDRESS_FAILURE_LIMIT",
        str(LOGIN_ADDRESS_FAILURE_LIMIT),
        f"at least LOGIN_FAILURE_LIMIT ({LOGIN_FAILURE_LIMIT})",
    )
LOGIN_COOLOFF_MINUTES = env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1)
# Exports (and erasure) ask for the password again, and the code, past this long after the last
# confirmation.
REAUTH_MINUTES = env_int("REAUTH_MINUTES", 10, minimum=1)

AXES_HANDLER = "crm.lockout.LoginFailureHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "crm.lockout.lockout_address"
AXES_LOCKOUT_CALLABLE = "crm.lockout.lockout_response"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password", "code"]
# Failures are kept only for the cool-off; a log of every sign-in would be personal data kept
# without an end.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

OTP_TOTP_ISSUER = "Union outreach CRM"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
