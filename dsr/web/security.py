"""What every response of ``dsr serve`` carries, and what every form needs.

* :class:`SecurityHeaders`: a Content-Security-Policy without inline script or style
  (``default-src 'none'``, styles from ``/static`` only, ``frame-ancestors 'none'``,
  ``form-action 'self'``), ``Referrer-Policy: no-referrer`` (a link's token never leaks to
  another site), ``X-Content-Type-Options: nosniff``, ``Cache-Control: no-store`` on every
  page (they hold personal data), and HSTS when served over https.
* :class:`AccessLog`: one log line per request naming the route's *pattern*
  (``/status/{token}``), never the path, so tokens and codes never reach a log.
* :class:`RateLimiter`: sliding windows per key (an address, an IP) in this process.
* CSRF: a console form carries its session's token; a portal form carries a keyed hash of a
  random value in its own cookie (:func:`csrf_field`), so a page of another site cannot post.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from hashlib import sha256
from typing import Any

from dsr import log

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
_log = log.get("dsr.web")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                if self.https:
                    headers.append(
                        (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
                    )
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)


class AccessLog:
    """Logs method, route pattern, status and milliseconds; never a path or a query."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            pattern = getattr(route, "path", None) or "(no route)"
            log.log_step(
                _log,
                "http",
                f"{scope['method']} {pattern} {status['code']}",
                method=scope["method"],
                route=pattern,
                status=status["code"],
                ms=round((time.perf_counter() - started) * 1000, 1),
            )


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds for each key (thread-safe)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            if len(self._events) > 100_000:  # forget idle keys rather than grow without end
                for k in [k for k, v in self._events.items() if not v]:
                    del self._events[k]
            return True


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def csrf_field(key: bytes, cookie_value: str) -> str:
    """The hidden field that matches a portal CSRF cookie."""
    return hmac.new(key, cookie_value.encode(), sha256).hexdigest()


def csrf_ok(key: bytes, cookie_value: str | None, field: str | None) -> bool:
    if not cookie_value or not field:
        return False
    return hmac.compare_digest(csrf_field(key, cookie_value), field)


def sign(key: bytes, value: str) -> str:
    """``value`` with a keyed signature (for cookies that carry an id)."""
    mac = hmac.new(key, value.encode(), sha256).hexdigest()[:32]
    return f"{value}.{mac}"


def unsign(key: bytes, signed: str | None) -> str | None:
    if not signed or "." not in signed:
        return None
    value, _, mac = signed.rpartition(".")
    good = hmac.new(key, value.encode(), sha256).hexdigest()[:32]
    return value if hmac.compare_digest(good, mac) else None
