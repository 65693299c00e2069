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
from datetime import date
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from dsr.catalog.model import Catalog, Controller
from dsr.clock import Clock
from dsr.crypto.keys import KeyProvider
from dsr.errors import RequestError
from dsr.i18n import count_text, date_text, plural, texts
from dsr.ledger.requests import Request, get_request, record_outcome, reference
from dsr.rights import LETTER_KINDS, REFUSAL_GROUNDS
from dsr.subject.graph import SubjectGraph
from dsr.subject.identity import parse_identity

if TYPE_CHECKING:
    from dsr.subject.reach import NotSearched

KINDS = LETTER_KINDS
GROUNDS = REFUSAL_GROUNDS


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
    graph: SubjectGraph | None = None,
) -> Letter:
    """The letter ``kind`` for request ``request_id``, built from the register and catalog.

    A negative answer searches the request's identities itself with ``graph`` (required for
    it), so it can only say "nothing" of exactly what was searched.
    """
    if kind not in KINDS:
        raise RequestError(f"unknown letter {kind!r}; use one of {', '.join(KINDS)}", where="KIND")
    t = texts(lang)["letter"]
    req = get_request(conn, keys, request_id, with_identities=True)
    where = f"request {req.id}"
    if req.status == "closed":
        raise RequestError(
            "the request is closed; its letters are written before it is closed", where=where
        )
    tz = ZoneInfo(catalog.timezone)
    today = clock.now().astimezone(tz).date()
    if kind in ("acknowledgement", "extension") and today > req.original_due:
        raise RequestError(
            f"the first month ended on {req.original_due.isoformat()}: an {kind} is told "
            "within it (Art. 12(3))",
            where=where,
        )

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
        addressees=addressees(req, catalog),
        date_text=d(today),
        reference=reference(req.id),
        your_request=d(req.received),
        title="",
        paragraphs=[],
        contact=t["contact"].format(contact=catalog.dpo.reach_text(lang)),
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
        letter.items = [r for r in req.extension.reason.splitlines() if r.strip()]
    elif kind == "refusal":
        free = [r.strip() for r in reasons if r.strip()]
        _check_grounds(req, list(grounds), free)
        letter.title = k["title_partial" if partial else "title_total"]
        letter.paragraphs = [k["body_partial" if partial else "body_total"].format(**what)]
        letter.items = [k["grounds"][g] for g in grounds] + free
        letter.sections = [_remedies(catalog, t, lang)]
        letter.details = {"grounds": list(grounds), "reasons": len(free), "partial": partial}
    elif kind == "negative":
        if graph is None:
            raise RequestError("a negative answer searches the identities: pass the graph")
        found = graph.resolve(conn, list(req.identities or ())).row_count
        if found:
            raise RequestError(
                f"the request's identities find {found} record(s) now; a negative answer "
                "would be untrue",
                where=where,
            )
        letter.details = {"searched": True}
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
        missing = _not_searched(req, catalog, lang)
        letter.paragraphs = [
            k["body_partial" if missing else "body"].format(**what, identities=shown),
            f"{k['record']} {kept}",
            k["other_identifiers"],
        ]
        if missing:
            n = texts(lang)["not_searched"]
            letter.sections.append(
                Section(
                    title=n["title"],
                    paragraphs=[n["intro"]],
                    items=[m.text(lang) for m in missing],
                    after=[n["kept"], n["offer_new"]],
                )
            )
    elif kind == "identification":
        missing = _not_searched(req, catalog, lang)
        if not missing:
            raise RequestError(
                "the request's identities reach every catalogued table: there is nothing to "
                "ask for",
                where=where,
            )
        shown = ", ".join(parse_identity(i, catalog).value for i in req.identities or ())
        letter.title = k["title"]
        letter.paragraphs = [k["body"].format(**what, identities=shown)]
        letter.items = [m.text(lang) for m in missing]
        n = texts(lang)["not_searched"]
        letter.sections = [Section(title="", paragraphs=[n["kept"], k["offer"].format(**what)])]
        letter.details = {"tables": sorted({m.table for m in missing})}
    else:
        _require_work_done(req)
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
        if kept:
            # keeping records is a refusal in part: the person may complain or go to court
            letter.sections.append(_remedies(catalog, t, lang))
    return letter


#: refusal grounds that answer only some request types (the others answer any)
_GROUND_TYPES: dict[str, tuple[str, ...]] = {
    "portability_not_applicable": ("portability",),
    "legal_obligation": ("erasure",),
    "legal_claims": ("erasure",),
}


def _check_grounds(req: Request, grounds: list[str], free: list[str]) -> None:
    """Refuse a refusal that would state no reasons, or grounds that do not fit the request."""
    for g in grounds:
        if g not in GROUNDS:
            raise RequestError(
                f"unknown ground {g!r}; use one of {', '.join(GROUNDS)}", where="--ground"
            )
        fits = _GROUND_TYPES.get(g)
        if fits is not None and req.type not in fits:
            raise RequestError(
                f"ground {g!r} is for {' or '.join(fits)} requests, not for a {req.type} request",
                where="--ground",
            )
    if not grounds and not free:
        raise RequestError(
            "a refusal states its reasons (Art. 12(4)): give --ground or --reason",
            where="--reason",
        )
    if {"manifestly_unfounded", "excessive"} & set(grounds) and not free:
        raise RequestError(
            "a request refused as manifestly unfounded or excessive needs the facts that show "
            "it (Art. 12(5)): add --reason",
            where="--reason",
        )
    if "identity_not_verified" in grounds and req.verified_by:
        raise RequestError(
            "the register says the identity was verified; correct the register first",
            where="--ground",
        )


def _remedies(catalog: Catalog, t: dict[str, Any], lang: str) -> Section:
    """The person's remedies (Art. 12(4)): the supervisory authority, the courts."""
    k = t["refusal"]
    authority = catalog.supervisory_authority
    lines = [authority.address.get(lang)] if authority.address else []
    lines += [x for x in (authority.email, authority.website) if x]
    return Section(
        title=k["remedies_title"],
        paragraphs=[k["complaint"]],
        authority={"name": authority.name.get(lang), "lines": lines},
        after=[k["judicial"]],
    )


#: the request types a completion letter reports on, and the services that do their work
_COMPLETES = {
    "erasure": ("erase",),
    "rectification": ("rectify",),
    "restriction": ("restrict",),
    # while an objection is assessed its rows are restricted (Art. 18(1)(d)); upheld, erased
    "objection": ("restrict", "erase"),
}


def _require_work_done(req: Request) -> None:
    """A completion letter reports work recorded for the request: an access or portability
    request is answered by its report or package instead."""
    services = _COMPLETES.get(req.type)
    if services is None:
        raise RequestError(
            "a completion letter reports an erasure, rectification, restriction or the "
            f"handling of an objection; a request for {req.type} is answered with its report "
            "or package",
            where=f"request {req.id}",
        )
    if not any(e.get("action") in services for e in req.outcome_log):
        raise RequestError(
            f"nothing was recorded for this request yet: run 'dsr {services[0]} IDENTITY... "
            f"--request {req.id}' first",
            where=f"request {req.id}",
        )


def _not_searched(req: Request, catalog: Catalog, lang: str) -> list[NotSearched]:
    """What the request's identities cannot search (Art. 11(2))."""
    from dsr.subject.reach import not_searched

    types = {parse_identity(i, catalog).type for i in req.identities or ()}
    return not_searched(catalog, types, lang)


def addressees(req: Request, catalog: Catalog) -> list[str]:
    """Whom the letter goes to: the e-mail addresses the request names (the person's own)."""
    idents = [parse_identity(spec, catalog) for spec in req.identities or ()]
    return [i.value for i in idents if i.type == "email"]


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
        if not any(action in services for services in _COMPLETES.values()):
            continue
        if action == "erase":
            for e in summary.get("erased", []):
                key = "anonymised" if e.get("action") == "anonymised" else "erased"
                done.append(k[key].format(rows=rows(e["rows"]), table=title(e["table"])))
            for e in summary.get("kept", []):
                if e.get("action") == "anonymised":
                    # kept because others refer to it, but the person's fields were removed
                    count, name = rows(e["rows"]), title(e["table"])
                    done.append(k["anonymised"].format(rows=count, table=name))
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
    basis = e.get("basis") or ""
    if e.get("holds") or basis == "hold":
        reason = k["kept_hold"]
    elif e.get("action") == "restricted" and e.get("rule") in catalog.retention:
        legal = catalog.retention[e["rule"]].legal_reference.get(lang)
        when = (
            " " + k["kept_until"].format(date=date_text(date.fromisoformat(until), lang))
            if until
            else ""
        )
        return str(k["kept_statutory"].format(legal=legal, until=when))
    elif e.get("action") == "anonymised" or basis == "referenced":
        reason = k["kept_referenced" if e.get("action") == "anonymised" else "kept_referring"]
    elif basis == "other_role":
        reason = k["kept_other_role"]
    elif basis == "nothing_to_clear":
        reason = k["kept_nothing_to_clear"]
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


__all__ = [
    "GROUNDS",
    "KINDS",
    "Letter",
    "build_letter",
    "letters_of",
    "record_letter",
    "render_letter",
]
