"""Answers prepared for a request and approved before they take effect (four eyes).

Support staff prepare; a DPO approves. A prepared **report** or **package** is already sealed
in the export storage (its row in ``dsr_exports``) with its download token sealed here (subkey
``answer``, bound to the answer's id), so approving is what sends the link to the person. A
prepared **erasure** is the plan of a dry run (counts only); approving runs the erasure itself,
on the identities verified by then. Each step is audited with the staff member as actor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, or_, select, update

from dsr.clock import Clock, utc_naive
from dsr.crypto.keys import KeyProvider
from dsr.crypto.seal import seal, unseal
from dsr.errors import RequestError
from dsr.ledger.audit import append, default_actor
from dsr.ledger.tables import answers

KINDS = ("report", "package", "erasure")
#: A claim on an answer (:func:`claim_answer`) older than this is taken to be from an approval
#: that died half-way, and may be taken over.
CLAIM_TIMEOUT = timedelta(minutes=15)
#: Which answers a request of each type may get from the console (rectification, restriction
#: and objection are answered with the command line's services and their letters).
KINDS_BY_TYPE = {
    "access": ("report",),
    "portability": ("package", "report"),  # a report: the Art. 15 copy offered instead
    "erasure": ("erasure",),
}


@dataclass(frozen=True)
class Answer:
    id: int
    request_id: int
    kind: str
    summary: dict[str, Any]
    package_id: str | None
    prepared_by: str
    prepared_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    withdrawn_at: datetime | None

    @property
    def state(self) -> str:
        if self.withdrawn_at is not None:
            return "withdrawn"
        return "approved" if self.approved_at is not None else "prepared"


def _aad(answer_id: int) -> bytes:
    return f"dsr-answer:{answer_id}".encode()


def _from_row(row: Any) -> Answer:
    return Answer(
        id=row.id,
        request_id=row.request_id,
        kind=row.kind,
        summary=json.loads(row.summary),
        package_id=row.package_id,
        prepared_by=row.prepared_by,
        prepared_at=row.prepared_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        withdrawn_at=row.withdrawn_at,
    )


def prepare_answer(
    conn: Connection,
    keys: KeyProvider,
    request_id: int,
    kind: str,
    summary: dict[str, Any],
    *,
    clock: Clock,
    token: str | None = None,
    package_id: str | None = None,
) -> Answer:
    """Record a prepared answer; an earlier one of the same kind still waiting is withdrawn
    (its package stays sealed until it expires, its token is never sent)."""
    if kind not in KINDS:
        raise RequestError(f"an answer is one of {', '.join(KINDS)}", where="kind")
    now = utc_naive(clock.now())
    same_kind_waiting = (
        answers.c.request_id == request_id,
        answers.c.kind == kind,
        answers.c.approved_at.is_(None),
        answers.c.withdrawn_at.is_(None),
    )
    withdrawn = conn.execute(select(answers.c.id).where(*same_kind_waiting)).all()
    conn.execute(update(answers).where(*same_kind_waiting).values(withdrawn_at=now))
    inserted = conn.execute(
        answers.insert().values(
            request_id=request_id,
            kind=kind,
            summary=json.dumps(summary, sort_keys=True),
            package_id=package_id,
            prepared_by=default_actor(),
            prepared_at=now,
        )
    ).inserted_primary_key
    assert inserted is not None
    answer_id = int(inserted[0])
    if token is not None:
        conn.execute(
            update(answers)
            .where(answers.c.id == answer_id)
            .values(token_enc=seal(keys, "answer", token.encode(), _aad(answer_id)))
        )
    append(
        conn,
        keys,
        "request.answer_prepare",
        details={
            "answer": answer_id,
            "kind": kind,
            **({"replaces": [r.id for r in withdrawn]} if withdrawn else {}),
        },
        request_id=request_id,
        at=clock.now(),
    )
    return get_answer(conn, answer_id)


def get_answer(conn: Connection, answer_id: int) -> Answer:
    row = conn.execute(select(answers).where(answers.c.id == answer_id)).first()
    if row is None:
        raise RequestError(f"no answer {answer_id}", where="answer")
    return _from_row(row)


def answers_of(conn: Connection, request_id: int) -> list[Answer]:
    rows = conn.execute(
        select(answers).where(answers.c.request_id == request_id).order_by(answers.c.id)
    ).all()
    return [_from_row(r) for r in rows]


def withdraw_prepared(
    conn: Connection, keys: KeyProvider, request_id: int, *, clock: Clock, reason: str
) -> list[int]:
    """Withdraw every answer of the request still waiting for approval (``reason`` in the
    audit entry, e.g. ``identities changed``): what a DPO approves is always what was prepared
    on the request as it stands. The ids withdrawn."""
    now = utc_naive(clock.now())
    waiting = [
        r.id
        for r in conn.execute(
            select(answers.c.id).where(
                answers.c.request_id == request_id,
                answers.c.approved_at.is_(None),
                answers.c.withdrawn_at.is_(None),
                _unclaimed(now),
            )
        )
    ]
    if not waiting:
        return []
    conn.execute(
        update(answers)
        .where(answers.c.id.in_(waiting), answers.c.approved_at.is_(None), _unclaimed(now))
        .values(withdrawn_at=now)
    )
    append(
        conn,
        keys,
        "request.answer_withdraw",
        details={"answers": waiting, "reason": reason},
        request_id=request_id,
        at=clock.now(),
    )
    return waiting


def _unclaimed(now: datetime) -> Any:
    """No approval is under way (or the one that was died: its claim timed out)."""
    return or_(answers.c.claimed_at.is_(None), answers.c.claimed_at < now - CLAIM_TIMEOUT)


def claim_answer(conn: Connection, answer_id: int, *, clock: Clock) -> Answer:
    """Claim a prepared answer for the acting approver, atomically on every engine: of two
    approvals at once (a double click, two DPOs) exactly one gets it, and a waiting answer
    being approved is not withdrawn under it. Commit the claim before the work it guards (the
    erasure, the link mail); :func:`release_claim` if that fails."""
    now = utc_naive(clock.now())
    claimed = conn.execute(
        update(answers)
        .where(
            answers.c.id == answer_id,
            answers.c.approved_at.is_(None),
            answers.c.withdrawn_at.is_(None),
            _unclaimed(now),
        )
        .values(claimed_by=default_actor(), claimed_at=now)
    )
    answer = get_answer(conn, answer_id)
    if claimed.rowcount != 1:
        if answer.state != "prepared":
            raise RequestError(f"answer {answer_id} was already {answer.state}", where="answer")
        raise RequestError(
            f"answer {answer_id} is being approved right now; reload the page in a moment",
            where="answer",
        )
    return answer


def release_claim(conn: Connection, answer_id: int) -> None:
    """Give up the acting approver's claim (the work it guarded failed; nothing happened)."""
    conn.execute(
        update(answers)
        .where(answers.c.id == answer_id, answers.c.claimed_by == default_actor())
        .values(claimed_by=None, claimed_at=None)
    )


def require_four_eyes(answer_id: int, prepared_by: str) -> None:
    """The acting approver did not prepare the answer themselves (four eyes)."""
    if default_actor() == prepared_by:
        raise RequestError(
            f"answer {answer_id} was prepared by {prepared_by}: another person approves it "
            "(four eyes)",
            where="answer",
        )


def approve_answer(
    conn: Connection, keys: KeyProvider, answer_id: int, *, clock: Clock
) -> tuple[Answer, str | None]:
    """Approve a prepared answer (the caller checked the approver is a DPO): the answer and,
    for a report or package, its download token to send. Approving twice is refused, and so
    is approving an answer one prepared oneself (four eyes) or one another approver holds
    (:func:`claim_answer`)."""
    row = conn.execute(select(answers).where(answers.c.id == answer_id)).first()
    if row is None:
        raise RequestError(f"no answer {answer_id}", where="answer")
    approver = default_actor()
    require_four_eyes(answer_id, row.prepared_by)
    now = utc_naive(clock.now())
    done = conn.execute(
        update(answers)
        .where(
            answers.c.id == answer_id,
            answers.c.approved_at.is_(None),
            answers.c.withdrawn_at.is_(None),
            or_(answers.c.claimed_by == approver, _unclaimed(now)),
        )
        .values(approved_by=approver, approved_at=now, claimed_by=None, claimed_at=None)
    )
    if done.rowcount != 1:
        state = get_answer(conn, answer_id).state
        raise RequestError(
            f"answer {answer_id} was already {state}"
            if state != "prepared"
            else f"answer {answer_id} is being approved by someone else",
            where="answer",
        )
    append(
        conn,
        keys,
        "request.answer_approve",
        details={"answer": answer_id, "kind": row.kind, "prepared_by": row.prepared_by},
        request_id=row.request_id,
        at=clock.now(),
    )
    return get_answer(conn, answer_id), answer_token(conn, keys, answer_id)


def renew_token(
    conn: Connection, keys: KeyProvider, answer_id: int, token: str, expires_at: datetime
) -> None:
    """Seal the renewed download token of an answer (see
    :func:`dsr.portability.delivery.renew_link`) and the expiry its summary shows."""
    row = conn.execute(select(answers.c.summary).where(answers.c.id == answer_id)).one()
    summary = {**json.loads(row.summary), "expires_at": expires_at.isoformat()}
    conn.execute(
        update(answers)
        .where(answers.c.id == answer_id)
        .values(
            token_enc=seal(keys, "answer", token.encode(), _aad(answer_id)),
            summary=json.dumps(summary, sort_keys=True),
        )
    )


def answer_token(conn: Connection, keys: KeyProvider, answer_id: int) -> str | None:
    """The download token sealed with a report or package answer (``None`` for an erasure)."""
    row = conn.execute(select(answers.c.token_enc).where(answers.c.id == answer_id)).first()
    if row is None or row.token_enc is None:
        return None
    return unseal(keys, "answer", row.token_enc, _aad(answer_id)).decode()
