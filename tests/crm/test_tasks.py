"""Core tasks, run by a real Celery worker through the Redis broker."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from crm.celery import app as celery_app
from crm.models import WorkerHeartbeat
from crm.tasks import worker_heartbeat


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_records_a_heartbeat_from_a_real_worker(redis_broker):
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        worker_heartbeat.delay()
        deadline = time.monotonic() + 20
        while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    heartbeat = WorkerHeartbeat.objects.get()
    assert heartbeat.worker
    assert timezone.now() - heartbeat.seen_at < timedelta(seconds=30)
