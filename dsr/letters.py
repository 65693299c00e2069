"""Letters to the data subject: what the controller writes to the person during a request.

Five letters, each in English and German, HTML or PDF, from ``reports/letter.html`` with the
texts of ``reports/i18n/<lang>.yaml`` (``letter:``):

- ``acknowledgement``: received on, answered by (Art. 12(3)), that the period may be extended;
- ``extension``: the reasons recorded with ``request extend`` and the new due date
  (Art. 12(3) sentence 3: told within the first month);
- ``refusal`` (total, or ``partial``): the grounds (preset, each with its article, and free
  text), the right to complain to the catalog's supervisory authority with its address, and
  the right to a judicial remedy (Art. 12(4)); a request is closed as refused only once its
  refusal letter was produced;
- ``negative``: nothing found under the identifiers given (named: they are the person's own),
  and what record of the request itself is kept and for how long (the catalog's
  ``request_register``); nothing about anyone else;
- ``completion``: what the request's erasure, rectification or restriction did, read from the
  request's outcome log, what was kept with its legal ground and end date, and which
  recipients were informed (Art. 19 sentence 2).

Every letter produced for a request is recorded on it (``letter.<kind>`` in its outcome log:
language, format, grounds, a SHA-256 of the document; never its text), in the caller's
transaction, with an audit entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from dsr.catalog.model import Catalog, Controller
from dsr.clock import Clock
from dsr.crypto.keys import KeyProvider
from dsr.errors import RequestError
from dsr.i18n import count_text, date_text, plural, texts
from dsr.ledger.requests import Request, get_request, record_outcome
from dsr.rights import LETTER_KINDS, REFUSAL_GROUNDS
from dsr.subject.identity import parse_identity

KINDS = LETTER_KINDS
GROUNDS = REFUSAL_GROUNDS

#: the outcome-log actions a completion letter reports
_DONE = ("erase", "rectify", "restrict")


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    authority: dict[str, Any] | None = None
    after: list[str] = field(default_factory=list)


@dataclass
class Letter:
    """One letter, ready to render: every text already in the letter's language."""

    kind: str
    lang: str
    request_id: int
    controller: Controller
    addressees: list[str]
    date_text: str
    reference: str
    your_request: str
    title: str
    paragraphs: list[str]
    items: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    contact: str = ""
    signatory: str = ""
    #: what the register records: grounds (refusal), partial
    details: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """The letter as plain text (for a mail body and for tests)."""
        parts = [self.title, *self.paragraphs, *self.items]
        for s in self.sections:
            parts += [s.title, *s.paragraphs, *s.items]
            if s.authority:
                parts += [s.authority["name"], *s.authority["lines"]]
            parts += s.after
        return "\n".join([*parts, self.contact])


def build_letter(
    conn: Connection,
    catalog: Catalog,
    keys: KeyProvider,
    request_id: int,
    kind: str,
    *,
    lang: str = "en",
    clock: Clock,
    grounds: tuple[str, ...] | list[str] = (),
    reasons: tuple[str, ...] | list[str] = (),
    partial: bool = False,
) -> Letter:
    """The letter ``kind`` for request ``request_id``, built from the register and catalog."""
    if kind not in KINDS:
        raise RequestError(f"unknown letter {kind!r}; use one of {', '.join(KINDS)}", where="KIND")
    t = texts(lang)["letter"]
    req = get_request(conn, keys, request_id, with_identities=True)
    tz = ZoneInfo(catalog.timezone)

    def d(value: date) -> str:
        return date_text(value, lang)

    what = {
        "received": d(req.received),
        "due": d(req.due),
        "original_due": d(req.original_due),
        "type": t["request_types"][req.type],
    }
    letter = Letter(
        kind=kind,
        lang=lang,
        request_id=req.id,
        controller=catalog.controller,
        addressees=_addressees(req, catalog),
        date_text=d(clock.now().astimezone(tz).date()),
        reference=f"DSR-{req.id}",
        your_request=d(req.received),
        title="",
        paragraphs=[],
        contact=t["contact"].format(contact=_dpo_contact(catalog, lang)),
        signatory=f"{catalog.dpo.name.get(lang)}",
    )
    k = t[kind]
    if kind == "acknowledgement":
        letter.title = k["title"]
        letter.paragraphs = [
            k["body"].format(**what),
            k["extension_note"].format(**what),
            k["verification"],
        ]
    elif kind == "extension":
        if req.extension is None:
            raise RequestError(
                "the request has no extension; record one with 'dsr request extend' first",
                where=f"request {req.id}",
            )
        letter.title = k["title"]
        months = plural(k["months"], req.extension.months, lang)
        letter.paragraphs = [k["body"].format(**what, months=months), k["reasons"]]
        letter.items = [req.extension.reason]
    elif kind == "refusal":
        unknown = sorted(set(grounds) - set(GROUNDS))
        if unknown:
            raise RequestError(
                f"unknown ground {unknown[0]!r}; use one of {', '.join(GROUNDS)}",
                where="--ground",
            )
        free = [r.strip() for r in reasons if r.strip()]
        if not grounds and not free:
            raise RequestError(
                "a refusal states its reasons (Art. 12(4)): give --ground or --reason",
                where="--reason",
            )
        letter.title = k["title_partial" if partial else "title_total"]
        letter.paragraphs = [k["body_partial" if partial else "body_total"].format(**what)]
        letter.items = [k["grounds"][g] for g in grounds] + free
        authority = catalog.supervisory_authority
        lines = [authority.address.get(lang)] if authority.address else []
        lines += [x for x in (authority.email, authority.website) if x]
        letter.sections = [
            Section(
                title=k["remedies_title"],
                paragraphs=[k["complaint"]],
                authority={"name": authority.name.get(lang), "lines": lines},
                after=[k["judicial"]],
            )
        ]
        letter.details = {"grounds": list(grounds), "reasons": len(free), "partial": partial}
    elif kind == "negative":
        _require_nothing_found(req)
        letter.title = k["title"]
        shown = ", ".join(parse_identity(i, catalog).value for i in req.identities or ())
        register = catalog.request_register
        kept = (
            k["record_kept"].format(
                period=_period_text(register.period.amount, register.period.unit, lang),
                legal=register.legal_reference.get(lang),
            )
            if register is not None
            else k["record_unstated"]
        )
        letter.paragraphs = [
            k["body"].format(**what, identities=shown),
            f"{k['record']} {kept}",
            k["other_identifiers"],
        ]
    else:
        letter.title = k["title"]
        letter.paragraphs = [k["body"].format(**what)]
        letter.items, kept, recipients = _completion(catalog, req, lang, t)
        if not letter.items:
            letter.items = [k["nothing_done"]]
        if kept:
            letter.sections.append(Section(title=k["kept_title"], items=kept))
        if recipients:
            letter.sections.append(
                Section(
                    title=k["recipients_title"],
                    paragraphs=[k["recipients"].format(names=", ".join(recipients))],
                )
            )
    return letter


def _require_nothing_found(req: Request) -> None:
    """A negative answer rests on a search recorded for the request that found nothing."""
    searches = [e for e in req.outcome_log if e.get("action") in ("access", "export")]
    found = sum(
        int((e.get("summary") or {}).get("rows", 0) or 0)
        + sum(int(c) for c in ((e.get("summary") or {}).get("counts") or {}).values())
        for e in searches
    )
    if not searches:
        raise RequestError(
            "a negative answer needs the search it reports: run 'dsr access IDENTITY... "
            f"--request {req.id}' first",
            where=f"request {req.id}",
        )
    if found:
        raise RequestError(
            f"the search recorded for this request found {found} record(s); a negative "
            "answer would be untrue",
            where=f"request {req.id}",
        )


def _addressees(req: Request, catalog: Catalog) -> list[str]:
    """Whom the letter goes to: the e-mail addresses the request names (the person's own)."""
    idents = [parse_identity(spec, catalog) for spec in req.identities or ()]
    return [i.value for i in idents if i.type == "email"]


def _dpo_contact(catalog: Catalog, lang: str) -> str:
    dpo = catalog.dpo
    return ", ".join(x for x in (dpo.name.get(lang), dpo.email) if x)


def _period_text(amount: int, unit: str, lang: str) -> str:
    units = texts(lang)["units"]
    return f"{count_text(amount, lang)} {plural(units[unit], amount, lang)}"


def _completion(
    catalog: Catalog, req: Request, lang: str, t: dict[str, Any]
) -> tuple[list[str], list[str], list[str]]:
    """What the request's services did (items), what they kept and why, whom they told."""
    k = t["completion"]

    def rows(n: int) -> str:
        return plural(k["rows"], n, lang)

    def title(table: str) -> str:
        known = catalog.tables.get(table)
        return known.title.get(lang) if known else table

    done: list[str] = []
    kept: list[str] = []
    told: list[str] = []
    for entry in req.outcome_log:
        action, summary = entry.get("action"), entry.get("summary") or {}
        if action not in _DONE:
            continue
        if action == "erase":
            for e in summary.get("erased", []):
                key = "anonymised" if e.get("action") == "anonymised" else "erased"
                done.append(k[key].format(rows=rows(e["rows"]), table=title(e["table"])))
            for e in summary.get("kept", []):
                kept.append(
                    k["kept"].format(
                        rows=rows(e["rows"]),
                        table=title(e["table"]),
                        reason=_kept(catalog, e, k, lang),
                    )
                )
            told += _recipients(catalog, [e["table"] for e in summary.get("erased", [])], lang)
        elif action == "rectify":
            for c in summary.get("changes", []):
                table = catalog.tables.get(c["table"])
                f = table.fields.get(c["field"]) if table else None
                label = f.label_text(lang) if f else c["field"]
                key = "supplemented" if c.get("action") == "supplemented" else "rectified"
                done.append(
                    k[key].format(field=label, rows=rows(c["rows"]), table=title(c["table"]))
                )
            for rid in summary.get("recipients", []):
                r = catalog.recipients.get(rid)
                told.append(r.name.get(lang) if r else rid)
        else:
            for e in summary.get("restricted", []):
                n = int(e.get("rows", 0)) + int(e.get("already", 0))
                if n:
                    done.append(k["restricted"].format(rows=rows(n), table=title(e["table"])))
    return done, kept, list(dict.fromkeys(told))


def _kept(catalog: Catalog, e: dict[str, Any], k: dict[str, Any], lang: str) -> str:
    until = e.get("until")
    if e.get("holds"):
        reason = k["kept_hold"]
    elif e.get("action") == "restricted" and e.get("rule") in catalog.retention:
        legal = catalog.retention[e["rule"]].legal_reference.get(lang)
        when = (
            " " + k["kept_until"].format(date=date_text(date.fromisoformat(until), lang))
            if until
            else ""
        )
        return str(k["kept_statutory"].format(legal=legal, until=when))
    elif e.get("action") == "anonymised":
        reason = k["kept_referenced"]
    else:
        reason = k["kept_other"]
    if until:
        reason += ", " + k["kept_until"].format(date=date_text(date.fromisoformat(until), lang))
    return reason


def _recipients(catalog: Catalog, tables: list[str], lang: str) -> list[str]:
    out = []
    for name in tables:
        table = catalog.tables.get(name)
        for rid in table.recipients if table else ():
            out.append(catalog.recipients[rid].name.get(lang))
    return out


def render_letter(letter: Letter, fmt: str = "html") -> bytes:
    """The letter as a self-contained HTML page or a PDF (``fmt`` ``html`` or ``pdf``)."""
    from dsr.render.html import template_environment

    t = texts(letter.lang)["letter"]
    html = template_environment().get_template("letter.html").render(l=letter, t=t)
    if fmt == "html":
        return html.encode("utf-8")
    if fmt != "pdf":
        raise RequestError(f"unknown format {fmt!r}; use html or pdf", where="--format")
    from dsr.render.pdf import html_to_pdf

    return html_to_pdf(html, title=letter.title)


def record_letter(
    conn: Connection,
    keys: KeyProvider,
    letter: Letter,
    document: bytes,
    fmt: str,
    clock: Clock,
) -> None:
    """Record on the request that ``letter`` was produced (in the caller's transaction)."""
    summary = {
        "lang": letter.lang,
        "format": fmt,
        "sha256": hashlib.sha256(document).hexdigest(),
        **letter.details,
    }
    record_outcome(
        conn, keys, letter.request_id, f"letter.{letter.kind}", summary, clock, advance=False
    )


def letters_of(req: Request) -> list[dict[str, Any]]:
    """The letters recorded on a request, oldest first: kind, at, language, format."""
    return [
        {"kind": e["action"].split(".", 1)[1], "at": e.get("at"), **(e.get("summary") or {})}
        for e in req.outcome_log
        if str(e.get("action", "")).startswith("letter.")
    ]


def produced_at(req: Request, kind: str) -> datetime | None:
    """When the latest letter ``kind`` was produced for ``req`` (None: never)."""
    found = [e["at"] for e in letters_of(req) if e["kind"] == kind and e.get("at")]
    return datetime.fromisoformat(found[-1].replace("Z", "+00:00")) if found else None


__all__ = [
    "GROUNDS",
    "KINDS",
    "Letter",
    "build_letter",
    "letters_of",
    "produced_at",
    "record_letter",
    "render_letter",
]
