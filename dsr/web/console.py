"""The console: staff sign in, work the register, prepare answers; a DPO approves them.

Every action is a call into :mod:`dsr.portal` or the toolkit, made with the staff member as
the audit trail's actor (``dpo:a.schmidt``). Support staff prepare (previews, reports,
packages, erasure plans, extensions, letters); what reaches the person or destroys data
(sending a report or package, an erasure, a refusal, holds) needs the DPO role. Every form
carries the session's CSRF token; a session is a fresh random token from sign-in on
(``HttpOnly``, ``SameSite=Strict``, ``Secure`` behind https), stored only hashed.
"""

from __future__ import annotations

import hmac
from datetime import date, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from dsr import i18n
from dsr.errors import DSRError
from dsr.ledger.staff import SESSION_LIFETIME, StaffUser
from dsr.web.app import Web, client_ip, web_of
from dsr.web.mail import Attachment, Mail
from dsr.web.portal import CSRF_COOKIE, ref
from dsr.web.security import csrf_field, csrf_ok, new_secret

SESSION_COOKIE = "dsr_session"


def routes() -> list[Route]:
    return [
        Route("/console/login", login_page, methods=["GET"], name="login"),
        Route("/console/login", login, methods=["POST"], name="login_post"),
        Route("/console/logout", logout, methods=["POST"], name="logout"),
        Route("/console", register, methods=["GET"], name="register"),
        Route("/console/requests/{id:int}", request_page, methods=["GET"], name="request"),
        Route("/console/requests/{id:int}/record", record_file, methods=["GET"], name="record"),
        Route("/console/requests/{id:int}/{action:str}", act, methods=["POST"], name="act"),
        Route("/console/answers/{id:int}/approve", approve, methods=["POST"], name="approve"),
        Route("/console/answers/{id:int}/resend", resend, methods=["POST"], name="resend"),
        Route("/console/holds", holds_page, methods=["GET"], name="holds"),
        Route("/console/holds", hold_act, methods=["POST"], name="hold_post"),
    ]


# -- sessions ---------------------------------------------------------------------------------


def _session(web: Web, request: Request) -> tuple[StaffUser, str] | None:
    from dsr.ledger.staff import session_user

    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    with web.tk.engine.connect() as conn:
        return session_user(conn, token, clock=web.tk.clock)


async def _signed_in(request: Request) -> tuple[Web, StaffUser, str] | Response:
    web = web_of(request)
    found = await run_in_threadpool(_session, web, request)
    if found is None:
        return RedirectResponse("/console/login", status_code=303)
    return web, found[0], found[1]


async def _posted(
    request: Request, max_fields: int, *, dpo_only: str | None = None
) -> tuple[Web, StaffUser, FormData] | Response:
    """A staff form: signed in, the session's CSRF token, and (``dpo_only``: the refusal's
    text) the DPO role; else the response that refuses it."""
    signed = await _signed_in(request)
    if isinstance(signed, Response):
        return signed
    web, user, csrf = signed
    form = await request.form(max_files=0, max_fields=max_fields)
    if not hmac.compare_digest(str(form.get("csrf", "")), csrf):
        return _forbidden(web, request)
    if dpo_only is not None and not user.is_dpo:
        return _forbidden(web, request, dpo_only)
    return web, user, form


def _page(
    web: Web, request: Request, template: str, user: StaffUser | None, csrf: str, **context: Any
) -> Response:
    return web.page(
        request,
        template,
        lang="en",
        user=user,
        csrf=csrf,
        ref=ref,
        flash=DONE.get(request.query_params.get("done", "")),
        **context,
    )


#: What a finished action says at the top of the page it returns to (``?done=KEY``; any other
#: value says nothing).
DONE = {
    "identity-verified": "Identity recorded as verified.",
    "prepared-report": "Report prepared; it waits for a DPO's approval.",
    "prepared-package": "Package prepared; it waits for a DPO's approval.",
    "prepared-erasure": "Erasure plan prepared; it runs when a DPO approves it.",
    "extended": "Deadline extended; the notice was mailed.",
    "letter-sent": "Letter written and mailed.",
    "refused": "Refusal mailed.",
    "closed": "Request closed.",
    "approved": "Approved.",
    "resent": "The link was mailed again.",
    "hold": "Holds updated.",
}


async def login_page(request: Request) -> Response:
    web = web_of(request)
    have = request.cookies.get(CSRF_COOKIE)
    fresh = None if have else new_secret()
    field = csrf_field(web.cookie_key, have or fresh or "")
    response = _page(web, request, "console/login.html", None, field, error=None)
    if fresh:
        response.set_cookie(
            CSRF_COOKIE, fresh, httponly=True, secure=web.https, samesite="lax", path="/"
        )
    return response


async def login(request: Request) -> Response:
    from dsr.ledger.staff import authenticate, start_session

    web = web_of(request)
    form = dict(await request.form(max_files=0, max_fields=10))
    field = str(form.get("csrf", ""))
    if not csrf_ok(web.cookie_key, request.cookies.get(CSRF_COOKIE), field):
        return _page(
            web,
            request,
            "console/login.html",
            None,
            field,
            error="The form expired. Reload the page and sign in again.",
            status=403,
        )
    name = str(form.get("name", ""))[:100]
    ip = client_ip(request)
    account = name.strip().lower()
    # Per address; per account from that address (tighter, so it is what stops a guesser);
    # and per account from everywhere at a much higher bound, so guesses spread over many
    # addresses stay bounded without letting a few wrong ones lock staff out.
    if (
        not web.login_limit.allow(ip)
        or not web.account_ip_limit.allow(f"{account}\n{ip}")
        or not web.account_limit.allow(account)
    ):
        return _page(
            web,
            request,
            "console/login.html",
            None,
            field,
            error="Too many sign-in attempts. Wait 15 minutes.",
            status=429,
        )

    def work() -> tuple[str, str] | None:
        with web.tk.engine.begin() as conn:
            user = authenticate(conn, name, str(form.get("password", "")))
            if user is None:
                return None
            with web.tk.acting_as(user.actor):
                token, _ = start_session(conn, web.tk.keys, user, clock=web.tk.clock)
        return token, user.name

    done = await run_in_threadpool(work)
    if done is None:
        return _page(
            web,
            request,
            "console/login.html",
            None,
            field,
            error="Wrong name or password.",
            status=401,
        )
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        done[0],
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        secure=web.https,
        samesite="strict",
        path="/console",
    )
    return response


async def logout(request: Request) -> Response:
    from dsr.ledger.staff import end_session

    posted = await _posted(request, 5)
    if isinstance(posted, Response):
        return posted
    web = posted[0]

    def work() -> None:
        with web.tk.engine.begin() as conn:
            end_session(conn, request.cookies.get(SESSION_COOKIE, ""))

    await run_in_threadpool(work)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


def _forbidden(web: Web, request: Request, message: str | None = None) -> Response:
    return web.page(
        request,
        "error.html",
        status=403,
        message=message
        or "The form expired or did not come from this console. Reload the page and try again.",
    )


# -- the register -----------------------------------------------------------------------------

VIEWS = {
    "open": "Open",
    "overdue": "Overdue",
    "soon": "Due within 7 days",
    "closed": "Closed",
    "all": "All",
}


async def register(request: Request) -> Response:
    from dsr import portal

    signed = await _signed_in(request)
    if isinstance(signed, Response):
        return signed
    web, user, csrf = signed
    view = request.query_params.get("view", "open")
    view = view if view in VIEWS else "open"
    rtype = request.query_params.get("type") or None

    def work() -> dict[str, Any]:
        tk = web.tk
        everything = tk.ledger.requests()
        today = tk.ledger.today()
        shown = [r for r in everything if rtype is None or r.type == rtype]
        if view == "open":
            shown = [r for r in shown if r.status != "closed"]
        elif view == "overdue":
            shown = [r for r in shown if r.is_overdue(today)]
        elif view == "soon":
            shown = [
                r for r in shown if r.status != "closed" and r.due <= today + timedelta(days=7)
            ]
        elif view == "closed":
            shown = [r for r in shown if r.status == "closed"]
        verdict = tk.ledger.verify()
        return {
            "summary": portal.register_summary(tk, everything),
            "requests": shown,
            "today": today,
            "audit": verdict,
        }

    data = await run_in_threadpool(work)
    return _page(
        web,
        request,
        "console/register.html",
        user,
        csrf,
        views=VIEWS,
        view=view,
        rtype=rtype,
        types=portal.PORTAL_TYPES,
        **data,
    )


async def request_page(request: Request) -> Response:
    from dsr import portal

    signed = await _signed_in(request)
    if isinstance(signed, Response):
        return signed
    web, user, csrf = signed
    request_id = int(request.path_params["id"])

    def work() -> dict[str, Any]:
        tk = web.tk
        view = portal.request_view(tk, request_id, staff=True)
        entries = _audit_of(tk, request_id)
        earlier = tk.ledger.earlier_requests(request_id)
        preview = None
        if request.query_params.get("preview") and view.verified:
            preview = portal.preview(tk, request_id)
        return {"view": view, "audit_entries": entries, "preview": preview, "earlier": earlier}

    try:
        data = await run_in_threadpool(work)
    except DSRError as exc:
        return web.page(request, "error.html", status=404, message=str(exc))
    from dsr.ledger.answers import KINDS_BY_TYPE
    from dsr.rights import LETTER_KINDS, REFUSAL_GROUNDS

    return _page(
        web,
        request,
        "console/request.html",
        user,
        csrf,
        letter_kinds=LETTER_KINDS,
        grounds=REFUSAL_GROUNDS,
        close_outcomes=portal.CLOSE_OUTCOMES,
        answer_kinds=KINDS_BY_TYPE.get(data["view"].request.type, ()),
        **data,
    )


async def record_file(request: Request) -> Response:
    """The DPO's internal record of the request (:mod:`dsr.rights.record`), as a PDF where
    WeasyPrint is installed, else HTML, always as a download: it names the person."""
    from dsr import portal
    from dsr.rights.record import dpo_record, render_record_html

    signed = await _signed_in(request)
    if isinstance(signed, Response):
        return signed
    web, user, _ = signed
    request_id = int(request.path_params["id"])

    def work() -> tuple[bytes, str]:
        html = render_record_html(dpo_record(web.tk, request_id))
        if portal.document_format() == "pdf":
            from dsr.render.pdf import html_to_pdf

            return html_to_pdf(html), "pdf"
        return html.encode("utf-8"), "html"

    try:
        document, fmt = await run_in_threadpool(work)
    except DSRError as exc:
        return web.page(request, "error.html", status=404, message=str(exc))
    return Response(
        document,
        media_type="application/pdf" if fmt == "pdf" else "text/html",
        headers={"content-disposition": f'attachment; filename="record-{ref(request_id)}.{fmt}"'},
    )


def _audit_of(tk: Any, request_id: int) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from dsr.ledger.tables import audit

    with tk.engine.connect() as conn:
        rows = conn.execute(
            select(audit.c.seq, audit.c.at, audit.c.actor, audit.c.action, audit.c.details)
            .where(audit.c.request_id == request_id)
            .order_by(audit.c.seq)
        ).all()
    return [dict(r._mapping) for r in rows]


# -- actions on a request ---------------------------------------------------------------------

#: What each action needs: the DPO role for what reaches the person or destroys data, and for
#: closing (which ends what the register holds the controller to).
DPO_ONLY = {"refuse", "close"}
ACTIONS = {"verify-identity", "prepare", "extend", "letter", "refuse", "close"}


async def act(request: Request) -> Response:
    posted = await _posted(request, 40)
    if isinstance(posted, Response):
        return posted
    web, user, form = posted
    request_id = int(request.path_params["id"])
    action = request.path_params["action"]
    if action not in ACTIONS:
        return web.page(request, "error.html", status=404, message="No such action.")
    if action in DPO_ONLY and not user.is_dpo:
        return _forbidden(web, request, "Only a DPO can do this.")
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    grounds = [str(v) for v in form.getlist("ground")]

    def work() -> str:
        with web.tk.acting_as(user.actor):
            return _do(web, request_id, action, values, grounds)

    try:
        done = await run_in_threadpool(work)
    except DSRError as exc:
        return _failed(web, request, exc, f"/console/requests/{request_id}")
    return RedirectResponse(f"/console/requests/{request_id}?done={done}", status_code=303)


def _failed(web: Web, request: Request, exc: DSRError, back: str) -> Response:
    """The page for an action the library refused (409) or whose mail did not go out (502)."""
    from dsr.errors import MailError

    return web.page(
        request,
        "error.html",
        status=502 if isinstance(exc, MailError) else 409,
        message=str(exc),
        back=back,
    )


def _do(web: Web, request_id: int, action: str, form: dict[str, str], grounds: list[str]) -> str:
    from dsr import portal

    tk = web.tk
    lang = form.get("lang", "en") if form.get("lang") in ("en", "de") else "en"
    if action == "verify-identity":
        portal.record_check(tk, request_id, form.get("identity", ""), form.get("method", ""))
        return "identity-verified"
    if action == "prepare":
        kind = form.get("kind", "")
        if kind == "report":
            portal.prepare_report(tk, request_id, lang=lang)
        elif kind == "package":
            portal.prepare_package(tk, request_id)
        elif kind == "erasure":
            portal.prepare_erasure(tk, request_id)
        else:
            from dsr.errors import RequestError

            raise RequestError("prepare a report, a package or an erasure", where="kind")
        return f"prepared-{kind}"
    if action == "extend":
        months = int(form.get("months", "0") or 0)
        _address(web, request_id)  # nobody to tell: refused before anything is recorded
        tk.ledger.extend(request_id, months, form.get("reason", ""))
        _letter_after(web, request_id, "extension", lang, "the extension was")
        return "extended"
    if action == "letter":
        kind = form.get("kind", "")
        if kind == "refusal":
            from dsr.errors import RequestError

            raise RequestError("a refusal is the DPO's, with its grounds: use Refuse", where="kind")
        send_letter(web, request_id, kind, lang)
        return "letter-sent"
    if action == "refuse":
        reasons = [form["reason"]] if form.get("reason", "").strip() else []
        send_letter(
            web,
            request_id,
            "refusal",
            lang,
            grounds=grounds,
            reasons=reasons,
            partial=form.get("partial") == "on",
        )
        if form.get("partial") != "on":
            tk.ledger.close(request_id, "refused", refused=True)
        return "refused"
    if action == "close":
        portal.close(tk, request_id, form.get("outcome", ""))
        return "closed"
    raise AssertionError(action)


def _address(web: Web, request_id: int) -> str:
    from dsr import portal
    from dsr.errors import RequestError

    address = portal.person_address(web.tk, request_id)
    if address is None:
        raise RequestError(
            "the request has no verified e-mail address to write to", where=f"request {request_id}"
        )
    return address


def send_letter(
    web: Web,
    request_id: int,
    kind: str,
    lang: str,
    *,
    grounds: list[str] | None = None,
    reasons: list[str] | None = None,
    partial: bool = False,
) -> None:
    """Write a letter to the person of a request and mail it to their verified address, as PDF
    where WeasyPrint is installed, else HTML; recorded on the request once it went out (a
    :class:`~dsr.errors.MailError` records nothing)."""
    from dsr import portal

    address = _address(web, request_id)
    fmt = portal.document_format()
    p = i18n.texts(lang)["portal"]

    def mail(letter: Any, document: bytes) -> None:
        status_link = web.url(f"/status/{portal.status_token(web.tk, request_id)}?lang={lang}")
        name = web.tk.catalog.controller.name
        title = p["letter_kinds"].get(kind, kind)
        web.mailer.send(
            Mail(
                to=address,
                subject=p["mail"]["letter_subject"].format(title=title, ref=ref(request_id)),
                text=p["mail"]["letter_text"].format(
                    ref=ref(request_id), status_link=status_link, controller=name
                ),
                kind=f"letter.{kind}",
                attachments=(
                    Attachment(
                        f"{kind}-{ref(request_id)}.{fmt}",
                        document,
                        "application/pdf" if fmt == "pdf" else "text/html",
                    ),
                ),
            )
        )

    web.tk.ledger.letter(
        request_id,
        kind,
        lang=lang,
        fmt=fmt,
        grounds=grounds or (),
        reasons=reasons or (),
        partial=partial,
        send=mail,
    )


async def _answer_action(
    request: Request, work: Any, done: str, *, dpo_only: str | None = None
) -> Response:
    """A POST on one answer: ``work(web, user, answer_id, lang)`` returns its request's id;
    back to that request's page with ``?done=``, or the page saying why not."""
    posted = await _posted(request, 5, dpo_only=dpo_only)
    if isinstance(posted, Response):
        return posted
    web, user, form = posted
    answer_id = int(request.path_params["id"])
    lang = str(form.get("lang", "en")) if form.get("lang") in ("en", "de") else "en"
    try:
        request_id = await run_in_threadpool(work, web, user, answer_id, lang)
    except DSRError as exc:
        back = await run_in_threadpool(_answer_page, web, answer_id)
        return _failed(web, request, exc, back)
    return RedirectResponse(f"/console/requests/{request_id}?done={done}", status_code=303)


def _answer_page(web: Web, answer_id: int) -> str:
    """The console page of the request an answer belongs to (the register if none)."""
    from dsr.ledger.answers import get_answer

    try:
        with web.tk.engine.connect() as conn:
            return f"/console/requests/{get_answer(conn, answer_id).request_id}"
    except DSRError:
        return "/console"


async def approve(request: Request) -> Response:
    from dsr import portal

    def work(web: Web, user: StaffUser, answer_id: int, lang: str) -> int:
        with web.tk.acting_as(user.actor):
            done = portal.approve(web.tk, answer_id, send_link=lambda a: _mail_link(web, a, lang))
            if done.plan is not None:
                _letter_after(web, done.answer.request_id, "completion", lang, "the erasure was")
        return done.answer.request_id

    return await _answer_action(
        request,
        work,
        "approved",
        dpo_only="Only a DPO approves what reaches the person or erases data.",
    )


async def resend(request: Request) -> Response:
    """Mail an approved answer's link again (any staff member: it goes to the verified address
    only, and only while the download is unused and unexpired)."""
    from dsr import portal

    def work(web: Web, user: StaffUser, answer_id: int, lang: str) -> int:
        with web.tk.acting_as(user.actor):
            again = portal.resend(web.tk, answer_id, send_link=lambda a: _mail_link(web, a, lang))
        return again.answer.request_id

    return await _answer_action(request, work, "resent")


def _letter_after(web: Web, request_id: int, kind: str, lang: str, what: str) -> None:
    """Mail the letter that follows work already done and recorded (``what``: "the deadline
    was"): a failure says the work stands and how to send the letter again."""
    from dsr.errors import MailError

    try:
        send_letter(web, request_id, kind, lang)
    except MailError as exc:
        raise MailError(
            f"{what} carried out, but the {kind} letter could not be mailed ({exc.message}): "
            f"send it again with 'Send a letter', kind {kind}",
            where=exc.where,
        ) from None


def _mail_link(web: Web, done: Any, lang: str) -> None:
    from dsr import portal

    p = i18n.texts(lang)["portal"]
    answer = done.answer
    what = p["download_kind_report"] if answer.kind == "report" else p["download_kind_package"]
    expires = answer.summary.get("expires_at")
    name = web.tk.catalog.controller.name
    web.mailer.send(
        Mail(
            to=done.address,
            subject=p["mail"]["link_subject"].format(controller=name, ref=ref(answer.request_id)),
            text=p["mail"]["link_text"].format(
                ref=ref(answer.request_id),
                what=what,
                link=web.url(f"/download/{done.token}?lang={lang}"),
                expires=_when(expires, lang),
                status_link=web.url(
                    f"/status/{portal.status_token(web.tk, answer.request_id)}?lang={lang}"
                ),
                controller=name,
            ),
            kind="link",
        )
    )


def _when(value: str | None, lang: str) -> str:
    from datetime import datetime

    if not value:
        return ""
    return i18n.datetime_text(datetime.fromisoformat(value), lang)


# -- holds ------------------------------------------------------------------------------------


async def holds_page(request: Request) -> Response:
    signed = await _signed_in(request)
    if isinstance(signed, Response):
        return signed
    web, user, csrf = signed
    holds = await run_in_threadpool(web.tk.ledger.holds)
    tables = sorted(web.tk.catalog.tables)
    return _page(web, request, "console/holds.html", user, csrf, holds=holds, tables=tables)


async def hold_act(request: Request) -> Response:
    posted = await _posted(request, 10, dpo_only="Only a DPO places or releases holds.")
    if isinstance(posted, Response):
        return posted
    web, user, form = posted

    def work() -> None:
        with web.tk.acting_as(user.actor):
            if form.get("release"):
                web.tk.ledger.release(int(str(form["release"])))
                return
            until = str(form.get("until") or "")
            identities = [str(form["identity"])] if form.get("identity") else None
            web.tk.ledger.hold(
                reason=str(form.get("reason", "")),
                table=str(form["table"]) if form.get("table") else None,
                identities=identities,
                until=date.fromisoformat(until) if until else None,
            )

    try:
        await run_in_threadpool(work)
    except (DSRError, ValueError) as exc:
        return web.page(request, "error.html", status=409, message=str(exc), back="/console/holds")
    return RedirectResponse("/console/holds?done=hold", status_code=303)
