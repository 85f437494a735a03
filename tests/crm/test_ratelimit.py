"""The client's address behind zero or more trusted proxies, and counting requests per client."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import RequestFactory

from crm.ratelimit import (
    Limit,
    RateLimitUnavailableError,
    client_ip,
    client_key,
    rate_limit_hit,
)


def _request(remote: str, forwarded: str | None = None):
    extra: dict[str, Any] = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_it_takes_the_connections_address_and_ignores_the_header_by_default(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(_request("203.0.113.7", "192.0.2.1")) == "203.0.113.7"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "203.0.113.1", "203.0.113.1"),
        (1, "192.0.2.66, 203.0.113.1", "203.0.113.1"),  # the client wrote the first entry
        (2, "192.0.2.66, 203.0.113.1, 10.0.0.9", "203.0.113.1"),
        (1, "203.0.113.1:5123", "203.0.113.1"),
        (1, "[2001:db8::1]:443", "2001:db8::1"),
        (2, "203.0.113.1", "10.0.0.2"),  # fewer entries than proxies: not through them all
        (1, "not an address", "10.0.0.2"),
        (1, "", "10.0.0.2"),
    ],
)
def test_it_trusts_only_the_entries_its_proxies_added(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_ip(_request("10.0.0.2", forwarded)) == expected


def test_it_counts_an_ipv6_subscriber_by_their_64_block():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") == "192.0.2.1"


@pytest.fixture
def own_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"ratelimit-{uuid.uuid4()}",
        }
    }


def test_it_says_which_limit_a_client_goes_over(own_cache):
    limits = [Limit(2, 60), Limit(3, 3600)]
    hits = [rate_limit_hit(scope="t", client="192.0.2.1", limits=limits) for _ in range(4)]
    assert hits[:2] == [None, None]
    assert hits[2] is not None
    assert hits[2].limit == Limit(2, 60)
    assert 1 <= hits[2].retry_after <= 60
    assert rate_limit_hit(scope="t", client="192.0.2.2", limits=limits) is None
    assert rate_limit_hit(scope="other", client="192.0.2.1", limits=limits) is None


def test_it_counts_in_redis_across_connections(settings, redis_url):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"test-ratelimit-{uuid.uuid4().hex}",
        }
    }
    limits = [Limit(3, 60)]
    hits = [rate_limit_hit(scope="t", client="192.0.2.1", limits=limits) for _ in range(5)]
    assert [hit is None for hit in hits] == [True, True, True, False, False]


def test_it_raises_when_the_cache_cannot_count(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    with pytest.raises(RateLimitUnavailableError):
        rate_limit_hit(scope="t", client="192.0.2.1", limits=[Limit(1, 60)])
