"""The audit trail: every action of every service, chained with keyed hashes.

Each entry's ``mac`` is an HMAC (subkey ``audit``) over its own content and the previous
entry's mac, and sequence numbers are contiguous, so an edited, deleted, inserted or reordered
entry breaks the chain at that point and :func:`verify` names it. Entries name a subject only
by keyed pseudonym and hold counts and ids, never data, so erasure leaves nothing behind here.

Callers append inside the transaction that makes the change, so change and evidence commit
together (or not at all).
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError

from dsr.crypto.keys import KeyProvider, derive, key_check
from dsr.errors import AuditError, KeyError_, ValidationError
from dsr.ledger.tables import audit, receipts, settings

GENESIS = "0" * 64


#: Who acts in this context (a portal's signed-in staff member), set by :func:`acting_as`.
_ACTOR: ContextVar[str | None] = ContextVar("dsr_actor", default=None)


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Record ``actor`` (a staff member's account name, never a data subject's identity) as
    the actor of every audit entry written in this context (thread or task)."""
    if not actor.strip() or len(actor) > 100:
        raise ValidationError("an actor is a name of 1 to 100 characters", where="actor")
    token = _ACTOR.set(actor.strip())
    try:
        yield
    finally:
        _ACTOR.reset(token)


def default_actor() -> str:
    """Who acts: the context's actor (:func:`acting_as`), else ``DSR_ACTOR`` (e.g. a ticket
    user), else the OS user."""
    actor = _ACTOR.get()
    if actor:
        return actor
    try:
        return os.environ.get("DSR_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


#: (database, key check) pairs known to match, so each process checks a ledger's key once
_KEY_MATCHES: set[tuple[str, str]] = set()


def refuse_other_key(conn: Connection, keys: KeyProvider) -> bool:
    """Raise KeyError_ when the ledger recorded the check value of another secret; True when
    it recorded this one's, False when it recorded none (a ledger from before the check)."""
    stored = stored_key_check(conn)
    if stored is None:
        return False
    if stored != key_check(keys):
        raise KeyError_(
            "this database's ledger was created with another secret key; use that key file "
            "(or DSR_SECRET). Nothing was changed",
            where="key",
        )
    return True


def _check_write_key(conn: Connection, keys: KeyProvider, database: str) -> None:
    """Refuse to write with a secret the ledger was not created with: entries sealed or MACed
    with another key would read as tampering for ever after."""
    known = (database, key_check(keys))
    if known not in _KEY_MATCHES and refuse_other_key(conn, keys):
        _KEY_MATCHES.add(known)


def _canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str).encode()


def _mac(key: bytes, prev_mac: str, content: dict[str, Any]) -> str:
    return hmac.new(
        key, prev_mac.encode() + b"\n" + _canonical(content), hashlib.sha256
    ).hexdigest()


def _content(row: Any) -> dict[str, Any]:
    at = row["at"]
    return {
        "seq": int(row["seq"]),
        "at": at.replace(tzinfo=None, microsecond=0).isoformat()
        if isinstance(at, datetime)
        else at,
        "actor": row["actor"],
        "action": row["action"],
        "request_id": row["request_id"],
        "subject": row["subject"],
        "details": row["details"],
    }


#: The row of ``dsr_settings`` every append locks, so that appends take turns.
APPEND_LOCK = "audit_append"
#: Databases whose ledger has the settings table (looked up once per process, not per append)
_HAS_SETTINGS: set[str] = set()


def _serialise(conn: Connection, database: str) -> None:
    """Take the ledger's append lock for the rest of the caller's transaction.

    Two transactions that read the last entry at the same time would both write the next
    sequence number; one of them would fail (an access report once died that way during an
    erasure). Updating one settings row is a row lock on PostgreSQL and MariaDB and takes the
    write lock on SQLite, on every engine held until commit, so the second append waits and
    then reads the entry the first one wrote.
    """
    if database not in _HAS_SETTINGS:
        if not inspect(conn).has_table(settings.name):
            return  # a ledger from before the lock row: appends collide rather than fork
        _HAS_SETTINGS.add(database)  # tables are never dropped behind a running process
    if _lock(conn):
        return
    try:
        with conn.begin_nested():
            conn.execute(insert(settings).values(name=APPEND_LOCK, value="-"))
    except IntegrityError:
        pass  # created meanwhile by a concurrent append
    _lock(conn)


def _lock(conn: Connection) -> bool:
    """Lock the append row; False when it does not exist yet."""
    row = settings.c.name == APPEND_LOCK
    if conn.dialect.name in ("mysql", "mariadb"):
        # MariaDB reports changed rows, not matched ones: lock by a locking read instead
        return (
            conn.execute(select(settings.c.name).where(row).with_for_update()).first() is not None
        )
    return bool(conn.execute(update(settings).where(row).values(value=settings.c.value)).rowcount)


def append(
    conn: Connection,
    keys: KeyProvider,
    action: str,
    *,
    details: dict[str, Any] | None = None,
    subject: str | None = None,
    request_id: int | None = None,
    actor: str | None = None,
    at: datetime | None = None,
) -> int:
    """Append one entry in the caller's transaction; returns its sequence number.

    ``subject`` must be a pseudonym (see :func:`dsr.crypto.keys.pseudonym`), ``details`` counts
    and ids only. A concurrent append collides on the sequence number and fails rather than
    forking the chain.
    """
    if subject is not None and not subject.startswith("ps_"):
        raise AuditError("audit subjects must be keyed pseudonyms", where="audit")
    database = conn.engine.url.render_as_string(hide_password=True)  # the process caches' key
    _serialise(conn, database)  # first: on MariaDB a plain read before it would pin a snapshot
    _check_write_key(conn, keys, database)
    newest = select(audit.c.seq, audit.c.mac).order_by(audit.c.seq.desc()).limit(1)
    if conn.dialect.name in ("mysql", "mariadb"):
        # REPEATABLE READ: a plain read would see the snapshot of the transaction's first read
        # (an access report reads its data first); a locking read sees the newest entry
        newest = newest.with_for_update()
    last = conn.execute(newest).first()
    seq = 1 if last is None else int(last.seq) + 1
    prev_mac = GENESIS if last is None else last.mac
    when = (
        (at or datetime.now(timezone.utc))
        .astimezone(timezone.utc)
        .replace(tzinfo=None, microsecond=0)
    )
    row = {
        "seq": seq,
        "at": when,
        "actor": (actor or default_actor())[:100],
        "action": action,
        "request_id": request_id,
        "subject": subject,
        "details": json.dumps(details or {}, sort_keys=True, default=str),
    }
    mac = _mac(derive(keys, "audit"), prev_mac, _content(row))
    conn.execute(insert(audit).values(**row, prev_mac=prev_mac, mac=mac))
    return seq


@dataclass(frozen=True)
class AuditVerdict:
    ok: bool
    entries: int
    first_broken: int | None
    reason: str | None
    head: str | None
    #: erasure receipts checked against the hash their audit entry sealed
    receipts: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_broken": self.first_broken,
            "reason": self.reason,
            "head": self.head,
            "receipts": self.receipts,
        }


def stored_key_check(conn: Connection) -> str | None:
    """The key check value the ledger recorded (:func:`dsr.ledger.bind_key`), if any."""
    if not inspect(conn).has_table(settings.name):
        return None
    query = select(settings.c.value).where(settings.c.name == "key_check")
    value = conn.execute(query).scalar()
    return None if value is None else str(value)


def _check_key(conn: Connection, keys: KeyProvider) -> None:
    """A key other than the ledger's is a key error, not a "broken" trail."""
    stored = stored_key_check(conn)
    if stored is not None and stored != key_check(keys):
        raise KeyError_(
            "this is not the secret key the ledger was created with; the audit trail cannot "
            "be verified with it (use that key file or DSR_SECRET)",
            where="key",
        )


def verify(conn: Connection, keys: KeyProvider, expect_head: str | None = None) -> AuditVerdict:
    """Walk the chain; name the first entry that was edited, inserted, removed or moved.

    ``head`` is the last entry's mac: shipping it elsewhere (a ticket, a log service) and
    passing it back as ``expect_head`` also detects removal of entries from the end of the
    chain, which the chain alone cannot show.
    """
    _check_key(conn, keys)
    key = derive(keys, "audit")
    prev_mac = GENESIS
    expected_seq = 1
    count = 0
    sealed: dict[int, tuple[int, str]] = {}
    rows = conn.execute(select(audit).order_by(audit.c.seq)).mappings()
    for row in rows:
        count += 1
        if (
            row["action"] in ("erase", "purge.run")
            and row["details"]
            and "receipt_sha256" in row["details"]
        ):
            details = json.loads(row["details"])
            if details.get("receipt") is not None:
                sealed[int(details["receipt"])] = (int(row["seq"]), str(details["receipt_sha256"]))
        seq = int(row["seq"])
        if seq != expected_seq:
            return AuditVerdict(
                False, count, seq, "sequence gap: an entry was removed or inserted", None
            )
        if row["prev_mac"] != prev_mac:
            return AuditVerdict(
                False, count, seq, "chain link broken: entries removed or reordered", None
            )
        if not hmac.compare_digest(_mac(key, prev_mac, _content(row)), row["mac"]):
            return AuditVerdict(False, count, seq, "entry content does not match its mac", None)
        if expect_head is not None and hmac.compare_digest(row["mac"], expect_head.strip()):
            expect_head = None
        prev_mac = row["mac"]
        expected_seq += 1
    if expect_head is not None:
        return AuditVerdict(
            False,
            count,
            expected_seq,
            "the expected head is not in the chain: entries were "
            "removed from the end (or it belongs to another database)",
            None,
        )
    head = prev_mac if count else None
    if inspect(conn).has_table(receipts.name):
        from dsr.ledger.receipts import check_receipts

        broken = check_receipts(conn, sealed)
        if broken is not None:
            return AuditVerdict(False, count, broken[0] or None, broken[1], head, 0)
    elif sealed:
        first = min(seq for seq, _ in sealed.values())
        return AuditVerdict(
            False, count, first, "the receipts table is gone: erasure receipts were removed", head
        )
    return AuditVerdict(True, count, None, None, head, len(sealed))


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(audit)).scalar_one())
