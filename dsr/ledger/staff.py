"""Staff of the console (``dsr serve``): accounts, roles, passwords and sessions.

Two roles: ``support`` prepares answers (previews, reports, packages, letters, extensions);
``dpo`` also approves what reaches the person or destroys data (deliveries, erasures, refusals,
holds). Passwords are stored as scrypt hashes (RFC 7914; n=2^15, r=8, p=1, 16-byte salt), a
wrong name costs the same time as a wrong password. A session is a random token in a cookie;
the ledger keeps only its SHA-256, with the session's CSRF token and expiry, so signing out or
disabling an account ends it at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, delete, select, update

from dsr.clock import Clock, utc_naive
from dsr.crypto.keys import KeyProvider
from dsr.errors import ValidationError
from dsr.ledger.audit import append
from dsr.ledger.tables import staff, staff_sessions

ROLES = ("support", "dpo")
SESSION_LIFETIME = timedelta(hours=8)
MIN_PASSWORD = 12
_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
_N, _R, _P = 2**15, 8, 1


@dataclass(frozen=True)
class StaffUser:
    name: str
    role: str

    @property
    def is_dpo(self) -> bool:
        return self.role == "dpo"

    @property
    def actor(self) -> str:
        """How the audit trail names this staff member."""
        return f"{self.role}:{self.name}"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=64 << 20)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def password_matches(stored: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 << 20,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


_DUMMY = hash_password("not anyone's password")


def add_user(
    conn: Connection, keys: KeyProvider, name: str, role: str, password: str, *, clock: Clock
) -> StaffUser:
    """A new staff account (``dsr user add``); audited with the name and role."""
    if not _NAME.match(name):
        raise ValidationError(
            "a user name is 2-64 lower-case letters, digits, '.', '_' or '-'", where="NAME"
        )
    if role not in ROLES:
        raise ValidationError(f"the role is one of {', '.join(ROLES)}", where="--role")
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"a password has at least {MIN_PASSWORD} characters", where="password"
        )
    if conn.execute(select(staff.c.name).where(staff.c.name == name)).first() is not None:
        raise ValidationError(f"the user {name!r} exists", where="NAME")
    conn.execute(
        staff.insert().values(
            name=name,
            role=role,
            password_hash=hash_password(password),
            created_at=utc_naive(clock.now()),
        )
    )
    append(conn, keys, "staff.add", details={"user": name, "role": role}, at=clock.now())
    return StaffUser(name, role)


def disable_user(conn: Connection, keys: KeyProvider, name: str, *, clock: Clock) -> None:
    """Disable an account and end its sessions (the account stays: the trail names it)."""
    done = conn.execute(
        update(staff)
        .where(staff.c.name == name, staff.c.disabled_at.is_(None))
        .values(disabled_at=utc_naive(clock.now()))
    )
    if done.rowcount != 1:
        raise ValidationError(f"no active user {name!r}", where="NAME")
    conn.execute(delete(staff_sessions).where(staff_sessions.c.name == name))
    append(conn, keys, "staff.disable", details={"user": name}, at=clock.now())


def list_users(conn: Connection) -> list[dict[str, object]]:
    rows = conn.execute(select(staff).order_by(staff.c.name)).all()
    return [
        {
            "name": r.name,
            "role": r.role,
            "created_at": r.created_at.isoformat() + "Z",
            "disabled": r.disabled_at is not None,
        }
        for r in rows
    ]


def authenticate(conn: Connection, name: str, password: str) -> StaffUser | None:
    """The active account with this name and password, else None (same cost either way)."""
    row = conn.execute(select(staff).where(staff.c.name == name.strip().lower())).first()
    ok = password_matches(row.password_hash if row is not None else _DUMMY, password)
    if row is None or not ok or row.disabled_at is not None:
        return None
    return StaffUser(row.name, row.role)


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    conn: Connection, keys: KeyProvider, user: StaffUser, *, clock: Clock
) -> tuple[str, str]:
    """A new session for ``user``: ``(cookie token, csrf token)``; always a fresh token, so a
    session id planted before sign-in is never the one used after (no fixation)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utc_naive(clock.now())
    conn.execute(delete(staff_sessions).where(staff_sessions.c.expires_at <= now))
    conn.execute(
        staff_sessions.insert().values(
            id=_session_id(token),
            name=user.name,
            csrf=csrf,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    append(conn, keys, "staff.login", details={"user": user.name}, at=clock.now())
    return token, csrf


def session_user(conn: Connection, token: str, *, clock: Clock) -> tuple[StaffUser, str] | None:
    """The signed-in user of a session token and the session's CSRF token, else None."""
    if not token or len(token) > 100:
        return None
    row = conn.execute(
        select(staff.c.name, staff.c.role, staff.c.disabled_at, staff_sessions.c.csrf)
        .join(staff, staff.c.name == staff_sessions.c.name)
        .where(
            staff_sessions.c.id == _session_id(token),
            staff_sessions.c.expires_at > utc_naive(clock.now()),
        )
    ).first()
    if row is None or row.disabled_at is not None:
        return None
    return StaffUser(row.name, row.role), row.csrf


def end_session(conn: Connection, token: str) -> None:
    conn.execute(delete(staff_sessions).where(staff_sessions.c.id == _session_id(token)))
