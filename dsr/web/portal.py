"""The portal: a person submits a request, confirms their address, follows it, downloads.

Nothing a page says depends on whether dsr holds data about an address: a submission is
registered and a code mailed whatever the address, before any record is searched. Codes and
tokens never appear in a logged URL: the code is posted, the pending verification lives in a
signed cookie, a status link's token is moved into a cookie and the address redirected to
``/status``, and a download link only shows a button that posts its token (so a mail scanner
following links cannot use up a single-use download).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from dsr import i18n
from dsr.errors import DSRError
from dsr.web.app import LANGS, Web, client_ip, pick_lang, web_of
from dsr.web.mail import Mail
from dsr.web.security import RateLimiter, csrf_field, csrf_ok, new_secret, sign, unsign

CSRF_COOKIE = "dsr_csrf"
VERIFY_COOKIE = "dsr_verify"
STATUS_COOKIE = "dsr_status"
LANG_COOKIE = "dsr_lang"
#: The audit trail's actor for what a person does on the portal (never their identity).
PORTAL_ACTOR = "portal"
MAX_FORM = 16_000


def routes() -> list[Route]:
    return [
        Route("/", home, methods=["GET"], name="home"),
        Route("/request", submit, methods=["POST"], name="submit"),
        Route("/verify", verify_page, methods=["GET"], name="verify"),
        Route("/verify", verify, methods=["POST"], name="verify_post"),
        Route("/verify/new", new_code, methods=["POST"], name="new_code"),
        Route("/status/{token}", status_link, methods=["GET"], name="status_link"),
        Route("/status", status, methods=["GET"], name="status"),
        Route("/download/{token}", download_page, methods=["GET"], name="download_page"),
        Route("/download", download, methods=["POST"], name="download"),
    ]


def ref(request_id: int) -> str:
    """How a request is named to the person (as in the letters)."""
    from dsr.ledger.requests import reference

    return reference(request_id)


# -- cookies ----------------------------------------------------------------------------------


def _cookie(web: Web, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, secure=web.https, samesite="lax", path="/"
    )


def _csrf(web: Web, request: Request) -> tuple[str, str | None]:
    """The form field for this browser's CSRF cookie, and a new cookie value if it had none."""
    have = request.cookies.get(CSRF_COOKIE)
    if have and len(have) < 100:
        return csrf_field(web.cookie_key, have), None
    fresh = new_secret()
    return csrf_field(web.cookie_key, fresh), fresh


def _page(web: Web, request: Request, template: str, lang: str, **context: Any) -> Response:
    field, fresh = _csrf(web, request)
    response = web.page(request, template, lang=lang, csrf=field, ref=ref, **context)
    if fresh:
        _cookie(web, response, CSRF_COOKIE, fresh, None)
    if request.query_params.get("lang") in LANGS:
        _cookie(web, response, LANG_COOKIE, lang, 365 * 86400)
    return response


async def _form(request: Request) -> dict[str, str]:
    if int(request.headers.get("content-length") or 0) > MAX_FORM:
        return {}
    form = await request.form(max_files=0, max_fields=40)
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _posted(
    web: Web, request: Request, lang: str, limit: RateLimiter
) -> dict[str, str] | Response:
    """A portal form: its CSRF field fits this browser's cookie and the client is within
    ``limit``; else the response that refuses it."""
    form = await _form(request)
    if not csrf_ok(web.cookie_key, request.cookies.get(CSRF_COOKIE), form.get("csrf")):
        return _forbidden(web, request, lang)
    if not limit.allow(client_ip(request)):
        return _limited(web, request, lang)
    return form


async def _code_form(
    request: Request,
) -> tuple[Web, dict[str, str], tuple[str, int, str]] | Response:
    """A form of the code page (:func:`_posted`) with the verification waiting in this
    browser; without one, the page that says so."""
    web = web_of(request)
    pending = _pending(web, request)
    lang = pending[2] if pending else pick_lang(request)
    form = await _posted(web, request, lang, web.code_limit)
    if isinstance(form, Response):
        return form
    if pending is None:
        return _page(web, request, "portal/verify.html", lang, pending=False, notice=None)
    return web, form, pending


def _forbidden(web: Web, request: Request, lang: str) -> Response:
    p = i18n.texts(lang)["portal"]
    return web.page(request, "error.html", lang=lang, status=403, message=p["form_expired"])


def _limited(web: Web, request: Request, lang: str) -> Response:
    p = i18n.texts(lang)["portal"]
    response = web.page(request, "error.html", lang=lang, status=429, message=p["rate_limited"])
    response.headers["retry-after"] = "600"
    return response


# -- submit -----------------------------------------------------------------------------------


def _identity_types(web: Web) -> list[Any]:
    """The identity types a person can give besides their address: those the catalog finds
    people by and that name one person (not an IP address)."""
    catalog = web.tk.catalog
    used = {
        name
        for t in catalog.tables.values()
        for party in t.parties.values()
        for name in party.identities
    }
    kinds = catalog.identity_types
    return [kinds[n] for n in sorted(used) if n != "email" and n in kinds and kinds[n].one_person]


async def home(request: Request) -> Response:
    web = web_of(request)
    lang = pick_lang(request)
    return _page(web, request, "portal/home.html", lang, kinds=_identity_types(web), values={})


async def submit(request: Request) -> Response:
    from dsr import portal

    web = web_of(request)
    lang = pick_lang(request)
    form = await _posted(web, request, lang, web.submit_limit)
    if isinstance(form, Response):
        return form
    kinds = _identity_types(web)
    extra = [
        f"{k.name}={form[f'id_{k.name}'].strip()}"
        for k in kinds
        if form.get(f"id_{k.name}", "").strip()
    ]

    def work() -> tuple[portal.Submission, bool]:
        from dsr.errors import MailError

        with web.tk.acting_as(PORTAL_ACTOR):
            submission = _submit(web, form, extra, lang)
        try:
            _mail_code(web, lang, submission.email, submission.code)
        except MailError:  # registered all the same: the code page offers a new code
            portal.discard_code(web.tk, submission.challenge)
            return submission, False
        return submission, True

    try:
        submission, mailed = await run_in_threadpool(work)
    except DSRError as exc:
        return _page(
            web,
            request,
            "portal/home.html",
            lang,
            kinds=kinds,
            values=form,
            error=_public_error(exc, lang),
            status=400,
        )
    response = RedirectResponse("/verify" if mailed else "/verify?unsent=1", status_code=303)
    pending = f"{submission.challenge}:{submission.request.id}:{lang}"
    _cookie(web, response, VERIFY_COOKIE, sign(web.cookie_key, pending), 3600)
    return response


def _submit(web: Web, form: dict[str, str], extra: list[str], lang: str) -> Any:
    from dsr import portal

    return portal.submit(
        web.tk,
        type=form.get("type", ""),
        email=form.get("email", ""),
        identities=extra,
        message=form.get("message") or None,
        lang=lang,
    )


def _public_error(exc: DSRError, lang: str) -> str:
    """What the person is told of a refused submission, in their language: the kind of
    problem, never an echo of what they typed."""
    from dsr.ledger.verification import TooManyCodes

    p = i18n.texts(lang)["portal"]
    if isinstance(exc, TooManyCodes):
        return str(p["code_too_many"])
    if exc.where == "type":
        return str(p["submit_type"])
    return str(p["submit_invalid"])


def _mail_code(web: Web, lang: str, address: str, code: str) -> None:
    p = i18n.texts(lang)["portal"]["mail"]
    name = web.tk.catalog.controller.name
    web.mailer.send(
        Mail(
            to=address,
            subject=p["code_subject"].format(controller=name),
            text=p["code_text"].format(controller=name, code=code),
            kind="code",
        )
    )


# -- verify -----------------------------------------------------------------------------------


def _pending(web: Web, request: Request) -> tuple[str, int, str] | None:
    value = unsign(web.cookie_key, request.cookies.get(VERIFY_COOKIE))
    if value is None:
        return None
    challenge, _, rest = value.partition(":")
    request_id, _, lang = rest.partition(":")
    if not request_id.isdigit() or lang not in LANGS:
        return None
    return challenge, int(request_id), lang


async def verify_page(request: Request) -> Response:
    web = web_of(request)
    pending = _pending(web, request)
    lang = pending[2] if pending else pick_lang(request)
    notice = None
    if pending is not None and request.query_params.get("unsent"):
        notice = i18n.texts(lang)["portal"]["code_unsent"]
    return _page(
        web, request, "portal/verify.html", lang, pending=pending is not None, notice=notice
    )


async def verify(request: Request) -> Response:
    posted = await _code_form(request)
    if isinstance(posted, Response):
        return posted
    web, form, (challenge, request_id, lang) = posted
    code = "".join(ch for ch in form.get("code", "") if ch.isdigit())[:6]

    def work() -> tuple[str, int, Any, bool]:
        with web.tk.acting_as(PORTAL_ACTOR):
            return _verify(web, challenge, code, request_id, lang)

    outcome, left, view, mailed = await run_in_threadpool(work)
    p = i18n.texts(lang)["portal"]
    if outcome == "used":
        response = _page(web, request, "portal/verified.html", lang, used=True)
        response.delete_cookie(VERIFY_COOKIE, path="/")
        return response
    if outcome != "verified":
        notice = {
            "wrong": i18n.plural(p["code_wrong"], left, lang),
            "locked": p["code_locked"],
            "expired": p["code_expired"],
        }.get(outcome, p["no_pending"])  # unknown, or the request was closed meanwhile
        return _page(
            web,
            request,
            "portal/verify.html",
            lang,
            pending=outcome == "wrong",
            notice=notice,
            renew=outcome in ("locked", "expired"),
        )
    from dsr import portal

    response = _page(
        web, request, "portal/verified.html", lang, view=view, used=False, unmailed=not mailed
    )
    response.delete_cookie(VERIFY_COOKIE, path="/")
    # The person just proved the address: this browser follows the request from here on.
    token = portal.status_token(web.tk, request_id)
    _cookie(web, response, STATUS_COOKIE, token, 90 * 86400)
    return response


def _verify(
    web: Web, challenge: str, code: str, request_id: int, lang: str
) -> tuple[str, int, Any, bool]:
    """The check's outcome, attempts left, the request and whether the status mail went out
    (a mail server that fails does not undo the verification: the page links the status)."""
    from dsr import portal
    from dsr.errors import MailError

    check = portal.verify(web.tk, challenge, code)
    if not check.ok:
        return check.outcome, check.attempts_left, None, False
    view = portal.request_view(web.tk, request_id, staff=True)
    address = view.address()
    mailed = False
    if address is not None:
        try:
            _mail_status(web, lang, address, view.request)
            mailed = True
        except MailError:
            pass
    return "verified", 0, view, mailed


async def new_code(request: Request) -> Response:
    from dsr import portal
    from dsr.errors import MailError
    from dsr.ledger.verification import TooManyCodes

    posted = await _code_form(request)
    if isinstance(posted, Response):
        return posted
    web, _, (_, request_id, lang) = posted

    def work() -> str:
        with web.tk.acting_as(PORTAL_ACTOR):
            challenge, code, address = portal.new_code(web.tk, request_id)
        try:
            _mail_code(web, lang, address, code)
        except MailError:
            portal.discard_code(web.tk, challenge)  # proves nothing, counts against nothing
            raise
        return challenge

    p = i18n.texts(lang)["portal"]
    try:
        challenge = await run_in_threadpool(work)
    except TooManyCodes:
        return _page(
            web, request, "portal/verify.html", lang, pending=False, notice=p["code_too_many"]
        )
    except MailError:
        return _page(
            web, request, "portal/verify.html", lang, pending=True, notice=p["code_unsent"]
        )
    except DSRError:  # the request was closed (or expired) meanwhile
        response = _page(
            web, request, "portal/verify.html", lang, pending=False, notice=p["no_pending"]
        )
        response.delete_cookie(VERIFY_COOKIE, path="/")
        return response
    response = RedirectResponse("/verify", status_code=303)
    value = sign(web.cookie_key, f"{challenge}:{request_id}:{lang}")
    _cookie(web, response, VERIFY_COOKIE, value, 3600)
    return response


def _mail_status(web: Web, lang: str, address: str, req: Any) -> None:
    from dsr import portal

    p = i18n.texts(lang)["portal"]["mail"]
    name = web.tk.catalog.controller.name
    link = web.url(f"/status/{portal.status_token(web.tk, req.id)}?lang={lang}")
    web.mailer.send(
        Mail(
            to=address,
            subject=p["status_subject"].format(controller=name, ref=ref(req.id)),
            text=p["status_text"].format(
                controller=name,
                ref=ref(req.id),
                received=i18n.date_text(req.received, lang),
                due=i18n.date_text(req.due, lang),
                link=link,
            ),
            kind="status",
        )
    )


# -- status -----------------------------------------------------------------------------------


async def status_link(request: Request) -> Response:
    web = web_of(request)
    response = RedirectResponse("/status", status_code=303)
    token = request.path_params["token"]
    if len(token) < 200:
        _cookie(web, response, STATUS_COOKIE, token, 90 * 86400)
    if request.query_params.get("lang") in LANGS:
        _cookie(web, response, LANG_COOKIE, request.query_params["lang"], 365 * 86400)
    return response


async def status(request: Request) -> Response:
    from dsr import portal

    web = web_of(request)
    lang = pick_lang(request)
    token = request.cookies.get(STATUS_COOKIE, "")

    def work() -> Any:
        request_id = portal.read_status_token(web.tk, token)
        return portal.request_view(web.tk, request_id)

    try:
        view = await run_in_threadpool(work)
    except DSRError:
        p = i18n.texts(lang)["portal"]
        return web.page(
            request,
            "portal/link.html",
            lang=lang,
            status=400,
            title=p["link_title"],
            message=p["status_link_bad"],
        )
    return _page(web, request, "portal/status.html", lang, view=view)


# -- download ---------------------------------------------------------------------------------


async def download_page(request: Request) -> Response:
    web = web_of(request)
    lang = pick_lang(request)
    token = request.path_params["token"]
    state = await run_in_threadpool(_token_state, web, token)
    if state["state"] != "ready":
        return _link_problem(web, request, lang, state["state"])
    return _page(web, request, "portal/download.html", lang, token=token, package=state)


def _token_state(web: Web, token: str) -> dict[str, Any]:
    from dsr.portability.delivery import package_state

    return package_state(web.tk.engine, web.tk.keys, token, clock=web.tk.clock)


def _link_problem(web: Web, request: Request, lang: str, state: str) -> Response:
    p = i18n.texts(lang)["portal"]
    message = {"used": p["link_used"], "expired": p["link_expired"]}.get(state, p["link_bad"])
    return web.page(
        request,
        "portal/link.html",
        lang=lang,
        status=410 if state in ("used", "expired") else 400,
        title=p["link_title"],
        message=message,
    )


async def download(request: Request) -> Response:
    web = web_of(request)
    lang = pick_lang(request)
    form = await _posted(web, request, lang, web.download_limit)
    if isinstance(form, Response):
        return form
    token = form.get("token", "")
    folder = Path(tempfile.mkdtemp(prefix="dsr-download-"))

    def work() -> Any:
        with web.tk.acting_as(PORTAL_ACTOR):
            return web.tk.download(token, folder / "download")

    try:
        done = await run_in_threadpool(work)
    except DSRError:
        shutil.rmtree(folder, ignore_errors=True)
        state = await run_in_threadpool(_token_state, web, token)
        return _link_problem(web, request, lang, state["state"])
    name = (
        "access-report.pdf"
        if done.media_type == "application/pdf"
        else ("access-report.html" if done.media_type == "text/html" else "data-package.zip")
    )
    return FileResponse(
        done.file,
        media_type=done.media_type,
        filename=name,
        content_disposition_type="attachment",
        background=BackgroundTask(shutil.rmtree, folder, True),
    )
