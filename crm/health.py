"""/healthz: is each service this instance depends on reachable? For load balancers and monitors."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.views.decorators.cache import never_cache

from crm.celery import app as celery_app
from crm.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    # A key per probe: concurrent probes from several load balancers must not read each other's.
    key = f"healthz:{get_random_string(16)}"
    cache.set(key, "ok", timeout=30)
    try:
        if cache.get(key) != "ok":
            raise RuntimeError("cache did not return the value just stored")
    finally:
        cache.delete(key)


def _broker() -> None:
    with celery_app.connection_for_write(connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)
        # Transports such as Redis only talk to the server when a channel opens.
        conn.default_channel  # noqa: B018


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "cache": _cache, "broker": _broker}


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:
            # The class name tells operators what failed without echoing connection strings.
            logger.warning("health check %s failed: %s", name, type(error).__name__)
            results[name] = {"ok": False, "error": type(error).__name__}
        else:
            results[name] = {"ok": True}
    healthy = all(result["ok"] for result in results.values())
    body: dict[str, object] = {"status": "ok" if healthy else "unavailable", "checks": results}
    if results["database"]["ok"]:
        last = (
            WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
        )
        # Informational: a worker may simply not have started yet, which is not this server's fault.
        body["worker_last_seen"] = last.isoformat() if last else None
        body["time"] = timezone.now().isoformat()
    return JsonResponse(body, status=200 if healthy else 503)
