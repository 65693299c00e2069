"""The ASGI application of ``dsr serve``: the portal for people, the console for staff.

Built by :func:`create_app` on a :class:`~dsr.toolkit.Toolkit` and a mailer; every page is a
thin shell over :mod:`dsr.portal` and the toolkit, rendered from ``reports/web`` (Jinja2,
autoescape on) with the texts of ``reports/i18n``. Handlers are ``async`` only to read the
form; the library work runs in Starlette's thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dsr import i18n, log
from dsr._resources import resource_path
from dsr.crypto.keys import derive
from dsr.web.mail import Mailer
from dsr.web.security import AccessLog, RateLimiter, SecurityHeaders

if TYPE_CHECKING:
    from dsr.toolkit import Toolkit

LANGS = ("en", "de")
_log = log.get("dsr.web")


@dataclass
class Limits:
    """Rate limits of this process (per client IP unless stated)."""

    submissions_per_hour: int = 10
    codes_per_hour: int = 30
    logins_per_15_minutes: int = 10
    #: sign-ins to one account from one address, and to one account from anywhere
    account_logins_per_15_minutes: int = 5
    account_logins_everywhere_per_15_minutes: int = 50
    downloads_per_hour: int = 30


@dataclass
class Web:
    """What the handlers share (``request.app.state.web``)."""

    tk: Toolkit
    mailer: Mailer
    base_url: str
    https: bool
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.submit_limit = RateLimiter(self.limits.submissions_per_hour, 3600)
        self.code_limit = RateLimiter(self.limits.codes_per_hour, 3600)
        self.login_limit = RateLimiter(self.limits.logins_per_15_minutes, 900)
        self.account_ip_limit = RateLimiter(self.limits.account_logins_per_15_minutes, 900)
        self.account_limit = RateLimiter(self.limits.account_logins_everywhere_per_15_minutes, 900)
        self.download_limit = RateLimiter(self.limits.downloads_per_hour, 3600)

    @cached_property
    def env(self) -> Environment:
        env = Environment(
            loader=FileSystemLoader(str(resource_path("reports", "web"))),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        zone = ZoneInfo(self.tk.catalog.timezone)
        env.filters["date"] = lambda value, lang="en": _date_filter(value, lang, zone)
        env.filters["first_upper"] = lambda s: s[:1].upper() + s[1:]
        env.filters["plural"] = lambda forms, n, lang: i18n.plural(forms, n, lang)
        return env

    @cached_property
    def cookie_key(self) -> bytes:
        return derive(self.tk.keys, "web-cookie")

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def page(
        self,
        request: Request,
        template: str,
        *,
        lang: str = "en",
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        catalog = self.tk.catalog
        t = i18n.texts(lang)
        html = self.env.get_template(template).render(
            lang=lang,
            t=t,
            p=t["portal"],
            controller=catalog.controller,
            dpo=catalog.dpo,
            request=request,
            **context,
        )
        return HTMLResponse(html, status_code=status)


def _date_filter(value: date | datetime | str | None, lang: str, zone: ZoneInfo) -> str:
    """A date as the language writes it; a time (stored in UTC) in the catalog's zone."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return i18n.datetime_text(value.astimezone(zone), lang)
    return i18n.date_text(value, lang)


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def create_app(
    tk: Toolkit,
    mailer: Mailer,
    *,
    base_url: str = "http://127.0.0.1:8000",
    https: bool | None = None,
    limits: Limits | None = None,
    threads: int = 8,
) -> Starlette:
    """The portal (``/``) and the console (``/console``) over ``tk``, mailing with ``mailer``.

    ``base_url`` is the address people reach the portal at (links in mails); ``https``
    (default: whether ``base_url`` is https) sets the ``Secure`` flag on cookies and HSTS.
    ``threads``: how many requests do library work at once (the rest wait their turn): more
    threads than cores only fight over the interpreter lock and the database's write lock,
    and slow down even the pages that need neither (measured: bench/load_portal.py).
    """
    from dsr.web import console, portal

    secure = base_url.startswith("https://") if https is None else https
    web = Web(tk, mailer, base_url, secure, limits or Limits())
    routes: list[Route | Mount] = [
        *portal.routes(),
        *console.routes(),
        Route("/healthz", _health, name="health"),
        Mount(
            "/static",
            StaticFiles(directory=str(resource_path("reports", "web", "static"))),
            name="static",
        ),
    ]
    app = Starlette(
        routes=routes,
        lifespan=_lifespan(web, threads),
        middleware=[
            Middleware(AccessLog),
            Middleware(SecurityHeaders, https=secure),
        ],
        exception_handlers={404: _not_found, 405: _not_allowed},
    )
    app.state.web = web
    return app


#: How often the app closes requests left unverified (:func:`dsr.portal.expire_unverified`).
HOUSEKEEPING_INTERVAL = 3600.0


def _lifespan(web: Web, threads: int) -> Callable[[Starlette], Any]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        await _expire(web)  # before the first request is served
        task = asyncio.create_task(_housekeeping(web))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


async def _expire(web: Web) -> None:
    """Close the requests nobody verified within :data:`dsr.portal.UNVERIFIED_LIFETIME` (a
    failure is logged and tried again next time)."""
    from starlette.concurrency import run_in_threadpool

    from dsr import portal

    def expire() -> list[int]:
        with web.tk.acting_as("portal"):
            return portal.expire_unverified(web.tk)

    try:
        closed = await run_in_threadpool(expire)
    except Exception as exc:  # noqa: BLE001 - serving outlives a database hiccup
        _log.warning(
            "closing unverified requests failed",
            extra={"step": "expire", "fields": {"error": type(exc).__name__}},
        )
        return
    if closed:
        log.log_step(_log, "expire", "unverified requests closed", count=len(closed))


async def _housekeeping(web: Web) -> None:
    """Hourly after start-up: :func:`_expire`."""
    while True:
        await asyncio.sleep(HOUSEKEEPING_INTERVAL)
        await _expire(web)


async def _health(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    web = web_of(request)

    def check() -> dict[str, Any]:
        state = web.tk.ledger.state()
        return {"ok": state.status == "current", "ledger": state.status}

    data = await run_in_threadpool(check)
    return JSONResponse(data, status_code=200 if data["ok"] else 503)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(request, 404, "Not found")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return _error(request, 405, "Method not allowed")


def _error(request: Request, status: int, message: str) -> Response:
    web = web_of(request)
    return web.page(request, "error.html", status=status, message=message, lang=pick_lang(request))


def pick_lang(request: Request) -> str:
    """``?lang=``, else the language cookie, else the browser's first known language."""
    asked = request.query_params.get("lang") or request.cookies.get("dsr_lang")
    if asked in LANGS:
        return str(asked)
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "en"
