"""Receipts: the proof an erasure leaves (Art. 5(2), Art. 17; EDPB CEF 2025 on erasure).

One receipt per erasure, written in its transaction: the request, the person's keyed
pseudonym, per table what was erased (deleted or anonymised) and kept (with its legal ground,
legal reference and end date), the record keys as keyed digests (subkey ``receipt``: a key can
be a customer number), that the erasure's own lookup found nothing more (``verified``), how
many identities were suppressed, and the time. No personal data. Its body is canonical JSON;
its SHA-256 goes into the chained ``erase`` audit entry, so ``dsr audit verify`` detects an
altered or removed receipt (:func:`check_receipts`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from dsr.clock import utc_naive
from dsr.crypto.keys import KeyProvider, derive
from dsr.ledger.tables import receipts


def canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key_digests(keys: KeyProvider, table: str, row_keys: Iterable[str]) -> list[str]:
    """Keyed digests of record keys (sorted): the receipt names rows without naming them."""
    k = derive(keys, "receipt")
    return sorted(
        hmac.new(k, f"{table}\n{rk}".encode(), hashlib.sha256).hexdigest()[:32] for rk in row_keys
    )


def store_receipt(
    conn: Connection,
    body: dict[str, Any],
    *,
    kind: str,
    request_id: int | None,
    subject: str | None,
    at: datetime,
) -> tuple[int, str]:
    """Store a receipt in the caller's transaction: its id and SHA-256 (for the audit entry)."""
    text = canonical(body)
    digest = hashlib.sha256(text.encode()).hexdigest()
    inserted = conn.execute(
        insert(receipts).values(
            kind=kind,
            request_id=request_id,
            subject=subject,
            created_at=utc_naive(at),
            body=text,
            sha256=digest,
        )
    ).inserted_primary_key
    assert inserted is not None
    return int(inserted[0]), digest


def get_receipt(conn: Connection, receipt_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(receipts).where(receipts.c.id == receipt_id)).first()
    if row is None:
        return None
    body = json.loads(row.body)
    body["receipt_id"] = row.id
    body["sha256"] = row.sha256
    return dict(body)


def check_receipts(conn: Connection, sealed: dict[int, tuple[int, str]]) -> tuple[int, str] | None:
    """Compare every stored receipt with the hash its audit entry sealed (``sealed``: receipt
    id -> (audit seq, sha256)). ``None`` when all match, else the audit seq (0: none) and why."""
    seen = set()
    for row in conn.execute(select(receipts).order_by(receipts.c.id)):
        seen.add(row.id)
        entry = sealed.get(row.id)
        if entry is None:
            return 0, f"receipt {row.id} has no audit entry: inserted outside dsr"
        seq, digest = entry
        actual = hashlib.sha256(row.body.encode()).hexdigest()
        if not (hmac.compare_digest(actual, digest) and hmac.compare_digest(row.sha256, digest)):
            return seq, f"receipt {row.id} does not match its audit entry: altered"
        body = json.loads(row.body)
        if (body.get("request_id"), body.get("subject")) != (row.request_id, row.subject):
            return seq, f"receipt {row.id}: its request or person columns were altered"
    missing = sorted(set(sealed) - seen)
    if missing:
        return sealed[missing[0]][0], f"receipt {missing[0]} was removed"
    return None


def render_receipt(receipt: dict[str, Any], name: str) -> bytes:
    """The receipt as the file ``name`` asks for: ``.json``, ``.html`` (a printable page) or
    ``.pdf``."""
    if name.lower().endswith(".json"):
        return (json.dumps(receipt, indent=2, ensure_ascii=False) + "\n").encode()
    from dsr.render.html import template_environment

    html = template_environment().get_template("receipt.html").render(r=receipt)
    if name.lower().endswith(".pdf"):
        from dsr.render.pdf import html_to_pdf

        return html_to_pdf(html)
    return html.encode("utf-8")
