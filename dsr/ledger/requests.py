"""The request register: every data-subject request with its deadline, status and outcome.

Art. 12(3) GDPR: the controller answers within one month of receipt, extendable by two
further months with reasons given to the person within the first month; Art. 5(2) asks it to
be able to show it did. The register keeps, per request, when it was received, how the
person's identity was verified, its due date (see :mod:`dsr.ledger.deadlines`), an extension
with its reason, the status and the outcome of every service run for it.

The identities a request names are personal data: they are stored encrypted (AES-GCM, bound
to the row by its id) and decrypted only when one request is shown; the subject is otherwise
known by its keyed pseudonym, the same one the audit trail uses. Every change appends an
audit entry in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, insert, select, update

from dsr.clock import Clock, SystemClock, utc_naive
from dsr.crypto.keys import KeyProvider, pseudonym
from dsr.crypto.seal import seal, seal_identities, unseal, unseal_identities
from dsr.errors import RequestError
from dsr.ledger.audit import append as audit_append
from dsr.ledger.deadlines import (
    MAX_EXTENSION_MONTHS,
    calendar_for,
    calendar_name,
    due_date,
    extended_due_date,
)
from dsr.ledger.tables import requests as requests_table
from dsr.rights import REQUEST_TYPES, STATUSES
from dsr.subject.identity import Identity, parse_identity

DEFAULT_TIMEZONE = "Europe/Berlin"
#: The longest message a person can send with a request.
MAX_MESSAGE = 4000


@dataclass(frozen=True)
class Extension:
    """An extension of the period under Art. 12(3) sentence 2."""

    months: int
    reason: str
    recorded_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "months": self.months,
            "reason": self.reason,
            "recorded_at": _iso_utc(self.recorded_at),
        }


@dataclass(frozen=True)
class Request:
    """One entry of the register. ``identities`` is set only when asked for (``show``)."""

    id: int
    type: str
    subject: str
    received: date
    original_due: date
    due: date
    status: str
    verified_by: str | None
    created_at: datetime
    verified_at: datetime | None = None
    extension: Extension | None = None
    outcome: str | None = None
    outcome_log: tuple[dict[str, Any], ...] = ()
    closed_at: datetime | None = None
    identities: tuple[str, ...] | None = field(default=None, repr=False)
    #: the person's language where known (a portal request), for letters and mails
    lang: str | None = None
    #: the holiday calendar that computed the due date (``DE-SN``); None if registered
    #: before the register recorded it
    calendar: str | None = None

    def is_overdue(self, today: date) -> bool:
        """Not closed and its (possibly extended) due date has passed."""
        return self.status != "closed" and self.due < today

    def to_json(self, today: date | None = None) -> dict[str, Any]:
        """The request as JSON; ``identities`` only if they were decrypted for ``show``."""
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "subject": self.subject,
            "received": self.received.isoformat(),
            "due": self.due.isoformat(),
            "original_due": self.original_due.isoformat(),
            "status": self.status,
            "verified_by": self.verified_by,
            "verified_at": _iso_utc(self.verified_at) if self.verified_at else None,
            "extension": self.extension.to_json() if self.extension else None,
            "outcome": self.outcome,
            "outcome_log": list(self.outcome_log),
            "created_at": _iso_utc(self.created_at),
            "closed_at": _iso_utc(self.closed_at) if self.closed_at else None,
            "lang": self.lang,
            "calendar": self.calendar,
        }
        if today is not None:
            data["overdue"] = self.is_overdue(today)
            data["days_left"] = (self.due - today).days
        if self.identities is not None:
            data["identities"] = list(self.identities)
        return data


def _iso_utc(value: datetime) -> str:
    return value.replace(tzinfo=timezone.utc, microsecond=0).isoformat()


def _utc_naive(clock: Clock) -> datetime:
    return utc_naive(clock.now())


def today_in(clock: Clock, catalog: object | None = None) -> date:
    """Today's date in the controller's time zone (the catalog's ``timezone``)."""
    tz = getattr(catalog, "timezone", None) or DEFAULT_TIMEZONE
    return clock.now().astimezone(ZoneInfo(tz)).date()


def identities_aad(request_id: int) -> bytes:
    """What a request's sealed identities are bound to (sealed for one request only)."""
    return f"dsr_requests/{request_id}".encode()


def _parse_identities(identities: Iterable[str | Identity]) -> list[Identity]:
    parsed = [i if isinstance(i, Identity) else parse_identity(i) for i in identities]
    if not parsed:
        raise RequestError("a request names at least one identity", where="identities")
    return sorted(set(parsed))


def _from_row(row: Any, identities: Sequence[str] | None = None) -> Request:
    extension = None
    if row.extended_due is not None:
        extension = Extension(
            months=int(row.extension_months or 0),
            reason=row.extension_reason or "",
            recorded_at=row.extended_at,
        )
    return Request(
        id=int(row.id),
        type=row.type,
        subject=row.subject,
        received=row.received,
        original_due=row.due,
        due=row.extended_due or row.due,
        status=row.status,
        verified_by=row.verified_by,
        verified_at=row.verified_at,
        created_at=row.created_at,
        extension=extension,
        outcome=row.outcome,
        outcome_log=tuple(json.loads(row.outcome_log)) if row.outcome_log else (),
        closed_at=row.closed_at,
        identities=tuple(identities) if identities is not None else None,
        lang=row.lang,
        calendar=row.calendar,
    )


def _load(conn: Connection, request_id: int, *, lock: bool = False) -> Any:
    query = select(requests_table).where(requests_table.c.id == request_id)
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise RequestError("no such request in the register", where=f"request {request_id}")
    return row


def _as_date(value: object) -> date:
    """A date of receipt given as a date, a date-time (its date) or an ISO date text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise RequestError("the date of receipt must be a date (YYYY-MM-DD)", where="--received")


def open_request(
    conn: Connection,
    keys: KeyProvider,
    catalog: object | None = None,
    *,
    type: str,
    identities: Iterable[str | Identity],
    received: date,
    verified_by: str | None = None,
    clock: Clock | None = None,
    message: str | None = None,
    lang: str | None = None,
) -> Request:
    """Register a request received on ``received``; its due date is one month later.

    ``message``: what the person wrote with it (a rectification's correct value, say), kept
    sealed like the identities (:func:`request_message`).

    Art. 12(3) GDPR: the deadline runs from receipt (see :func:`dsr.ledger.deadlines.due_date`,
    holidays from the catalog). The identities are stored encrypted, the subject as keyed
    pseudonym; the audit entry names only the pseudonym.
    """
    clock = clock or SystemClock()
    if type not in REQUEST_TYPES:
        raise RequestError(
            f"unknown request type {type!r}; known: {', '.join(REQUEST_TYPES)}", where="--type"
        )
    received = _as_date(received)
    if received > today_in(clock, catalog):
        raise RequestError("the date of receipt lies in the future", where="--received")
    parsed = _parse_identities(identities)
    subject = pseudonym(keys, parsed)
    due = due_date(received, calendar=calendar_for(catalog))
    now = _utc_naive(clock)
    inserted = conn.execute(
        insert(requests_table).values(
            type=type,
            subject=subject,
            identities_enc=b"",
            received=received,
            verified_by=verified_by,
            verified_at=now if verified_by else None,
            due=due,
            status="open",
            created_at=now,
            lang=lang,
            calendar=calendar_name(catalog),
        )
    ).inserted_primary_key
    assert inserted is not None
    request_id = int(inserted[0])
    # Sealed after the insert so the ciphertext is bound to its row id (aad): a blob copied
    # into another row does not decrypt.
    sealed = seal_identities(keys, [i.spec for i in parsed], identities_aad(request_id))
    sealed_message = None
    if message is not None and message.strip():
        if len(message) > MAX_MESSAGE:
            raise RequestError(f"at most {MAX_MESSAGE} characters", where="message")
        sealed_message = seal(keys, "message", message.strip().encode(), identities_aad(request_id))
    conn.execute(
        update(requests_table)
        .where(requests_table.c.id == request_id)
        .values(identities_enc=sealed, message_enc=sealed_message)
    )
    audit_append(
        conn,
        keys,
        "request.open",
        details={"type": type, "received": received.isoformat(), "due": due.isoformat()},
        subject=subject,
        request_id=request_id,
        at=clock.now(),
    )
    return _from_row(_load(conn, request_id))


def request_message(conn: Connection, keys: KeyProvider, request_id: int) -> str | None:
    """What the person wrote with the request, decrypted (personal data: staff eyes only)."""
    row = _load(conn, request_id)
    if row.message_enc is None:
        return None
    return unseal(keys, "message", row.message_enc, identities_aad(request_id)).decode()


def get_request(
    conn: Connection,
    keys: KeyProvider | None,
    request_id: int,
    *,
    with_identities: bool = False,
) -> Request:
    """One request; with ``with_identities`` its identities are decrypted (needs ``keys``).

    The identities are the person's data the DPO needs to answer the request; list output
    never carries them.
    """
    row = _load(conn, request_id)
    identities = None
    if with_identities:
        if keys is None:
            raise RequestError("decrypting identities needs the toolkit secret", where="keys")
        identities = unseal_identities(keys, row.identities_enc, identities_aad(int(row.id)))
    return _from_row(row, identities)


def list_requests(
    conn: Connection,
    *,
    overdue: bool = False,
    due_within: timedelta | None = None,
    status: str | None = None,
    today: date,
) -> list[Request]:
    """Requests ordered by due date, optionally only overdue ones or those due soon.

    ``overdue``: not closed and past the (extended) due date. ``due_within``: not closed and
    due on or before ``today + due_within`` (overdue ones included: they are the most urgent).
    """
    current_due = func.coalesce(requests_table.c.extended_due, requests_table.c.due)
    query = select(requests_table).order_by(current_due, requests_table.c.id)
    if status is not None:
        if status not in STATUSES:
            raise RequestError(
                f"unknown status {status!r}; known: {', '.join(STATUSES)}", where="--status"
            )
        query = query.where(requests_table.c.status == status)
    if overdue or due_within is not None:
        query = query.where(requests_table.c.status != "closed")
    if overdue:
        query = query.where(current_due < today)
    if due_within is not None:
        query = query.where(current_due <= today + due_within)
    return [_from_row(row) for row in conn.execute(query)]


def requests_of(
    conn: Connection,
    keys: KeyProvider,
    identities: Sequence[Identity],
    *,
    shared: Container[str] = ("ip",),
) -> list[Request]:
    """The register's requests of the person ``identities`` name (their own requests, which
    are personal data about them too), oldest first, identities decrypted.

    A request is theirs when it names one of ``identities`` that names one person (never by a
    ``shared`` type: an office's IP address is many people's) and, where the request was made
    on the portal, that identity was verified for it: a request someone else made in their name
    and never proved is not theirs. A request staff registered counts as given. Every entry is
    decrypted to compare: the register holds hundreds or thousands of requests, not millions."""
    wanted = {i.spec for i in identities if i.type not in shared}
    if not wanted:
        return []
    matched = []
    for row in conn.execute(select(requests_table).order_by(requests_table.c.id)):
        given = unseal_identities(keys, row.identities_enc, identities_aad(int(row.id)))
        common = wanted & set(given)
        if common:
            matched.append((row, given, common))
    if not matched:
        return []
    proofs = _proofs(conn, [int(row.id) for row, _, _ in matched])
    out = []
    for row, given, common in matched:
        proven = proofs.get(int(row.id))
        if proven is not None and not any(
            pseudonym(keys, [parse_identity(c)]) in proven for c in common
        ):
            continue
        out.append(_from_row(row, given))
    return out


def _proofs(conn: Connection, request_ids: Sequence[int]) -> dict[int, set[str]]:
    """For each portal request among ``request_ids`` (one a code was sent for), the keyed
    pseudonyms of the identities proved for it; a request staff registered is absent."""
    from dsr.ledger.tables import verifications

    out: dict[int, set[str]] = {}
    for v in conn.execute(
        select(
            verifications.c.request_id, verifications.c.identity, verifications.c.verified_at
        ).where(verifications.c.request_id.in_(list(request_ids)))
    ):
        proven = out.setdefault(int(v.request_id), set())
        if v.verified_at is not None:
            proven.add(v.identity)
    return out


#: A request by the same person within this long before another is flagged for review
#: (Art. 12(5): manifestly unfounded or excessive, "in particular because of their repetitive
#: character"); never refused or charged automatically.
REPEAT_WINDOW = timedelta(days=365)


def earlier_requests(
    conn: Connection,
    keys: KeyProvider,
    request: Request,
    *,
    same_type: bool = True,
    shared: Container[str] = ("ip",),
) -> list[Request]:
    """The same person's requests received in the 12 months before ``request`` (see
    :func:`requests_of`), of the same type unless ``same_type`` is false: a repeated request
    for the same right is what Art. 12(5) speaks of. Requests closed unverified are nobody's."""
    if request.identities is None:
        request = get_request(conn, keys, request.id, with_identities=True)
    if not request.identities:
        return []
    start = request.received - REPEAT_WINDOW
    mine = [parse_identity(spec) for spec in request.identities]
    proven = _proofs(conn, [request.id]).get(request.id)
    if proven is not None:  # a portal request: only what was proved for it says whose it is
        mine = [i for i in mine if pseudonym(keys, [i]) in proven]
    return [
        r
        for r in requests_of(conn, keys, mine, shared=shared)
        if start <= r.received
        and (r.received, r.id) < (request.received, request.id)
        and r.outcome != "unverified"
        and (r.type == request.type or not same_type)
    ]


def extend_request(
    conn: Connection,
    keys: KeyProvider,
    request_id: int,
    months: int,
    reason: str,
    clock: Clock | None = None,
    *,
    catalog: object | None = None,
) -> Request:
    """Extend the period by ``months`` further months (Art. 12(3) sentence 2).

    Allowed where necessary given the complexity and number of requests, by at most two
    months in total, and only while the original month runs: the person must be told of the
    extension and its reasons within one month of receipt, so an extension recorded after the
    original due date is refused. A second extension may add up to the two-month total. The
    new due date counts from receipt (1 + total months), with the same end-of-period rules.
    Refusals raise :class:`RequestError` and change nothing.
    """
    clock = clock or SystemClock()
    where = f"request {request_id}"
    reason = reason.strip()
    if not reason:
        raise RequestError("an extension needs a reason (Art. 12(3))", where="--reason")
    if months < 1:
        raise RequestError("an extension is at least one month", where="--months")
    row = _load(conn, request_id, lock=True)
    if row.status == "closed":
        raise RequestError("the request is closed", where=where)
    today = today_in(clock, catalog)
    if today > row.due:
        raise RequestError(
            f"too late to extend: the original period ended on {row.due.isoformat()}; an "
            "extension must be notified within one month of receipt (Art. 12(3))",
            where=where,
        )
    total = int(row.extension_months or 0) + months
    if total > MAX_EXTENSION_MONTHS:
        raise RequestError(
            f"extensions may total at most {MAX_EXTENSION_MONTHS} months "
            f"(already {int(row.extension_months or 0)}, asked {months})",
            where=where,
        )
    new_due = extended_due_date(row.received, total, calendar_for(catalog))
    conn.execute(
        update(requests_table)
        .where(requests_table.c.id == request_id)
        .values(
            extended_due=new_due,
            extension_months=total,
            # a second extension adds its reason: the notice gives every reason
            extension_reason=(
                f"{row.extension_reason}\n{reason}" if row.extension_reason else reason
            ),
            extended_at=_utc_naive(clock),
        )
    )
    # The reason is free text that may name the person: it stays in the register only.
    audit_append(
        conn,
        keys,
        "request.extend",
        details={"months": months, "total_months": total, "due": new_due.isoformat()},
        subject=row.subject,
        request_id=request_id,
        at=clock.now(),
    )
    return _from_row(_load(conn, request_id))


def close_request(
    conn: Connection,
    keys: KeyProvider,
    request_id: int,
    outcome: str | None = None,
    clock: Clock | None = None,
    *,
    catalog: object | None = None,
    refused: bool = False,
) -> Request:
    """Mark a request answered, with an optional outcome note; a closed one stays closed.

    ``refused``: the request is closed as refused (outcome ``refused`` unless another note is
    given), which needs its refusal letter (:mod:`dsr.letters`) to have been produced first:
    Art. 12(4) requires the person to be told the reasons and their remedies.
    """
    clock = clock or SystemClock()
    row = _load(conn, request_id, lock=True)
    if row.status == "closed":
        raise RequestError("the request is already closed", where=f"request {request_id}")
    refused = refused or (outcome or "").strip().lower() == "refused"
    if refused:
        log = json.loads(row.outcome_log) if row.outcome_log else []
        if not any(e.get("action") == "letter.refusal" for e in log):
            raise RequestError(
                "a refused request is closed only after its refusal letter was produced "
                "(Art. 12(4)): run 'dsr letter refusal --request ID ...' first",
                where=f"request {request_id}",
            )
        outcome = outcome or "refused"
    now = _utc_naive(clock)
    conn.execute(
        update(requests_table)
        .where(requests_table.c.id == request_id)
        .values(status="closed", outcome=outcome, closed_at=now)
    )
    from dsr.ledger.tables import verifications

    # codes still waiting can no longer verify anything
    conn.execute(
        verifications.delete().where(
            verifications.c.request_id == request_id, verifications.c.verified_at.is_(None)
        )
    )
    today = today_in(clock, catalog)
    current_due = row.extended_due or row.due
    audit_append(
        conn,
        keys,
        "request.close",
        details={"type": row.type, "late": today > current_due, "refused": refused},
        subject=row.subject,
        request_id=request_id,
        at=clock.now(),
    )
    return _from_row(_load(conn, request_id))


def expire_unverified(
    conn: Connection,
    keys: KeyProvider,
    *,
    registered_before: datetime,
    clock: Clock,
) -> list[int]:
    """Close the open portal requests registered before ``registered_before`` of which no
    identity was ever verified (outcome ``unverified``): nobody proved to be the person (Art.
    12(2), (6)), so nothing was searched and nothing is answered. Only requests a code was
    sent for count (the portal's); a request registered by staff, or marked verified in the
    register in any way, is never touched. What they held of someone who may never have asked
    (the identities given, the message, pending codes) is dropped; the register keeps type,
    dates and the keyed pseudonym, the audit trail a ``request.expire`` entry. The ids closed."""
    from dsr.ledger.tables import verifications

    portal_made = (
        select(verifications.c.id)
        .where(
            verifications.c.request_id == requests_table.c.id,
            verifications.c.channel == "email",
        )
        .exists()
    )
    verified_any = (
        select(verifications.c.id)
        .where(
            verifications.c.request_id == requests_table.c.id,
            verifications.c.verified_at.is_not(None),
        )
        .exists()
    )
    rows = conn.execute(
        select(requests_table.c.id, requests_table.c.type, requests_table.c.subject)
        .where(
            requests_table.c.status != "closed",
            requests_table.c.verified_at.is_(None),
            requests_table.c.verified_by.is_(None),
            requests_table.c.created_at < utc_naive(registered_before),
            portal_made,
            ~verified_any,
        )
        .order_by(requests_table.c.id)
    ).all()
    now = _utc_naive(clock)
    closed = []
    for row in rows:
        done = conn.execute(
            update(requests_table)
            .where(
                requests_table.c.id == row.id,
                requests_table.c.status != "closed",
                requests_table.c.verified_at.is_(None),
            )
            .values(
                status="closed",
                outcome="unverified",
                closed_at=now,
                identities_enc=seal_identities(keys, [], identities_aad(row.id)),
                message_enc=None,
            )
        )
        if done.rowcount != 1:  # verified or closed meanwhile
            continue
        conn.execute(verifications.delete().where(verifications.c.request_id == row.id))
        audit_append(
            conn,
            keys,
            "request.expire",
            details={"type": row.type, "reason": "no identity verified"},
            subject=row.subject,
            request_id=row.id,
            at=clock.now(),
        )
        closed.append(row.id)
    return closed


def reference(request_id: int) -> str:
    """How a request is named to the person, in letters, mails and on the portal."""
    return f"DSR-{request_id}"


def record_outcome(
    conn: Connection,
    keys: KeyProvider,
    request_id: int,
    action: str,
    summary: dict[str, Any],
    clock: Clock | None = None,
    *,
    advance: bool = True,
) -> Request:
    """Record what a service did for a request (``--request ID``), in the caller's transaction.

    Appends ``{action, at, summary}`` to the request's outcome log (``summary`` holds counts,
    never data) and, with ``advance`` (a service's work, not a letter), moves an ``open``
    request to ``in_progress``. An unknown or closed request is a :class:`RequestError`, so a
    mistyped id fails the whole run rather than being lost.
    """
    clock = clock or SystemClock()
    row = _load(conn, request_id, lock=True)
    if row.status == "closed":
        raise RequestError(
            "the request is closed; open a new one to record more work",
            where=f"request {request_id}",
        )
    entry = {"action": action, "at": _iso_utc(_utc_naive(clock)), "summary": summary}
    log = json.loads(row.outcome_log) if row.outcome_log else []
    log.append(entry)
    conn.execute(
        update(requests_table)
        .where(requests_table.c.id == request_id)
        .values(
            outcome_log=json.dumps(log, sort_keys=True, default=str),
            status="in_progress" if row.status == "open" and advance else row.status,
        )
    )
    audit_append(
        conn,
        keys,
        "request.outcome",
        details={"action": action, **{k: v for k, v in summary.items() if k != "action"}},
        subject=row.subject,
        request_id=request_id,
        at=clock.now(),
    )
    return _from_row(_load(conn, request_id))


__all__ = [
    "REQUEST_TYPES",
    "STATUSES",
    "Extension",
    "Request",
    "close_request",
    "extend_request",
    "get_request",
    "list_requests",
    "open_request",
    "record_outcome",
    "today_in",
]
