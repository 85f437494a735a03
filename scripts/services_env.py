"""Print shell exports that point the test run at PostgreSQL and Redis.

Variables already set are kept. Otherwise the local defaults are used when they answer. Under
CI=true both services are required: a run without them would skip tests that must run.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys

DEFAULTS = {
    "DATABASE_URL": ("postgres://postgres@127.0.0.1:5432/crm", ("127.0.0.1", 5432)),
    "REDIS_URL": ("redis://127.0.0.1:6379/14", ("127.0.0.1", 6379)),
    "CELERY_BROKER_URL": ("redis://127.0.0.1:6379/15", ("127.0.0.1", 6379)),
}


def reachable(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


def main() -> int:
    required = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    missing = []
    for name, (url, address) in DEFAULTS.items():
        if os.environ.get(name):
            print(f"export {name}={shlex.quote(os.environ[name])}")
        elif reachable(address):
            print(f"export {name}={shlex.quote(url)}")
        else:
            missing.append(f"{name} (nothing answers on {address[0]}:{address[1]})")
    if missing and required:
        print("CI=true but these services are unreachable: " + ", ".join(missing), file=sys.stderr)
        print("exit 1")
        return 1
    for item in missing:
        print(
            f"echo {shlex.quote('Not using ' + item + '; tests that need it will be skipped.')} >&2"
        )
    print("export CRM_REQUIRE_SERVICES=" + ("1" if required else "0"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
