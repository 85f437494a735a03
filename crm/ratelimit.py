"""Who is asking (the client's address) and how often: counters kept in the cache.

The counters live in the cache (Redis in production) so that every web server counts the same
client together. They are fixed windows (this minute, this hour): cheap, and exact enough to turn
a flood away while a person sending twice passes.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RateLimitUnavailableError(Exception):
    """The cache could not count: the caller decides whether to turn the request away."""


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


@dataclass(frozen=True)
class Exceeded:
    limit: Limit
    retry_after: int  # seconds until the window that was exceeded ends


def _address(value: str) -> IPAddress | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "192.0.2.1:443"
        value = value.partition(":")[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The client's address: the connection's, unless TRUSTED_PROXY_COUNT proxies stand in
    front, in which case the one the outermost of them saw (the X-Forwarded-For entry that many
    places from the right; whatever stands further left, the client wrote itself)."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies: int = settings.TRUSTED_PROXY_COUNT
    if proxies:
        header = request.META.get("HTTP_X_FORWARDED_FOR", "")
        forwarded = [entry for entry in header.split(",") if entry.strip()]
        if len(forwarded) >= proxies and (address := _address(forwarded[-proxies])):
            return str(address)
    address = _address(remote)
    return str(address) if address else remote


def client_key(ip: str) -> str:
    """What one client is counted as: an IPv4 address, or an IPv6 /64, the block one subscriber
    usually holds whole (counting single IPv6 addresses would let them take a new one per post)."""
    address = _address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address) if address else ip


def _increment(key: str, timeout: int) -> int:
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:
        # The key expired between add() and incr(): the window just ended, start the next one.
        cache.add(key, 0, timeout=timeout)
        return cache.incr(key)


def rate_limit_hit(*, scope: str, client: str, limits: Sequence[Limit]) -> Exceeded | None:
    """Count one more request of `client`, and say which limit (if any) it now goes over.

    Every attempt counts, the refused ones too: a client that keeps trying stays refused.
    Raises RateLimitUnavailableError when the cache cannot be reached.
    """
    now = time.time()
    exceeded: Exceeded | None = None
    try:
        for limit in limits:
            window = int(now // limit.seconds)
            count = _increment(
                f"ratelimit:{scope}:{limit.seconds}:{window}:{client_key(client)}",
                # A little past the window's end: a counter must not vanish while still counted.
                timeout=limit.seconds + 5,
            )
            if count > limit.count and exceeded is None:
                exceeded = Exceeded(
                    limit, retry_after=max(1, int(limit.seconds - now % limit.seconds))
                )
    except Exception as error:
        # Whatever the backend (Redis, files), a failure means nothing could be counted.
        logger.warning("rate limit %s: cache unavailable (%s)", scope, type(error).__name__)
        raise RateLimitUnavailableError(scope) from error
    return exceeded
