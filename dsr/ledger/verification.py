"""Verifying the identities a person gives with a request (Art. 12(2), (6) GDPR).

Proportionate, as EDPB Guidelines 01/2022 ask: control of an e-mail address is proven by a
one-time code sent to it (:func:`issue_code`, :func:`check_code`); an identity no code can
reach (a customer number, a telephone number) is verified by a staff member who records how
(:func:`record_check`). Only verified identities are matched when the request is answered
(:func:`verified_identities`).

Codes are six digits, stored only as a keyed hash (subkey ``otp``), valid for
:data:`CODE_LIFETIME`, and a code is dead after :data:`MAX_ATTEMPTS` wrong tries. At most
:data:`MAX_CODES_PER_HOUR` codes go to one identity in an hour, whoever asks: the count is kept
by the identity's keyed pseudonym, so neither the address nor the code is stored.

The register records on the request when the first identity was verified and how
(``verified_by``, ``verified_at``); each identity's own record is here, with the audit entry
``request.verify`` naming the method, never the value.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import sha256
from typing import Any

from sqlalchemy import Connection, func, select, update

from dsr.clock import Clock, utc_naive
from dsr.crypto.keys import KeyProvider, derive, pseudonym
from dsr.errors import RequestError
from dsr.ledger.answers import withdraw_prepared
from dsr.ledger.audit import append, default_actor
from dsr.ledger.tables import requests, verifications
from dsr.subject.identity import Identity

CODE_LIFETIME = timedelta(minutes=15)
MAX_ATTEMPTS = 5
MAX_CODES_PER_HOUR = 3
#: How the register names a verification by a code mailed to the address.
EMAIL_CODE = "one-time code sent to the e-mail address"


class TooManyCodes(RequestError):
    """More codes were asked for one identity within an hour than :data:`MAX_CODES_PER_HOUR`."""


@dataclass(frozen=True)
class Check:
    """The outcome of a code entered: ``verified``, ``wrong`` (attempts left), ``expired``,
    ``locked`` (too many wrong tries), ``used`` (this challenge was verified before: whatever
    was entered now is not checked, nothing happens again), ``closed`` (the request was
    closed meanwhile) or ``unknown`` (no such challenge)."""

    outcome: str
    request_id: int | None = None
    attempts_left: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == "verified"


def _mac(keys: KeyProvider, challenge: str, code: str) -> str:
    return hmac.new(derive(keys, "otp"), f"{challenge}:{code}".encode(), sha256).hexdigest()


def issue_code(
    conn: Connection, keys: KeyProvider, request_id: int, identity: Identity, *, clock: Clock
) -> tuple[str, str]:
    """A new one-time code for ``identity`` of the request: ``(challenge id, code)``.

    The code goes to the person (mail it, never log it); the challenge id is what the page
    that asks for the code keeps (in a cookie, not in its address).
    """
    if identity.type != "email":
        raise RequestError("a code can only be sent to an e-mail address", where="identity")
    who = pseudonym(keys, [identity])
    now = utc_naive(clock.now())
    recent = conn.execute(
        select(func.count())
        .select_from(verifications)
        .where(
            verifications.c.identity == who,
            verifications.c.channel == "email",
            verifications.c.created_at > now - timedelta(hours=1),
        )
    ).scalar_one()
    if recent >= MAX_CODES_PER_HOUR:
        raise TooManyCodes(
            f"at most {MAX_CODES_PER_HOUR} codes an hour go to one address", where="identity"
        )
    challenge = secrets.token_hex(16)
    code = f"{secrets.randbelow(10**6):06d}"
    conn.execute(
        verifications.insert().values(
            id=challenge,
            request_id=request_id,
            identity=who,
            channel="email",
            method=EMAIL_CODE,
            code_mac=_mac(keys, challenge, code),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
            attempts=0,
        )
    )
    return challenge, code


def check_code(
    conn: Connection, keys: KeyProvider, challenge: str, code: str, *, clock: Clock
) -> Check:
    """Check a code entered for ``challenge``; a right one verifies its identity and, if it is
    the request's first, records the verification on the request (both audited)."""
    row = conn.execute(
        select(verifications).where(verifications.c.id == challenge).with_for_update()
    ).first()
    if row is None or row.code_mac is None:
        return Check("unknown")
    now = utc_naive(clock.now())
    if row.verified_at is not None:
        return Check("used", row.request_id)
    status = conn.execute(
        select(requests.c.status).where(requests.c.id == row.request_id)
    ).scalar_one_or_none()
    if status in (None, "closed"):
        return Check("closed", row.request_id)
    if row.attempts >= MAX_ATTEMPTS:
        return Check("locked", row.request_id)
    if row.expires_at is not None and row.expires_at <= now:
        return Check("expired", row.request_id)
    if not hmac.compare_digest(row.code_mac, _mac(keys, challenge, code.strip())):
        attempts = row.attempts + 1
        conn.execute(
            update(verifications).where(verifications.c.id == challenge).values(attempts=attempts)
        )
        if attempts >= MAX_ATTEMPTS:
            append(
                conn,
                keys,
                "request.verify_locked",
                details={"channel": "email", "attempts": attempts},
                subject=row.identity,
                request_id=row.request_id,
                at=clock.now(),
            )
            return Check("locked", row.request_id)
        return Check("wrong", row.request_id, MAX_ATTEMPTS - attempts)
    conn.execute(
        update(verifications)
        .where(verifications.c.id == challenge)
        .values(verified_at=now, verified_by="the person")
    )
    _mark_request(conn, keys, row.request_id, row.identity, EMAIL_CODE, "email", now, clock)
    return Check("verified", row.request_id)


def record_check(
    conn: Connection,
    keys: KeyProvider,
    request_id: int,
    identity: Identity,
    method: str,
    *,
    clock: Clock,
) -> None:
    """A staff member verified ``identity`` of the request by ``method`` (e.g. "customer
    number confirmed on a copy of the last invoice"); recorded with the acting staff member.
    Answers prepared before are withdrawn: they were made on fewer identities."""
    method = method.strip()
    if not method or len(method) > 200:
        raise RequestError("say how the identity was verified (1-200 characters)", where="method")
    who = pseudonym(keys, [identity])
    now = utc_naive(clock.now())
    conn.execute(
        verifications.insert().values(
            id=secrets.token_hex(16),
            request_id=request_id,
            identity=who,
            channel="staff",
            method=method,
            created_at=now,
            attempts=0,
            verified_at=now,
            verified_by=default_actor(),
        )
    )
    _mark_request(conn, keys, request_id, who, method, "staff", now, clock)


def _mark_request(
    conn: Connection,
    keys: KeyProvider,
    request_id: int,
    who: str,
    method: str,
    channel: str,
    now: datetime,
    clock: Clock,
) -> None:
    """Record on the request that ``who`` (an identity's pseudonym) was verified; answers
    prepared before on fewer identities are withdrawn (not when it was verified already)."""
    records = conn.execute(  # this verification's own record included
        select(func.count())
        .select_from(verifications)
        .where(
            verifications.c.request_id == request_id,
            verifications.c.identity == who,
            verifications.c.verified_at.is_not(None),
        )
    ).scalar_one()
    first = records == 1
    conn.execute(
        update(requests)
        .where(requests.c.id == request_id, requests.c.verified_at.is_(None))
        .values(verified_by=method, verified_at=now)
    )
    append(
        conn,
        keys,
        "request.verify",
        details={"channel": channel},
        subject=who,
        request_id=request_id,
        at=clock.now(),
    )
    if first:
        withdraw_prepared(conn, keys, request_id, clock=clock, reason="identities verified since")


@dataclass(frozen=True)
class IdentityCheck:
    """One identity of a request and whether (when, how) it was verified."""

    identity: Identity
    verified_at: datetime | None
    method: str | None
    verified_by: str | None

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


def identity_checks(
    conn: Connection, keys: KeyProvider, request_id: int, identities: Sequence[Identity]
) -> list[IdentityCheck]:
    """Each identity of a request (decrypted by the caller) with its verification, if any."""
    rows = conn.execute(
        select(verifications)
        .where(verifications.c.request_id == request_id, verifications.c.verified_at.is_not(None))
        .order_by(verifications.c.verified_at)
    ).all()
    by_identity: dict[str, Any] = {}
    for row in rows:
        by_identity.setdefault(row.identity, row)
    out = []
    for identity in identities:
        found = by_identity.get(pseudonym(keys, [identity]))
        out.append(
            IdentityCheck(
                identity,
                found.verified_at if found is not None else None,
                found.method if found is not None else None,
                found.verified_by if found is not None else None,
            )
        )
    return out


def verified_identities(
    conn: Connection, keys: KeyProvider, request_id: int, identities: Sequence[Identity]
) -> list[Identity]:
    """The identities of a request that were verified: the only ones an answer matches."""
    return [c.identity for c in identity_checks(conn, keys, request_id, identities) if c.verified]
