"""/healthz against the real database, cache and broker, and with each one unreachable."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.celery import app as celery_app
from crm.services import worker_heartbeat_record

pytestmark = pytest.mark.django_db

CLOSED = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_it_reports_every_service_reachable(client, redis_url, redis_broker):
    worker_heartbeat_record(worker="celery@test")
    response = client.get(reverse("healthz"))
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"] == {
        "database": {"ok": True},
        "cache": {"ok": True},
        "broker": {"ok": True},
    }
    assert body["worker_last_seen"] is not None
    assert response["Cache-Control"].startswith("max-age=0")


def test_it_answers_503_when_the_broker_is_unreachable(client, redis_broker, monkeypatch):
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", CLOSED)
    monkeypatch.setattr(celery_app.conf, "broker_url", CLOSED)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert response.json()["checks"]["database"] == {"ok": True}


def test_it_answers_503_when_the_cache_is_unreachable(client, settings, redis_url):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CLOSED,
            "OPTIONS": {"socket_connect_timeout": 1},
        }
    }
    response = client.get(reverse("healthz"))
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["cache"] == {"ok": False, "error": "ConnectionError"}
    assert "127.0.0.1:1" not in response.content.decode()
