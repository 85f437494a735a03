"""RFC 6238 time-based codes, computed here as an authenticator app does (HMAC-SHA1, 30-second
steps, 6 digits): what the tests type where a person would read their phone."""

from __future__ import annotations

import hashlib
import hmac
import time
from base64 import b32decode, b32encode
from typing import Any


def totp_code(secret: str, *, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """The code for a base32 secret (as shown on the set-up page, spaces allowed) at `at`."""
    compact = "".join(secret.split()).upper()
    key = b32decode(compact + "=" * (-len(compact) % 8))
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(key, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def device_code(device: Any, *, at: float | None = None) -> str:
    """A code a user's authenticator shows now that the server has not accepted yet (a code is
    accepted once: after one was used in this 30-second step, the next step's, which the
    server's tolerance of one step accepts)."""
    device.refresh_from_db()
    now = time.time() if at is None else at
    step = max(int(now // 30), device.last_t + 1)
    return totp_code(b32encode(device.bin_key).decode(), at=step * 30)
