"""The tests' own TOTP computation agrees with RFC 6238 (so it checks the server, not itself)."""

from __future__ import annotations

from base64 import b32encode

from tests.totp import totp_code

RFC_SECRET = b32encode(b"12345678901234567890").decode()


def test_it_computes_the_rfc_6238_sha1_test_vectors():
    # RFC 6238, appendix B (SHA1), 8 digits.
    assert totp_code(RFC_SECRET, at=59, digits=8) == "94287082"
    assert totp_code(RFC_SECRET, at=1111111109, digits=8) == "07081804"
    assert totp_code(RFC_SECRET, at=2000000000, digits=8) == "69279037"


def test_it_reads_the_secret_as_shown_in_groups_of_four():
    grouped = " ".join(RFC_SECRET[i : i + 4] for i in range(0, len(RFC_SECRET), 4))
    assert totp_code(grouped.lower(), at=59) == totp_code(RFC_SECRET, at=59) == "287082"
