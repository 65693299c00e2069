"""Suppression: an erased person is not re-created (Art. 17; Art. 21(3) for direct marketing).

An erasure records each identity of the person that names one person (an e-mail address, a
customer number; never a shared IP address) as a keyed pseudonym of its normalised form, the
same one the audit trail uses, so no value is stored. Importers, CRM syncs and sign-up flows
ask :func:`suppressed` (``Toolkit.is_suppressed``, ``dsr suppression check``) before they add
someone, and refuse. When the person comes back by their own choice (signs up again), the
suppression is lifted with a reason (:func:`lift`), audited.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

from sqlalchemy import Connection, insert, select, update

from dsr.clock import Clock, utc_naive
from dsr.crypto.keys import KeyProvider, pseudonym
from dsr.errors import RequestError
from dsr.ledger.audit import append
from dsr.ledger.tables import suppressions
from dsr.subject.identity import Identity

REASONS = ("erasure", "objection")


def suppress(
    conn: Connection,
    keys: KeyProvider,
    identities: Sequence[Identity],
    *,
    reason: str,
    clock: Clock,
    request_id: int | None = None,
    shared: Container[str] = ("ip",),
) -> int:
    """Record ``identities`` (those not of a ``shared`` type) as suppressed, in the caller's
    transaction; one already suppressed stays as it is. How many were added."""
    if reason not in REASONS:
        raise RequestError(f"a suppression is for one of {', '.join(REASONS)}", where="reason")
    wanted = {pseudonym(keys, [i]): i for i in identities if i.type not in shared}
    if not wanted:
        return 0
    have = _active(conn, list(wanted))
    now = utc_naive(clock.now())
    rows = [
        {
            "identity": digest,
            "identity_type": i.type,
            "reason": reason,
            "request_id": request_id,
            "created_at": now,
        }
        for digest, i in wanted.items()
        if digest not in have
    ]
    if rows:
        conn.execute(insert(suppressions), rows)
    return len(rows)


def suppressed(
    conn: Connection, keys: KeyProvider, identities: Sequence[Identity]
) -> list[Identity]:
    """Those of ``identities`` an erasure (or an objection to marketing) suppressed and nobody
    lifted: the ones not to re-create."""
    wanted = {pseudonym(keys, [i]): i for i in identities}
    if not wanted:
        return []
    found = _active(conn, list(wanted))
    return [i for digest, i in wanted.items() if digest in found]


def _active(conn: Connection, digests: list[str]) -> set[str]:
    """Those of the pseudonyms ``digests`` suppressed and not lifted."""
    rows = conn.execute(
        select(suppressions.c.identity).where(
            suppressions.c.identity.in_(digests), suppressions.c.lifted_at.is_(None)
        )
    )
    return {r.identity for r in rows}


def lift(
    conn: Connection,
    keys: KeyProvider,
    identities: Sequence[Identity],
    *,
    reason: str,
    clock: Clock,
) -> int:
    """Lift the suppression of ``identities`` (the person came back by their own choice):
    ``reason`` says how that is known (a ticket reference; it is kept with the suppression,
    not in the audit chain, in case it names someone). Audited; how many were lifted."""
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise RequestError("say why the suppression is lifted (1-500 characters)", where="--reason")
    digests = [pseudonym(keys, [i]) for i in identities]
    done = conn.execute(
        update(suppressions)
        .where(suppressions.c.identity.in_(digests), suppressions.c.lifted_at.is_(None))
        .values(lifted_at=utc_naive(clock.now()), lifted_reason=reason)
    ).rowcount
    if done:
        append(  # the reason stays with the suppression, out of the unchangeable chain
            conn,
            keys,
            "suppression.lift",
            details={"identities": done},
            subject=pseudonym(keys, list(identities)),
            at=clock.now(),
        )
    return int(done)
