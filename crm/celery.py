"""The Celery app. Configuration comes from Django settings (CELERY_*), schedule included."""

import logging.config
import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _logging_from_settings(**_options: Any) -> None:
    """Workers and beat log like the web server (settings.LOGGING: LOG_FORMAT, LOG_LEVEL, the
    personal data filter). Left to itself, Celery would replace the root logger's handlers with
    its own plain-text ones; --loglevel is therefore not used, LOG_LEVEL is."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
