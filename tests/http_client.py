"""A signed-in browser's part of HTTP, for benchmarks and drills that talk to a real server
(gunicorn) over loopback: cookies, the CSRF header, form posts and file uploads."""

from __future__ import annotations

import http.client
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from urllib.parse import urlencode

Body = Mapping[str, object]


class SignInError(Exception):
    pass


def _multipart(fields: Body, files: Mapping[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{item}\r\n".encode()
            )
    for name, (filename, content, content_type) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
        )
        parts.append(head.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Session:
    """One person's browser: its cookies, and a new connection per request (as a phone on a bad
    network makes them)."""

    def __init__(self, port: int, *, timeout: float = 120) -> None:
        self.port = port
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.last_headers: dict[str, str] = {}  # of the last answer

    def request(
        self,
        method: str,
        path: str,
        body: Body | None = None,
        *,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, str, str]:
        """(status, Location header, body text)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data: bytes | None = None
        if body is not None or files:
            if files:
                data, sent["Content-Type"] = _multipart(body or {}, files)
            else:
                data = urlencode(dict(body or {}), doseq=True).encode()
                sent["Content-Type"] = "application/x-www-form-urlencoded"
            sent["X-CSRFToken"] = self.cookies.get("csrftoken", "")
            sent["Referer"] = f"http://127.0.0.1:{self.port}{path}"
        sent.update(headers or {})
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    self.cookies[key.strip()] = rest.split(";", 1)[0]
            self.last_headers = dict(response.getheaders())
            return response.status, response.getheader("Location") or "", text
        finally:
            connection.close()

    def get(self, path: str) -> tuple[int, str, str]:
        return self.request("GET", path)

    def post(
        self,
        path: str,
        body: Body | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> tuple[int, str, str]:
        return self.request("POST", path, body or {}, files=files)

    def sign_in(self, username: str, password: str) -> None:
        self.get("/accounts/login/")  # the CSRF cookie, as a browser gets it
        status, _location, text = self.post(
            "/accounts/login/", {"username": username, "password": password}
        )
        if status != 302:
            raise SignInError(f"{username} could not sign in ({status}): {page_text(text)[:300]}")


def consultation_form(title: str, **fields: object) -> dict[str, object]:
    """What the "Log a meeting" form posts: held an hour ago in Germany, with a submission key
    of its own; `fields` add to it or replace."""
    from django.utils import timezone

    return {
        "title": title,
        "submission_key": str(uuid.uuid4()),
        "starts_at": (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "status": "held",
        "country": "DE",
        "new-TOTAL_FORMS": "0",
        "new-INITIAL_FORMS": "0",
        **fields,
    }


def page_text(html: str) -> str:
    """What a person reads on the page: no markup, no style, white space collapsed."""
    html = html.rsplit("</style>", 1)[-1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def hidden_inputs(html: str, names: Sequence[str]) -> dict[str, str]:
    """The values of hidden inputs a server put in a form (tokens, keys)."""
    found = {}
    for name in names:
        match = re.search(rf'name="{re.escape(name)}"[^>]*value="([^"]*)"', html) or re.search(
            rf'value="([^"]*)"[^>]*name="{re.escape(name)}"', html
        )
        if match:
            found[name] = match.group(1)
    return found


def errors(html: str) -> str:
    """The error messages of a form page that came back, to say why a post was not taken."""
    found = re.findall(r'<(p|div) class="error"[^>]*>(.*?)</\1>', html, flags=re.S)
    return " | ".join(page_text(item) for _tag, item in found) or page_text(html)[:500]
