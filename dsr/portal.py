"""The services behind ``dsr serve``, usable without it: a person submits and verifies a
request, staff prepare its answer, a DPO approves it.

Every function takes the :class:`~dsr.toolkit.Toolkit` first (as alembic's commands take their
``Config``) and works through the same library calls as the command line, in the same ledger,
audited with the acting staff member (:meth:`Toolkit.acting_as`). Nothing here sends mail or
knows about HTTP: the web application (:mod:`dsr.web`) does that with what these return.

A request is *received* when it is submitted (Art. 12(3): the month runs from then) and
registered at once; the identities the person gave are matched only once verified
(:mod:`dsr.ledger.verification`). The time until verification is not silently taken off the
deadline: :func:`request_view` shows it as a second, adjusted date.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from hashlib import sha256
from typing import TYPE_CHECKING, Any

from dsr.clock import utc_naive
from dsr.errors import DeliveryError, RequestError
from dsr.rights import REQUEST_TYPES
from dsr.subject.identity import Identity, parse_identities

if TYPE_CHECKING:
    from dsr.crypto.keys import KeyProvider
    from dsr.ledger.answers import Answer
    from dsr.ledger.requests import Request
    from dsr.ledger.verification import Check, IdentityCheck
    from dsr.rights.erase import ErasurePlan
    from dsr.toolkit import Toolkit

#: How long a status link works; a new one goes out with every mail that concerns the request.
STATUS_LINK_LIFETIME = timedelta(days=90)
#: What the portal offers; objection is registered for the DPO's assessment (Art. 21).
PORTAL_TYPES = REQUEST_TYPES
#: An open request none of whose identities was verified is closed as ``unverified`` after
#: this long (:func:`expire_unverified`): nobody proved to be the person.
UNVERIFIED_LIFETIME = timedelta(days=30)
#: How a request can be closed from the console (a refusal closes with its letter instead).
CLOSE_OUTCOMES = {
    "completed": "answered in full",
    "withdrawn": "withdrawn by the person",
    "unverified": "nobody proved to be the person: no identity of the request was verified",
}


@dataclass(frozen=True)
class Submission:
    """A registered request and the one-time code to send to ``email`` (never log it)."""

    request: Request
    email: str
    challenge: str
    code: str


def submit(
    tk: Toolkit,
    *,
    type: str,
    email: str,
    identities: Sequence[str] = (),
    message: str | None = None,
    lang: str = "en",
) -> Submission:
    """Register a request as received today and issue the code that verifies ``email``.

    ``identities``: more ``TYPE=VALUE`` the person claims (a customer number, a telephone
    number); registered with the request, matched only once staff verified them. A malformed
    one is a :class:`~dsr.errors.SubjectError` and nothing is registered.
    """
    from dsr.ledger.requests import open_request
    from dsr.ledger.verification import issue_code

    if type not in PORTAL_TYPES:
        raise RequestError(f"unknown request type {type!r}", where="type")
    address = parse_identities([f"email={email}"], tk.catalog)[0]
    parsed = parse_identities([address, *identities], tk.catalog)
    tk.ledger.require()
    with tk.engine.begin() as conn:
        request = open_request(
            conn,
            tk.keys,
            tk.catalog,
            type=type,
            identities=parsed,
            received=tk.ledger.today(),
            clock=tk.clock,
            message=message,
            lang=lang,
        )
        challenge, code = issue_code(conn, tk.keys, request.id, address, clock=tk.clock)
    return Submission(request, address.value, challenge, code)


def new_code(tk: Toolkit, request_id: int) -> tuple[str, str, str]:
    """Another code for the request's e-mail address: ``(challenge, code, address)``; refused
    (:class:`~dsr.ledger.verification.TooManyCodes`) past the hourly limit."""
    from dsr.ledger.verification import issue_code

    view = request_view(tk, request_id, staff=True)
    _require_open(view.request)
    address = view.address(verified_only=False)
    if address is None:
        raise RequestError("the request has no e-mail address", where=f"request {request_id}")
    with tk.engine.begin() as conn:
        challenge, code = issue_code(
            conn, tk.keys, request_id, Identity("email", address), clock=tk.clock
        )
    return challenge, code, address


def discard_code(tk: Toolkit, challenge: str) -> None:
    """Forget a code whose mail could not be sent: it proves nothing, and does not count
    against the address's hourly limit."""
    from dsr.ledger.tables import verifications

    with tk.engine.begin() as conn:
        conn.execute(
            verifications.delete().where(
                verifications.c.id == challenge, verifications.c.verified_at.is_(None)
            )
        )


def verify(tk: Toolkit, challenge: str, code: str) -> Check:
    """Check a code the person entered (see :func:`dsr.ledger.verification.check_code`)."""
    from dsr.ledger.verification import check_code

    tk.ledger.require()
    with tk.engine.begin() as conn:
        return check_code(conn, tk.keys, challenge, code, clock=tk.clock)


def record_check(tk: Toolkit, request_id: int, identity: str, method: str) -> None:
    """A staff member verified one of the request's identities by ``method``."""
    from dsr.ledger.verification import record_check as record

    req = tk.ledger.request(request_id, with_identities=True)
    _require_open(req)
    wanted = parse_identities([identity], tk.catalog)[0]
    if req.identities is None or wanted.spec not in req.identities:
        raise RequestError("not an identity of this request", where=f"request {request_id}")
    with tk.engine.begin() as conn:
        record(conn, tk.keys, request_id, wanted, method, clock=tk.clock)


# -- what the person and staff see ------------------------------------------------------------


@dataclass(frozen=True)
class RequestView:
    """A request as the status page and the console show it."""

    request: Request
    today: date
    checks: list[IdentityCheck] = field(default_factory=list)
    letters: list[dict[str, Any]] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    message: str | None = None

    @property
    def pending_verification_days(self) -> int:
        """Days from receipt until the first identity was verified (or until today)."""
        req = self.request
        end = req.verified_at.date() if req.verified_at else self.today
        return max(0, (end - req.received).days)

    @property
    def adjusted_due(self) -> date | None:
        """The due date if the time awaiting verification were not counted (shown, never
        applied: whether it may be is the DPO's call, EDPB 01/2022 para. 159)."""
        days = self.pending_verification_days
        if days == 0 or self.request.status == "closed":
            return None
        return self.request.due + timedelta(days=days)

    @property
    def verified(self) -> list[Identity]:
        return [c.identity for c in self.checks if c.verified]

    def address(self, *, verified_only: bool = True) -> str | None:
        """The e-mail address the request's mail goes to: its (verified) e-mail identity
        (needs a staff view: the identities are decrypted)."""
        for check in self.checks:
            if check.identity.type == "email" and (check.verified or not verified_only):
                return check.identity.value
        return None

    def matchable(self) -> list[Identity]:
        """What an answer may match: the verified identities; none is an error."""
        if not self.verified:
            raise RequestError(
                "no identity of this request is verified yet; only verified identities are matched",
                where=f"request {self.request.id}",
            )
        return self.verified


def request_view(tk: Toolkit, request_id: int, *, staff: bool = False) -> RequestView:
    """A request with its letters; for ``staff`` also its identities with their verification,
    the person's message and the prepared answers (decrypted: personal data)."""
    from dsr.ledger.answers import answers_of
    from dsr.ledger.requests import get_request, request_message
    from dsr.ledger.verification import identity_checks
    from dsr.letters import letters_of

    tk.ledger.require()
    with tk.engine.connect() as conn:
        req = get_request(conn, tk.keys, request_id, with_identities=True)
        # an expired unverified request holds none any more (expire_unverified)
        ids = parse_identities(req.identities, tk.catalog) if req.identities else []
        checks = identity_checks(conn, tk.keys, request_id, ids)
        view = RequestView(
            request=req,
            today=tk.ledger.today(),
            checks=checks if staff else [],
            letters=letters_of(req),
            answers=answers_of(conn, request_id) if staff else [],
            message=request_message(conn, tk.keys, request_id) if staff else None,
        )
    return view


def person_address(tk: Toolkit, request_id: int, *, verified_only: bool = True) -> str | None:
    """The e-mail address the request's mail goes to: its (verified) e-mail identity."""
    return request_view(tk, request_id, staff=True).address(verified_only=verified_only)


def verified_identities(tk: Toolkit, request_id: int) -> list[Identity]:
    """What an answer may match: the request's verified identities (none: refused)."""
    return request_view(tk, request_id, staff=True).matchable()


# -- status links -----------------------------------------------------------------------------


def _status_mac(keys: KeyProvider, request_id: int, expires: int) -> str:
    from dsr.crypto.keys import derive

    mac = hmac.new(derive(keys, "status"), f"{request_id}.{expires}".encode(), sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def status_token(tk: Toolkit, request_id: int) -> str:
    """A signed, expiring token for the status page of one request (no personal data)."""
    expires = int((tk.clock.now() + STATUS_LINK_LIFETIME).timestamp())
    return f"s1.{request_id}.{expires}.{_status_mac(tk.keys, request_id, expires)}"


def read_status_token(tk: Toolkit, token: str) -> int:
    """The request id of a valid status token; :class:`DeliveryError` otherwise."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != "s1" or not parts[1].isdigit() or not parts[2].isdigit():
        raise DeliveryError("not a status link", where="status link")
    request_id, expires = int(parts[1]), int(parts[2])
    if not hmac.compare_digest(parts[3], _status_mac(tk.keys, request_id, expires)):
        raise DeliveryError("the status link was altered", where="status link")
    if expires <= int(tk.clock.now().timestamp()):
        raise DeliveryError("the status link expired", where="status link")
    return request_id


# -- answers: prepared by staff, approved by a DPO ----------------------------------------------


def _require_open(req: Request) -> None:
    if req.status == "closed":
        raise RequestError(
            "the request is closed: nothing more is prepared, approved or verified on it",
            where=f"request {req.id}",
        )


def _preparing(tk: Toolkit, request_id: int, kind: str) -> list[Identity]:
    """The verified identities an answer of ``kind`` is prepared for, once the request is open
    and of a type that answer fits (an access request is not answered with an erasure)."""
    from dsr.ledger.answers import KINDS_BY_TYPE

    view = request_view(tk, request_id, staff=True)
    _require_open(view.request)
    allowed = KINDS_BY_TYPE.get(view.request.type, ())
    if kind not in allowed:
        raise RequestError(
            f"a request for {view.request.type} is not answered with {kind!r}"
            + (f" (it takes: {', '.join(allowed)})" if allowed else " from the console"),
            where=f"request {request_id}",
        )
    return view.matchable()


def _identities_digest(tk: Toolkit, ids: Sequence[Identity]) -> str:
    """Which identities an answer was prepared for (a keyed pseudonym, no personal data)."""
    from dsr.crypto.keys import pseudonym

    return pseudonym(tk.keys, list(ids))


def preview(tk: Toolkit, request_id: int) -> list[dict[str, Any]]:
    """What access would find for the verified identities: per table, how many rows (nothing
    recorded, nothing delivered)."""
    record = tk.find(verified_identities(tk, request_id))
    return [{"table": t.table.name, "rows": len(t.rows)} for t in record.tables if t.rows]


def prepare_report(tk: Toolkit, request_id: int, *, lang: str = "en") -> Answer:
    """Produce the Art. 15 report (PDF where WeasyPrint is installed, else HTML) for the
    verified identities and seal it in the export storage, waiting for approval."""
    from dsr.crypto.keys import pseudonym
    from dsr.ledger.answers import prepare_answer
    from dsr.portability.delivery import deliver_document

    ids = _preparing(tk, request_id, "report")
    document, media_type = _report_document(tk, ids, request_id, lang)
    with tk.engine.begin() as conn:
        delivery = deliver_document(
            conn,
            tk.storage,
            tk.keys,
            document,
            media_type=media_type,
            subject=pseudonym(tk.keys, ids),
            clock=tk.clock,
            request_id=request_id,
        )
        assert delivery.token is not None and delivery.expires_at is not None
        return prepare_answer(
            conn,
            tk.keys,
            request_id,
            "report",
            {
                "media_type": media_type,
                "size": len(document),
                "lang": lang,
                "expires_at": delivery.expires_at.isoformat(),
                "identities": _identities_digest(tk, ids),
            },
            clock=tk.clock,
            token=delivery.token,
            package_id=delivery.package_id,
        )


def document_format() -> str:
    """What documents for the person are written as: ``pdf`` where the pdf extra
    (WeasyPrint and its system libraries) is installed, else ``html``."""
    from dsr.errors import MissingExtra

    try:
        import dsr.render.pdf  # noqa: F401
    except (MissingExtra, OSError):  # OSError: WeasyPrint without Pango
        return "html"
    return "pdf"


def _report_document(
    tk: Toolkit, ids: list[Identity], request_id: int, lang: str
) -> tuple[bytes, str]:
    fmt = document_format()
    report = tk.access(ids, lang=lang, request_id=request_id, output_format=fmt, record=True)
    if fmt == "pdf":
        from dsr.render.pdf import render_pdf

        return render_pdf(report), "application/pdf"
    from dsr.render.html import render_html

    return render_html(report).encode("utf-8"), "text/html"


def prepare_package(tk: Toolkit, request_id: int) -> Answer:
    """Export the Art. 20 package for the verified identities, sealed, waiting for approval.
    Nothing portable: refused, with the reason (answer with a refusal letter instead)."""
    from dsr.ledger.answers import prepare_answer

    ids = _preparing(tk, request_id, "package")
    delivery = tk.deliver(ids, request_id=request_id)
    if delivery.token is None:
        raise RequestError(
            "nothing portable was found (Art. 20(1)(a) not met: no data provided by the "
            "person under consent or contract); answer with a refusal letter offering an "
            "Art. 15 copy",
            where=f"request {request_id}",
        )
    assert delivery.export is not None and delivery.expires_at is not None
    with tk.engine.begin() as conn:
        return prepare_answer(
            conn,
            tk.keys,
            request_id,
            "package",
            {
                "media_type": "application/zip",
                "size": delivery.size,
                "rows": delivery.export.to_json().get("rows"),
                "expires_at": delivery.expires_at.isoformat(),
                "identities": _identities_digest(tk, ids),
            },
            clock=tk.clock,
            token=delivery.token,
            package_id=delivery.package_id,
        )


def prepare_erasure(tk: Toolkit, request_id: int) -> Answer:
    """The erasure's plan (a dry run) for the verified identities, waiting for approval."""
    from dsr.ledger.answers import prepare_answer

    ids = _preparing(tk, request_id, "erasure")
    plan = tk.erase(ids, dry_run=True)
    summary = {**plan_summary(plan), "identities": _identities_digest(tk, ids)}
    with tk.engine.begin() as conn:
        return prepare_answer(conn, tk.keys, request_id, "erasure", summary, clock=tk.clock)


def plan_summary(plan: ErasurePlan) -> dict[str, Any]:
    """What the console shows of an erasure's plan: per table erased and kept (reason, until,
    legal reference), without the statements or the person's pseudonym."""
    data = plan.to_json()
    return {
        "erased": [
            {"table": e["table"], "rows": e["rows"], "action": e["action"]} for e in data["erased"]
        ],
        "kept": [
            {
                k: v
                for k, v in kept.items()
                if k in ("table", "rows", "action", "reason", "until", "legal_reference")
            }
            for kept in data["kept"]
        ],
        "packages": data["packages_erased"],
    }


@dataclass(frozen=True)
class Approval:
    """An approved answer: for a report or package the token to send to ``address``, for an
    erasure the plan that was carried out."""

    answer: Answer
    address: str | None
    token: str | None = None
    plan: ErasurePlan | None = None
    #: until when the mailed link works (a report or package)
    expires_at: datetime | None = None


def approve(
    tk: Toolkit,
    answer_id: int,
    *,
    send_link: Callable[[Approval], None] | None = None,
) -> Approval:
    """Approve a prepared answer as the acting DPO (the caller checked the role; the person
    who prepared it cannot approve it: four eyes).

    The answer is claimed first (:func:`~dsr.ledger.answers.claim_answer`): of two approvals
    at once only one runs. A report or package: its download period starts afresh (the person
    gets all of it however long approval took; one no longer available is refused: prepare it
    again), and ``send_link`` is called with the token and the person's verified address
    *before* the approval is recorded, so a link that could not be mailed leaves the answer
    waiting (try again) rather than approved and never sent. An erasure: carried out now,
    then recorded as approved. Refused when the request was closed, has no verified e-mail
    address to tell the person, or when its verified identities are no longer those the
    answer was prepared for (prepare it again).
    """
    from dsr.ledger.answers import (
        answer_token,
        approve_answer,
        claim_answer,
        get_answer,
        release_claim,
        require_four_eyes,
    )

    with tk.engine.connect() as conn:
        answer = get_answer(conn, answer_id)
        token = answer_token(conn, tk.keys, answer_id)
    if answer.state == "prepared":  # before the claim: nothing is held for a refusal
        require_four_eyes(answer_id, answer.prepared_by)
    with tk.engine.begin() as conn:
        answer = claim_answer(conn, answer_id, clock=tk.clock)
    try:
        done = _carry_out(tk, answer, token, send_link)
    except BaseException:
        with tk.engine.begin() as conn:
            release_claim(conn, answer_id)
        raise
    with tk.engine.begin() as conn:
        approved, _ = approve_answer(conn, tk.keys, answer_id, clock=tk.clock)
        if done.token is not None and done.expires_at is not None:
            from dsr.ledger.answers import renew_token
            from dsr.portability.delivery import renew_link

            assert answer.package_id is not None
            renew_link(conn, tk.keys, answer.package_id, done.expires_at)
            renew_token(conn, tk.keys, answer_id, done.token, done.expires_at)
            approved = get_answer(conn, answer_id)
    return replace(done, answer=approved)


def _carry_out(
    tk: Toolkit,
    answer: Answer,
    token: str | None,
    send_link: Callable[[Approval], None] | None,
) -> Approval:
    """What approving ``answer`` does, under its claim: the erasure, or the link mailed."""
    from dsr.portability.delivery import DEFAULT_EXPIRY, make_token, package_state

    view = request_view(tk, answer.request_id, staff=True)
    _require_open(view.request)
    ids = view.matchable()
    digest = answer.summary.get("identities")
    if digest != _identities_digest(tk, ids):
        raise RequestError(
            "the request's verified identities changed since this answer was prepared: "
            "prepare it again"
            if digest
            else "this answer was prepared before dsr recorded which identities it covers: "
            "prepare it again",
            where=f"answer {answer.id}",
        )
    address = view.address()
    if address is None:
        raise RequestError(
            "the request has no verified e-mail address to tell the person; verify it first",
            where=f"request {answer.request_id}",
        )
    if answer.kind == "erasure":
        return Approval(answer, address, None, tk.erase(ids, request_id=answer.request_id))
    if token is None or answer.package_id is None:
        raise RequestError(f"answer {answer.id} holds no download", where="answer")
    state = package_state(tk.engine, tk.keys, token, clock=tk.clock)["state"]
    if state != "ready":
        raise RequestError(
            f"the prepared {answer.kind} is no longer available ({state}): prepare it again",
            where=f"answer {answer.id}",
        )
    # The person gets the whole download period from now, however long approval took.
    expires_at = tk.clock.now() + DEFAULT_EXPIRY
    token = make_token(tk.keys, answer.package_id, expires_at)
    waiting = replace(answer, summary={**answer.summary, "expires_at": expires_at.isoformat()})
    done = Approval(waiting, address, token, expires_at=expires_at)
    if send_link is not None:
        send_link(done)
    return done


def resend(tk: Toolkit, answer_id: int, *, send_link: Callable[[Approval], None]) -> Approval:
    """Mail an approved report's or package's link again (the first mail failed or was
    lost) with ``send_link``; audited once it went out. Refused once the download was used or
    expired, and on a closed request."""
    from dsr.ledger.answers import answer_token, get_answer
    from dsr.ledger.audit import append
    from dsr.portability.delivery import package_state

    with tk.engine.connect() as conn:
        answer = get_answer(conn, answer_id)
        token = answer_token(conn, tk.keys, answer_id)
    if answer.state != "approved" or token is None:
        raise RequestError(
            f"answer {answer_id} is not an approved download", where=f"answer {answer_id}"
        )
    view = request_view(tk, answer.request_id, staff=True)
    _require_open(view.request)
    state = package_state(tk.engine, tk.keys, token, clock=tk.clock)["state"]
    if state != "ready":
        raise RequestError(
            f"the download was already {state}: prepare a new answer", where=f"answer {answer_id}"
        )
    address = view.address()
    if address is None:
        raise RequestError(
            "the request has no verified e-mail address", where=f"request {answer.request_id}"
        )
    again = Approval(answer, address, token)
    send_link(again)
    with tk.engine.begin() as conn:
        append(
            conn,
            tk.keys,
            "request.answer_resend",
            details={"answer": answer_id, "kind": answer.kind},
            request_id=answer.request_id,
            at=tk.clock.now(),
        )
    return again


# -- closing ----------------------------------------------------------------------------------


def close(tk: Toolkit, request_id: int, outcome: str) -> Request:
    """Close a request as one of :data:`CLOSE_OUTCOMES` (a refusal closes with its letter).

    ``completed`` needs the answer on record: an approved report or package (access,
    portability), the erasure approved (erasure), a completion letter (what the command line
    answers: rectification, restriction, objection, an erasure run there) or the negative
    letter (nothing found).
    """
    if outcome not in CLOSE_OUTCOMES:
        raise RequestError(
            f"close as one of: {', '.join(CLOSE_OUTCOMES)} (a refusal closes with its letter)",
            where="outcome",
        )
    view = request_view(tk, request_id, staff=True)
    req = view.request
    _require_open(req)
    if outcome == "completed" and not _answered(view):
        raise RequestError(
            "nothing on record answers this request yet: approve its report or package, or "
            "send the completion or negative letter, before closing it as completed",
            where=f"request {request_id}",
        )
    if outcome == "unverified" and (req.verified_at or req.verified_by or view.verified):
        raise RequestError(
            "an identity of this request was verified: answer it, or refuse it with its "
            "letter, rather than closing it as unverified",
            where=f"request {request_id}",
        )
    return tk.ledger.close(request_id, outcome)


def _answered(view: RequestView) -> bool:
    """Whether the register shows the person was answered: the letter that reports the work
    (an erasure is done only once the person was told), or a download link that went out."""
    letters = {letter["kind"] for letter in view.letters}
    if letters & {"completion", "negative"}:
        return True
    from dsr.ledger.answers import KINDS_BY_TYPE

    approved = {a.kind for a in view.answers if a.state == "approved"}
    # an approved erasure alone is not enough: its completion letter tells the person
    downloads = set(KINDS_BY_TYPE.get(view.request.type, ())) - {"erasure"}
    return bool(approved & downloads)


def expire_unverified(tk: Toolkit, *, after: timedelta = UNVERIFIED_LIFETIME) -> list[int]:
    """Close the requests that stayed unverified longer than ``after`` (see
    :func:`dsr.ledger.requests.expire_unverified`); the ids closed."""
    from dsr.ledger.requests import expire_unverified as expire

    tk.ledger.require()
    with tk.engine.begin() as conn:
        return expire(conn, tk.keys, registered_before=tk.clock.now() - after, clock=tk.clock)


# -- the register at a glance -----------------------------------------------------------------


@dataclass(frozen=True)
class RegisterSummary:
    open: int
    overdue: int
    due_soon: int
    by_type: dict[str, int]
    by_status: dict[str, int]
    closed_last_year: int
    on_time_last_year: int

    @property
    def on_time_rate(self) -> float | None:
        if not self.closed_last_year:
            return None
        return self.on_time_last_year / self.closed_last_year


def register_summary(tk: Toolkit, requests: Sequence[Request]) -> RegisterSummary:
    """Counts over the register: open, overdue, due within 7 days, by type and status, and the
    share of requests closed in the last 12 months on or before their due date."""
    today = tk.ledger.today()
    soon = today + timedelta(days=7)
    year_ago = utc_naive(tk.clock.now()) - timedelta(days=365)
    open_ = [r for r in requests if r.status != "closed"]
    closed = [r for r in requests if r.closed_at is not None and r.closed_at >= year_ago]
    by_type: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for r in open_:
        by_type[r.type] = by_type.get(r.type, 0) + 1
    for r in requests:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    return RegisterSummary(
        open=len(open_),
        overdue=sum(1 for r in open_ if r.due < today),
        due_soon=sum(1 for r in open_ if today <= r.due <= soon),
        by_type=by_type,
        by_status=by_status,
        closed_last_year=len(closed),
        on_time_last_year=sum(1 for r in closed if r.closed_at and r.closed_at.date() <= r.due),
    )
