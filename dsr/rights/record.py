"""The DPO's internal record of how a request was answered: kept, never sent to the person.

Everything an auditor or the supervisory authority asks when a person complains, from the
register, the audit trail and the catalog: the request and its dates (with the holiday
calendar), the identities given and how each was verified, the same person's earlier requests,
every catalogued table with what each answer found in it, what was withheld, redacted, kept or
could not be searched and why, what was delivered (size and SHA-256 of the file the person
got, when it was downloaded), the letters sent (with their SHA-256), the answers prepared and
approved, and the request's audit entries. It holds personal data (the identities): it is for
the DPO's eyes, written with mode 0600 like every file of dsr's that does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

if TYPE_CHECKING:
    from dsr.toolkit import Toolkit

#: Audit actions of a request whose details the record shows as the answer's work.
_WORK = ("access", "export.deliver", "export", "erase", "rectify", "restrict")


@dataclass
class DpoRecord:
    """The record of one request (see the module); :meth:`to_json` is its full form."""

    generated_at: datetime
    request: dict[str, Any]
    identities: list[dict[str, Any]]
    earlier: list[dict[str, Any]]
    other_requests: list[dict[str, Any]]
    timeliness: dict[str, Any]
    work: list[dict[str, Any]]
    consulted: list[dict[str, Any]]
    redacted: list[dict[str, Any]]
    deliveries: list[dict[str, Any]]
    letters: list[dict[str, Any]]
    answers: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    controller: str
    catalog_tables: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "record": "dsr-dpo-record",
            "version": 1,
            "generated_at": self.generated_at.isoformat(),
            "controller": self.controller,
            "request": self.request,
            "identities": self.identities,
            "earlier_requests": self.earlier,
            "other_requests": self.other_requests,
            "timeliness": self.timeliness,
            "work": self.work,
            "consulted": self.consulted,
            "redacted": self.redacted,
            "deliveries": self.deliveries,
            "letters": self.letters,
            "answers": self.answers,
            "audit": self.audit,
            "notes": self.notes,
        }


def dpo_record(tk: Toolkit, request_id: int) -> DpoRecord:
    """The internal record of request ``request_id`` as the register stands now."""
    from dsr.ledger.answers import answers_of
    from dsr.ledger.requests import earlier_requests, get_request, reference
    from dsr.ledger.tables import audit, exports
    from dsr.ledger.verification import identity_checks
    from dsr.letters import letters_of
    from dsr.portability.delivery import PACKAGE_MEDIA_TYPE, delivered_what
    from dsr.subject.identity import parse_identities
    from dsr.subject.reach import unsearched

    catalog = tk.catalog
    tk.ledger.require()
    with tk.engine.connect() as conn:
        req = get_request(conn, tk.keys, request_id, with_identities=True)
        ids = parse_identities(req.identities, catalog) if req.identities else []
        checks = identity_checks(conn, tk.keys, request_id, ids)
        shared = catalog.shared_identity_types
        earlier = earlier_requests(conn, tk.keys, req, shared=shared)
        others = [
            r
            for r in earlier_requests(conn, tk.keys, req, same_type=False, shared=shared)
            if r.type != req.type
        ]
        entries = conn.execute(
            select(audit.c.seq, audit.c.at, audit.c.actor, audit.c.action, audit.c.details)
            .where(audit.c.request_id == request_id)
            .order_by(audit.c.seq)
        ).all()
        delivered = {
            row.id: row
            for row in conn.execute(select(exports).where(exports.c.request_id == request_id))
        }
        prepared = answers_of(conn, request_id)

    verified = [c.identity for c in checks if c.verified]
    work = []
    deliveries = []
    for entry in entries:
        details = _details(entry.details)
        if entry.action in _WORK:
            work.append({"seq": entry.seq, "at": _iso(entry.at), "action": entry.action, **details})
        if entry.action == "export.deliver" and details.get("package"):
            row = delivered.get(details["package"])
            deliveries.append(
                {
                    "package": details["package"],
                    "what": delivered_what(details.get("media_type")),
                    "media_type": details.get("media_type") or PACKAGE_MEDIA_TYPE,
                    "sha256": details.get("sha256"),
                    "size": details.get("size"),
                    "prepared_at": _iso(entry.at),
                    "expires_at": _iso(row.expires_at) if row is not None else None,
                    "downloaded_at": _iso(row.downloaded_at)
                    if row is not None and row.downloaded_at
                    else None,
                    "deleted_at": _iso(row.deleted_at)
                    if row is not None and row.deleted_at
                    else None,
                }
            )

    found: dict[str, int] = {}
    recorded = False  # whether any answer recorded what it found per table
    stored_unreached: list[dict[str, Any]] | None = None
    for w in work:
        counts = dict(w.get("by_table") or {})
        for e in [*w.get("erased", []), *w.get("kept", [])]:
            counts[e["table"]] = counts.get(e["table"], 0) + int(e.get("rows", 0))
        if "by_table" in w or "erased" in w or "kept" in w:
            recorded = True
        for table, rows in counts.items():
            found[table] = max(found.get(table, 0), int(rows))
        if "not_searched" in w:
            stored_unreached = list(w["not_searched"])
    if stored_unreached is not None:  # what the answer itself recorded it could not reach
        unreached = {(u["table"], u.get("party")) for u in stored_unreached}
    else:
        unreached = {
            (u.table.name, u.party) for u in unsearched(catalog, {i.type for i in verified or ids})
        }
    consulted = [
        {
            "table": t.name,
            "title": t.title.get("en"),
            "rows_found": found.get(t.name, 0) if recorded else None,
            "parties_not_reached": sorted(
                str(party or "?") for table, party in unreached if table == t.name
            ),
        }
        for t in catalog.personal_tables()
    ]
    redacted = [
        {"table": t.name, "fields": [f.name for f in t.fields.values() if f.access == "redact"]}
        for t in catalog.personal_tables()
        if found.get(t.name) and any(f.access == "redact" for f in t.fields.values())
    ]
    letters = letters_of(req)
    notes = []
    if not work:
        notes.append("no answer was produced for this request yet")
    elif not (req.verified_by or req.verified_at or verified):
        notes.append(
            "an answer was produced although no verification of the person's identity is "
            "recorded (Art. 12(2), (6))"
        )
    if unreached:
        asked = [x for x in letters if x["kind"] == "identification"]
        notes.append(
            "the identities do not reach everyone the catalog holds data about (see the parties "
            "not reached per table); "
            + (
                f"the identification letter was sent on {asked[-1].get('at')}"
                if asked
                else "no identification letter was sent yet (Art. 11(2): tell the person "
                "where possible)"
            )
        )
    if earlier:
        notes.append(
            "the same person asked for the same right in the 12 months before (a heuristic, "
            "not a legal limit): consider Art. 12(5) sentence 2 (the controller bears the "
            "burden of proof, sentence 3) or a reasonable fee for a further copy (Art. 15(3) "
            "sentence 2); never decided automatically"
        )
    closed_on = req.closed_at.date() if req.closed_at else None
    today = tk.ledger.today()
    timeliness = {
        "received": req.received.isoformat(),
        "due": req.due.isoformat(),
        "answered": closed_on.isoformat() if closed_on else None,
        "days_late": max(0, ((closed_on or today) - req.due).days),
        "in_time": (closed_on or today) <= req.due,
    }
    return DpoRecord(
        generated_at=tk.clock.now().astimezone(timezone.utc),
        controller=catalog.controller.name,
        request={
            "id": req.id,
            "reference": reference(req.id),
            **{
                k: v
                for k, v in req.to_json(tk.ledger.today()).items()
                if k not in ("identities", "outcome_log", "subject")
            },
        },
        identities=[
            {
                "identity": c.identity.spec,
                "verified": c.verified,
                "method": c.method,
                "verified_at": _iso(c.verified_at) if c.verified_at else None,
                "verified_by": c.verified_by,
            }
            for c in checks
        ],
        earlier=[_brief(r) for r in earlier],
        other_requests=[_brief(r) for r in others],
        timeliness=timeliness,
        work=work,
        consulted=consulted,
        redacted=redacted,
        deliveries=deliveries,
        letters=letters,
        answers=[
            {
                "id": a.id,
                "kind": a.kind,
                "state": a.state,
                "prepared_by": a.prepared_by,
                "prepared_at": _iso(a.prepared_at),
                "approved_by": a.approved_by,
                "approved_at": _iso(a.approved_at) if a.approved_at else None,
            }
            for a in prepared
        ],
        audit=[
            {"seq": e.seq, "at": _iso(e.at), "actor": e.actor, "action": e.action} for e in entries
        ],
        catalog_tables=len(catalog.personal_tables()),
        notes=notes,
    )


def _brief(r: Any) -> dict[str, Any]:
    """Another request of the person, as the record lists it."""
    from dsr.ledger.requests import reference

    return {
        "id": r.id,
        "reference": reference(r.id),
        "type": r.type,
        "received": r.received.isoformat(),
        "status": r.status,
        "outcome": r.outcome,
    }


def _details(raw: Any) -> dict[str, Any]:
    import json

    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def render_record_html(record: DpoRecord) -> str:
    """The record as a page (English: it is the controller's internal document)."""
    from dsr.render.html import template_environment

    env = template_environment().overlay()
    env.filters["t"] = _time_text
    return env.get_template("dpo_record.html").render(r=record, data=record.to_json())


def _time_text(value: str | None) -> str:
    """An ISO timestamp as an auditor reads it: ``2026-08-17 09:00 UTC``."""
    if not value:
        return ""
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
