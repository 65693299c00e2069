"""Right of access (Art. 15 GDPR): everything held about a person, and what we do with it.

:func:`access_report` turns a :class:`~dsr.subject.graph.SubjectRecord` into an
:class:`AccessReport`, a view model the renderers (JSON, HTML, PDF) only loop over and format.
It carries the data itself (Art. 15(1), 15(3)) and every item of Art. 15(1)(a)-(h) and 15(2):
purposes with legal basis, categories, recipients, storage period, rights, complaint authority,
source, automated decision-making, third-country safeguards.

Fields marked ``access: redact`` (a password hash) are listed as held but their values are
dropped here, so they never reach a template or a JSON document. Data about other people on
the same rows never gets this far: the subject graph selects only the person's party fields
(Art. 15(4)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, inspect, select

from dsr.catalog.bind import link_target
from dsr.catalog.model import Catalog, Field, Purpose, Recipient, RetentionRule, Table
from dsr.clock import Clock
from dsr.crypto.keys import KeyProvider
from dsr.errors import KeyError_ as DSRKeyError
from dsr.i18n import (
    amount_text,
    count_text,
    country_name,
    date_text,
    datetime_text,
    plural,
    texts,
    value_text,
)
from dsr.subject.graph import Ambiguity, SubjectGraph, TableRecords
from dsr.subject.identity import Identity
from dsr.subject.reach import NotSearched, not_searched
from dsr.subject.rowkey import chunks, key_in, key_text, sort_keys

#: Below this many rows a table is shown record by record (field | value), above as a grid.
RECORD_LAYOUT_MAX_ROWS = 3
#: A grid with this many columns or more is printed on landscape pages.
WIDE_MIN_FIELDS = 6
#: Non-personal tables whose rows are shown by a name instead of their key when a field links
#: to them (a partner company's name is not a third person's personal data).


def to_json_value(value: Any) -> Any:
    """A stored value in JSON terms: ISO dates, decimals as strings, bytes as hex."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


# -- view model -------------------------------------------------------------------------------


@dataclass
class FieldView:
    """A field held about the person: label, category and source, and whether it is shown."""

    name: str
    label: str
    category: str
    source: str
    shown: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "category": self.category,
            "source": self.source,
            "shown": self.shown,
        }


@dataclass
class FieldGroup:
    """Fields sharing a category and a source, for the compact overview in the pages."""

    category: str
    source: str
    labels: list[str]


def group_fields(fields: Sequence[FieldView], held_label: str) -> list[FieldGroup]:
    groups: dict[tuple[str, str], FieldGroup] = {}
    for f in fields:
        g = groups.setdefault((f.category, f.source), FieldGroup(f.category, f.source, []))
        g.labels.append(f.label if f.shown else f"{f.label} ({held_label})")
    return list(groups.values())


@dataclass
class PurposeView:
    id: str
    title: str
    legal_basis: str
    legal_basis_text: str
    legitimate_interest: str | None
    legal_obligation: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "legal_basis": self.legal_basis,
            "legal_basis_text": self.legal_basis_text,
            "legitimate_interest": self.legitimate_interest,
            "legal_obligation": self.legal_obligation,
        }


@dataclass
class RecipientView:
    id: str
    name: str
    role: str
    role_text: str
    country: str | None
    third_country: bool
    safeguard: str | None
    description: str | None
    country_name: str | None = None
    #: What the report shows as the basis of the transfer ("not needed" inside the EU/EEA).
    basis_text: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "country": self.country,
            "third_country": self.third_country,
            "safeguard": self.safeguard,
            "description": self.description,
        }


@dataclass
class RetentionView:
    id: str
    period: str
    anchor: str
    description: str | None
    legal_reference: str
    action: str
    statutory: bool
    #: For the person's own rows: until when they are kept (end-of-year rules), if known.
    until: str | None = None
    until_dates: list[date] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "period": self.period,
            "anchor": self.anchor,
            "description": self.description,
            "legal_reference": self.legal_reference,
            "action": self.action,
            "statutory": self.statutory,
        }
        if self.until_dates:
            out["kept_until"] = sorted({d.isoformat() for d in self.until_dates})
        return out


@dataclass
class RowView:
    """One row about the person: raw values (JSON) and, if displayed, formatted cells."""

    key: Any
    parties: list[str]
    party_titles: list[str]
    values: dict[str, Any]
    cells: list[str] = field(default_factory=list)
    #: Found only through an IP address, which others may share: the DPO checks before sending.
    ip_only: bool = False
    #: kept by an erasure (statutory retention, a hold, a reference) and restricted
    kept: bool = False
    #: under an Art. 18 restriction: ``request`` (the person's), ``erasure`` (kept instead of
    #: erased), or None
    restricted: str | None = None
    #: Supplementary statements (Art. 16) on an evidence row: raw for JSON, text for pages.
    supplements: list[dict[str, Any]] = field(default_factory=list)
    supplement_texts: list[str] = field(default_factory=list)

    @property
    def keyless(self) -> bool:
        """A row of a table without a unique key (its "key" is only its place in the list)."""
        return isinstance(self.key, tuple) and len(self.key) == 2 and self.key[0] == "row"

    @property
    def key_label(self) -> str:
        """The key as a reader sees it: ``17``, ``1004 / 2`` for a composite key."""
        if self.keyless:
            return str(self.key[1])
        if isinstance(self.key, tuple):
            return " / ".join(str(v) for v in self.key)
        return str(self.key)

    def to_json(self) -> dict[str, Any]:
        key: Any = None if self.keyless else self.key
        out: dict[str, Any] = {
            "key": to_json_value(list(key) if isinstance(key, tuple) else key),
            "parties": self.parties,
            "values": {k: to_json_value(v) for k, v in self.values.items()},
        }
        if self.ip_only:
            out["matched_by_ip_only"] = True
        if self.kept or self.restricted == "erasure":
            out["kept_after_erasure"] = True
        if self.restricted is not None:
            out["restricted"] = self.restricted
        if self.supplements:
            out["supplements"] = [
                {k: to_json_value(v) for k, v in s.items()} for s in self.supplements
            ]
        return out


@dataclass
class RowSummary:
    """Counts and time span of a long table whose rows are not all displayed."""

    count: int
    displayed: int
    first: str | None
    last: str | None
    first_raw: Any = None
    last_raw: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "displayed": self.displayed,
            "first": to_json_value(self.first_raw),
            "last": to_json_value(self.last_raw),
        }


@dataclass
class TableSection:
    """One catalogued table in which the person has data."""

    anchor: str
    name: str
    title: str
    party_titles: list[str]
    parties: list[str]
    fields: list[FieldView]
    held_not_shown: list[FieldView]
    purposes: list[PurposeView]
    categories: list[str]
    recipients: list[RecipientView]
    retention: list[RetentionView]
    sources: list[str]
    rows: list[RowView]
    displayed: list[RowView]
    summary: RowSummary | None
    layout: str
    show_party_column: bool
    field_groups: list[FieldGroup] = field(default_factory=list)
    wide: bool = False
    col_widths: list[float] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def ip_only_count(self) -> int:
        """Rows matched only by a (shareable) IP address: for the DPO to check."""
        return sum(1 for r in self.rows if r.ip_only)

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.name,
            "title": self.title,
            "parties": [
                {"party": p, "title": t}
                for p, t in zip(self.parties, self.party_titles, strict=True)
            ],
            "fields": [f.to_json() for f in self.fields],
            "held_not_shown": [f.to_json() for f in self.held_not_shown],
            "purposes": [p.to_json() for p in self.purposes],
            "categories": self.categories,
            "recipients": [r.to_json() for r in self.recipients],
            "retention": [r.to_json() for r in self.retention],
            "sources": self.sources,
            "row_count": self.row_count,
            "rows": [r.to_json() for r in self.rows],
        }


@dataclass
class RightView:
    article: str
    title: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"article": self.article, "title": self.title, "text": self.text}


@dataclass
class Art15Info:
    """Art. 15(1)(a)-(h) and 15(2), for the tables in scope (or all tables if none matched)."""

    purposes: list[PurposeView]
    categories: list[str]
    recipients: list[RecipientView]
    retention: list[tuple[str, list[RetentionView]]]
    rights: list[RightView]
    complaint: dict[str, str | None]
    sources: list[str]
    automated_decisions: str
    transfers: list[RecipientView]
    transfers_text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "purposes": [p.to_json() for p in self.purposes],
            "categories": self.categories,
            "recipients": [r.to_json() for r in self.recipients],
            "retention": [
                {"table": t, "rules": [r.to_json() for r in rules]} for t, rules in self.retention
            ],
            "rights": [r.to_json() for r in self.rights],
            "supervisory_authority": self.complaint,
            "sources": self.sources,
            "automated_decision_making": {"used": False, "text": self.automated_decisions},
            "third_country_transfers": [r.to_json() for r in self.transfers],
        }


@dataclass(frozen=True)
class CoverLetter:
    """The letter on top of a report that answers a registered request."""

    addressees: tuple[str, ...]
    reference: str
    received_text: str
    type_text: str
    date_text: str
    signatory: str
    contact: str


@dataclass(frozen=True)
class RegisterEntry:
    """One of the person's own requests in the register (itself personal data about them),
    with what was delivered for it."""

    request_id: int
    reference: str
    type: str
    received: date
    received_text: str
    status: str
    outcome: str | None
    closed_text: str | None
    deliveries: tuple[dict[str, Any], ...]
    letters: tuple[str, ...] = ()
    #: the letters in the report's words
    letter_titles: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "reference": self.reference,
            "type": self.type,
            "received": self.received.isoformat(),
            "status": self.status,
            "outcome": self.outcome,
            "letters": list(self.letters),
            "deliveries": [
                {k: v for k, v in d.items() if not k.endswith("_text")} for d in self.deliveries
            ],
        }


@dataclass
class AccessReport:
    """The prepared view model of one access report (Art. 15)."""

    lang: str
    t: dict[str, Any]
    generated_at: datetime
    generated_at_text: str
    request_id: int | None
    identities: tuple[Identity, ...]
    controller: dict[str, str | None]
    dpo: dict[str, str | None]
    sections: list[TableSection]
    art15: Art15Info
    #: parties the catalog says a person is on at most once, matched more than once: the
    #: identities may name several people there; the DPO checks before sending (Art. 15(4))
    ambiguous: list[Ambiguity] = field(default_factory=list)
    #: the letter on top, when the report answers a registered request
    cover: CoverLetter | None = None
    #: the person's other requests in the register, with their deliveries
    requests: list[RegisterEntry] = field(default_factory=list)
    #: what the identities given could not search, and what would
    not_searched: list[NotSearched] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.sections)

    @property
    def row_count(self) -> int:
        return sum(s.row_count for s in self.sections)

    def number(self, value: int) -> str:
        """A count as the report's language writes it (thousands separators)."""
        return count_text(value, self.lang)

    def plural(self, key: str, n: int) -> str:
        """The fixed text ``key`` in the form for ``n`` ("1 record", "2 Datenbeständen")."""
        return plural(self.t[key], n, self.lang)

    @property
    def summarised(self) -> list[TableSection]:
        return [s for s in self.sections if s.summary is not None]

    def summary(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "tables": len(self.sections),
            "rows": self.row_count,
            "by_table": {s.name: s.row_count for s in self.sections},
        }

    def to_json(self) -> dict[str, Any]:
        """The JSON document (docs/access-report.schema.json); every row of every table."""
        return {
            "report": "dsr-access-report",
            "version": 1,
            "generated_at": self.generated_at.isoformat(),
            "lang": self.lang,
            "request_id": self.request_id,
            "subject": {
                "identities": [i.spec for i in self.identities],
                "found": self.found,
            },
            "summary": self.summary(),
            "controller": self.controller,
            "dpo": self.dpo,
            "records": [s.to_json() for s in self.sections],
            "ambiguous": [a.to_json() for a in self.ambiguous],
            "art15": self.art15.to_json(),
            "requests": [r.to_json() for r in self.requests],
            "not_searched": [n.to_json() for n in self.not_searched],
        }


# -- building ---------------------------------------------------------------------------------


class _Builder:
    def __init__(
        self,
        catalog: Catalog,
        lang: str,
        link_names: dict[tuple[str, Any], str] | None = None,
        today: date | None = None,
    ) -> None:
        self.catalog = catalog
        self.lang = lang
        self.today = today
        self.t = texts(lang)
        #: (target table, key) -> display name, for link fields to tables with ``display``
        self.link_names = link_names or {}

    def cell(self, table: Table, row: RowView, name: str) -> str:
        """A displayed value: a linked company by name, the person's own account as such."""
        value = row.values.get(name)
        if value is None or value == "":
            return "—"
        f = table.fields.get(name)
        if f is not None and f.currency and isinstance(value, Decimal | float | int):
            return amount_text(value, self.lang, f.currency)
        for link in table.links.values():
            if link.column != name:
                continue
            if any(
                v.link == link.name
                for p in row.parties
                if p in table.parties
                for v in table.parties[p].via
            ):
                title = self.catalog.tables[link.table].title.get(self.lang)
                key = value_text(value, self.lang)
                return str(self.t["your_account"]).format(table=title, key=key)
            if (link.table, value) in self.link_names:
                return self.link_names[(link.table, value)]
        return value_text(value, self.lang)

    def purpose(self, p: Purpose) -> PurposeView:
        return PurposeView(
            id=p.id,
            title=p.title.get(self.lang),
            legal_basis=p.legal_basis,
            legal_basis_text=p.legal_basis_text(self.lang),
            legitimate_interest=p.legitimate_interest.get(self.lang)
            if p.legitimate_interest
            else None,
            legal_obligation=p.legal_obligation,
        )

    def recipient(self, r: Recipient) -> RecipientView:
        safeguard = r.safeguard.get(self.lang) if r.safeguard else None
        return RecipientView(
            id=r.id,
            name=r.name.get(self.lang),
            role=r.role,
            role_text=str(self.t["recipient_roles"][r.role]),
            country=r.country,
            third_country=r.third_country,
            safeguard=safeguard,
            description=r.description.get(self.lang) if r.description else None,
            country_name=country_name(r.country, self.lang) if r.country else None,
            # Art. 45/46 only apply outside the EU/EEA; inside, no basis is needed.
            basis_text=safeguard
            or ("—" if r.third_country else str(self.t["safeguard_not_needed"])),
        )

    def rule(self, table: Table, r: RetentionRule) -> RetentionView:
        amount, unit = r.period.amount, r.period.unit
        unit_text = plural(self.t["units"][unit], amount, self.lang)
        eoy = "_end_of_year" if r.anchor.end_of_year else ""
        period = f"{amount} {unit_text}"
        # Never a raw column name: the field's label, or the linked table's title.
        if r.anchor.while_referenced:
            related = self.catalog.tables[r.anchor.related_table or ""]
            period = str(self.t["period_while_referenced"])
            anchor = str(self.t["anchor_while_referenced"]).format(
                table=related.title.get(self.lang)
            )
        elif r.anchor.related_table:
            related = self.catalog.tables[r.anchor.related_table]
            f = related.fields.get(r.anchor.column)
            label = f.label_text(self.lang) if f else r.anchor.column
            key = "anchor_newest" if r.anchor.newest else "anchor_oldest"
            anchor = str(self.t[key + eoy]).format(column=label, table=related.title.get(self.lang))
        elif r.anchor.link:
            target = self.catalog.tables[table.links[r.anchor.link].table]
            linked = target.fields.get(r.anchor.column)
            if linked is not None and linked.label is not None:
                anchor = str(self.t[f"anchor{eoy or '_from'}"]).format(
                    column=f"{target.title.get(self.lang)}: {linked.label_text(self.lang)}"
                )
            else:
                anchor = str(self.t[f"anchor_linked{eoy}"]).format(
                    table=target.title.get(self.lang)
                )
        else:
            f = table.fields.get(r.anchor.column)
            label = f.label_text(self.lang) if f else table.title.get(self.lang)
            anchor = str(self.t[f"anchor{eoy or '_from'}"]).format(column=label)
        return RetentionView(
            id=r.id,
            period=period,
            anchor=anchor,
            description=r.description.get(self.lang) if r.description else None,
            legal_reference=r.legal_reference.get(self.lang),
            action=str(self.t["retention_actions"][r.action]),
            statutory=r.statutory,
        )

    def kept_until(self, table: Table, rv: RetentionView, rows: Sequence[RowView]) -> None:
        """The person's own last day of keeping, for a deletion rule anchored on the row.

        The purge's own arithmetic (:func:`dsr.retention.rules.expires_at`): the date given is
        the last day before the purge removes the row. A period that has already run out
        (the purge has not run since) is said as such, never as "kept until" a past date.
        """
        from dsr.retention.rules import expires_at, last_day_kept

        rule = next((r for r in self.catalog.rules_for(table.name) if r.id == rv.id), None)
        if rule is None or rule.anchor.link or rule.anchor.related_table or rule.action != "delete":
            return
        dates = sorted(
            {
                last_day_kept(expires_at(rule, v, self.catalog.timezone))
                for r in rows
                if isinstance(v := r.values.get(rule.anchor.column), date)
            }
        )
        if not dates:
            return
        rv.until_dates = dates
        today = self.today or date.today()
        past = [d for d in dates if d < today]
        future = [d for d in dates if d >= today]
        parts = []
        if len(future) == 1:
            parts.append(str(self.t["kept_until"]).format(date=date_text(future[0], self.lang)))
        elif future:
            parts.append(
                str(self.t["kept_until_range"]).format(
                    first=date_text(future[0], self.lang), last=date_text(future[-1], self.lang)
                )
            )
        if past:
            parts.append(
                str(self.t["kept_until_overdue"]).format(date=date_text(past[-1], self.lang))
            )
        rv.until = " ".join(parts)

    def field(self, f: Field) -> FieldView:
        return FieldView(
            name=f.name,
            label=f.label_text(self.lang),
            category=self.catalog.categories[f.category].get(self.lang)
            if f.category in self.catalog.categories
            else f.category,
            source=self.catalog.sources[f.source].get(self.lang)
            if f.source in self.catalog.sources
            else f.source,
            shown=f.access != "redact",
        )

    def table_info(
        self, table: Table, fields: Sequence[Field], parties: Sequence[str] | None = None
    ) -> tuple[list[PurposeView], list[str], list[RecipientView], list[RetentionView], list[str]]:
        """Art. 15(1)(a)-(d), (g) for ``table``; recipients only of the person's ``parties``."""
        # the purposes of the person's own fields (each field names one, or its table's)
        purpose_ids = _unique([f.purpose for f in fields])
        if not purpose_ids and table.purpose:
            purpose_ids = [table.purpose]
        purposes = [self.purpose(self.catalog.purposes[p]) for p in purpose_ids]
        categories = [
            self.catalog.categories[c].get(self.lang) if c in self.catalog.categories else c
            for c in _unique(f.category for f in fields)
        ]
        recipients = [
            self.recipient(self.catalog.recipients[r])
            for r in party_recipients(table, list(table.parties) if parties is None else parties)
        ]
        retention = [self.rule(table, r) for r in self.catalog.rules_for(table.name)]
        sources = [
            self.catalog.sources[s].get(self.lang)
            for s in _unique(f.source for f in fields)
            if s != "data_subject" and s in self.catalog.sources
        ]
        return purposes, categories, recipients, retention, sources

    def supplement(self, table: Table, row: RowView, statement: dict[str, Any]) -> None:
        """Attach a decrypted supplementary statement (``dsr rectify``) to ``row``."""
        f = table.fields.get(str(statement.get("field")))
        if f is None or f.access == "redact" or f.name not in row.values:
            return  # only statements about fields this person is shown
        at = statement.get("created_at")
        row.supplements.append(
            {
                "field": f.name,
                "corrected_value": statement.get("corrected_value"),
                "recorded_at": at,
            }
        )
        row.supplement_texts.append(
            str(self.t["supplement"]).format(
                field=f.label_text(self.lang),
                value=value_text(statement.get("corrected_value"), self.lang) or "—",
                date=date_text(at, self.lang) if isinstance(at, date) else "—",
            )
        )

    def section(
        self,
        rec: TableRecords,
        supplements: Sequence[dict[str, Any]] = (),
        restricted: dict[str, str] | None = None,
    ) -> TableSection:
        table = rec.table
        fields = rec.fields
        shown = [f for f in fields if f.access != "redact"]
        hidden = [f for f in fields if f.access == "redact"]
        shown_names = [f.name for f in shown]
        party_titles = {p: table.parties[p].title.get(self.lang) for p in rec.parties}
        rows = [
            RowView(
                key=m.key,
                parties=sorted(m.parties),
                party_titles=[party_titles.get(p, p) for p in sorted(m.parties)],
                # Redacted fields (e.g. a password hash) are dropped here and never displayed.
                values={n: m.values[n] for n in shown_names if n in m.values},
                kept=m.kept,
                restricted=(restricted or {}).get(key_text(m.key)),
            )
            for m in rec.rows
        ]
        ip_parties = {
            p
            for p, party in table.parties.items()
            if party.identities and set(party.identities) == {"ip"} and party.via_link is None
        }
        for r in rows:
            r.ip_only = bool(r.parties) and set(r.parties) <= ip_parties
        by_key = {key_text(r.key): r for r in rows}
        for st in supplements:
            if str(st.get("row")) in by_key:
                self.supplement(table, by_key[str(st.get("row"))], st)
        limit = table.summarise_after
        if limit is None or len(rows) <= limit:
            displayed = rows
        else:
            displayed = _most_recent(rows, shown_names)[:limit]
        for r in displayed:
            r.cells = [self.cell(table, r, n) for n in shown_names]
        widths = _column_widths(
            [str(self.t["record"]), *(f.label_text(self.lang) for f in shown)],
            [[r.key_label, *r.cells] for r in displayed],
            party_extra=len(rec.parties) > 1,
            unbreakable={i + 1 for i, f in enumerate(shown) if f.format in ("ip", "datetime")},
        )
        summary = None
        if len(displayed) < len(rows):
            first_raw, last_raw = _time_span(rows, shown_names)
            summary = RowSummary(
                count=len(rows),
                displayed=len(displayed),
                first=value_text(first_raw, self.lang) if first_raw is not None else None,
                last=value_text(last_raw, self.lang) if last_raw is not None else None,
                first_raw=first_raw,
                last_raw=last_raw,
            )
        purposes, categories, recipients, retention, sources = self.table_info(
            table, fields, rec.parties
        )
        for rv in retention:
            self.kept_until(table, rv, rows)
        shown_views = [self.field(f) for f in shown]
        hidden_views = [self.field(f) for f in hidden]
        return TableSection(
            anchor=f"table-{table.name}",
            name=table.name,
            title=table.title.get(self.lang),
            parties=list(rec.parties),
            party_titles=[party_titles[p] for p in rec.parties],
            fields=shown_views,
            held_not_shown=hidden_views,
            purposes=purposes,
            categories=categories,
            recipients=recipients,
            retention=retention,
            sources=sources,
            rows=rows,
            displayed=displayed,
            summary=summary,
            layout="records" if len(rows) <= RECORD_LAYOUT_MAX_ROWS else "grid",
            show_party_column=len(rec.parties) > 1,
            col_widths=widths,
            wide=len(rows) > RECORD_LAYOUT_MAX_ROWS and len(shown) >= WIDE_MIN_FIELDS,
            field_groups=group_fields(shown_views + hidden_views, str(self.t["held_not_shown"])),
        )

    def art15(
        self, tables: Sequence[tuple[Table, Sequence[Field], Sequence[str] | None]]
    ) -> Art15Info:
        purposes: dict[str, PurposeView] = {}
        categories: list[str] = []
        recipients: dict[str, RecipientView] = {}
        retention: list[tuple[str, list[RetentionView]]] = []
        sources: list[str] = []
        for table, fields, parties in tables:
            ps, cs, rs, rets, srcs = self.table_info(table, fields, parties)
            for p in ps:
                purposes.setdefault(p.id, p)
            categories += [c for c in cs if c not in categories]
            for r in rs:
                recipients.setdefault(r.id, r)
            if rets:
                retention.append((table.title.get(self.lang), rets))
            sources += [s for s in srcs if s not in sources]
        t = self.t
        rights = [
            RightView(a, str(t["rights"][k]["title"]), str(t["rights"][k]["text"]))
            for k, a in (
                ("rectification", "Art. 16"),
                ("erasure", "Art. 17"),
                ("restriction", "Art. 18"),
            )
        ]
        bases = {self.catalog.purposes[p].legal_basis for p in purposes}
        if bases & {"6(1)(e)", "6(1)(f)"}:
            r = t["rights"]["objection"]
            rights.append(RightView("Art. 21", str(r["title"]), str(r["text"])))
        if any(self.catalog.purposes[p].portable_basis for p in purposes):
            r = t["rights"]["portability"]
            rights.append(RightView("Art. 20", str(r["title"]), str(r["text"])))
        if bases & {"6(1)(a)", "9(2)(a)"}:
            r = t["rights"]["withdraw_consent"]
            email = self.catalog.controller.email or self.catalog.dpo.email or ""
            text = str(r["text"]).replace("{email}", email)
            rights.append(RightView(str(r["article"]), str(r["title"]), text))
        sa = self.catalog.supervisory_authority
        transfers = [r for r in recipients.values() if r.third_country]
        return Art15Info(
            purposes=list(purposes.values()),
            categories=categories,
            recipients=list(recipients.values()),
            retention=retention,
            rights=rights,
            complaint={
                "name": sa.name.get(self.lang),
                "address": sa.address.get(self.lang) if sa.address else None,
                "email": sa.email,
                "website": sa.website,
            },
            sources=sources,
            automated_decisions=str(t["automated_decisions_text"]),
            transfers=transfers,
            transfers_text=str(t["transfers_text" if transfers else "no_transfers_text"]),
        )


def party_recipients(table: Table, parties: Sequence[str]) -> list[str]:
    """Recipient ids of ``table`` for a person who is ``parties`` on it (Art. 15(1)(c)).

    A party's own ``recipients`` list replaces the table's; the person sees the union over
    the parties they have on the table, in catalog order.
    """
    out: list[str] = []
    for p in parties:
        party = table.parties.get(p)
        ids = party.recipients if party is not None and party.recipients is not None else None
        out += [r for r in (table.recipients if ids is None else ids) if r not in out]
    order = {r: i for i, r in enumerate(table.recipients)}
    return sorted(out, key=lambda r: order.get(r, len(order)))


def _unique(items: Any) -> list[Any]:
    out: list[Any] = []
    for i in items:
        if i not in out:
            out.append(i)
    return out


def _column_widths(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    party_extra: bool,
    unbreakable: set[int] | None = None,
) -> list[float]:
    """Column widths in percent for a fixed-layout grid, from the longest cell (capped).

    Fixed layout keeps WeasyPrint fast; sizing by content keeps long values (browser strings)
    from wrapping into tall rows.
    """
    weights = []
    for i, h in enumerate(headers):
        # A header wraps between words but never inside one ("Recor|d"): its longest word
        # (bold, so wider) must fit; the padding of the cell counts too.
        word = max((len(w) for w in h.split()), default=0) * 1.25
        # Digits are wider than the average letter; an IP address must not wrap mid-number.
        scale = 1.25 if i in (unbreakable or set()) else 1.0
        cells = [len(r[i]) * scale for r in rows if i < len(r)]
        longest = max([word, min(len(h), 16) * 1.2, *cells])
        weights.append(min(max(longest, 7.0), 45.0) + 2.0)
    if party_extra:
        weights.insert(1, 25.0)
    total = sum(weights) or 1.0
    return [round(100 * w / total, 2) for w in weights]


def _most_recent(rows: Sequence[RowView], names: Sequence[str]) -> list[RowView]:
    """Rows newest first by the first field holding dates, else by key descending."""
    for n in names:
        if any(isinstance(r.values.get(n), datetime | date) for r in rows):
            dated = [r for r in rows if isinstance(r.values.get(n), datetime | date)]
            undated = [r for r in rows if not isinstance(r.values.get(n), datetime | date)]
            return sorted(dated, key=lambda r: r.values[n], reverse=True) + undated
    try:
        return sorted(rows, key=lambda r: r.key, reverse=True)
    except TypeError:
        return list(rows)


def _link_names(
    conn: Connection, catalog: Catalog, graph: SubjectGraph, tables: Sequence[TableRecords]
) -> dict[tuple[str, Any], str]:
    """What the rows that link fields point at are called (a track's name for an invoice line,
    a company's name for a customer record): the target table's ``display`` column, one
    bound query per target table and referenced column."""
    wanted: dict[tuple[str, str], set[Any]] = {}
    for rec in tables:
        for lname, link in rec.table.links.items():
            target = catalog.tables[link.table]
            if target.display and link.column in rec.table.fields:
                to = link_target(rec.table, lname, catalog.tables)
                values = {m.values.get(link.column) for m in rec.rows} - {None}
                wanted.setdefault((link.table, to), set()).update(values)
    out: dict[tuple[str, Any], str] = {}
    for (tname, to), keys in wanted.items():
        sa = graph.sa_tables[tname]
        display = catalog.tables[tname].display
        if not keys or display is None:
            continue
        ref = sa.c[to]
        ordered = sort_keys(list(keys))
        for chunk in chunks(ordered, conn):
            stmt = select(ref, sa.c[display]).where(key_in([ref], chunk, conn))
            for key, name in conn.execute(stmt):
                if name is not None:
                    out[(tname, key)] = str(name)
    return out


def _supplements(conn: Connection, keys: KeyProvider, rec: TableRecords) -> list[dict[str, Any]]:
    """Decrypted supplementary statements on the person's evidence rows; none without them.

    A missing ledger or an unusable key leaves the statements out rather than failing the
    report: the data itself must still be given (Art. 15(1)).
    """
    from dsr.ledger.tables import supplements
    from dsr.rights.rectify import supplements_for

    if not rec.table.evidence or not rec.rows:
        return []
    if not inspect(conn).has_table(supplements.name):
        return []
    try:
        return supplements_for(conn, keys, rec.table.name, [m.key for m in rec.rows])
    except DSRKeyError:
        return []


def _time_span(rows: Sequence[RowView], names: Sequence[str]) -> tuple[Any, Any]:
    """First and last time of a long table: the first field holding datetimes."""
    for n in names:
        values = [r.values[n] for r in rows if isinstance(r.values.get(n), datetime | date)]
        if values:
            return min(values), max(values)
    return None, None


def access_report(
    conn: Connection,
    catalog: Catalog,
    graph: SubjectGraph,
    identities: Sequence[Identity | str],
    *,
    lang: str = "en",
    clock: Clock,
    request_id: int | None = None,
    keys: KeyProvider | None = None,
) -> AccessReport:
    """Build the Art. 15 report for the person the ``identities`` name.

    Covers the data itself (Art. 15(1) and (3)) per table, with the information of Art.
    15(1)(a)-(h) and 15(2) per table and for the whole report. A person with no data gets a
    report saying so, with the general information on what the controller processes. With
    ``keys``, rows of evidence tables carry their supplementary statements (Art. 16).
    """
    catalog = graph.catalog
    record = graph.resolve(conn, identities)
    if keys is not None:
        # rows an erasure kept stay findable although what linked them to the person is gone
        from dsr.rights.kept import add_kept_rows

        add_kept_rows(conn, keys, graph, record)
    today = clock.now().astimezone(ZoneInfo(catalog.timezone)).date()
    b = _Builder(catalog, lang, _link_names(conn, catalog, graph, record.tables), today)
    cover, register = (
        _register_part(conn, catalog, keys, record.identities, request_id, lang, today)
        if keys is not None
        else (None, [])
    )
    marked = _restricted_rows(conn, graph, record.tables)
    sections = [
        b.section(
            rec,
            _supplements(conn, keys, rec) if keys is not None else (),
            marked.get(rec.table.name),
        )
        for rec in record.tables
        if rec.rows
    ]
    if sections:
        scope: list[tuple[Table, Sequence[Field], Sequence[str] | None]] = [
            (rec.table, rec.fields, rec.parties) for rec in record.tables if rec.rows
        ]
    else:
        scope = [(t, list(t.fields.values()), None) for t in catalog.personal_tables()]
    now = clock.now()
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    local = now.astimezone(ZoneInfo(catalog.timezone))
    c = catalog.controller
    return AccessReport(
        lang=lang,
        t=b.t,
        generated_at=now,
        generated_at_text=datetime_text(local.replace(tzinfo=None), lang)
        + str(b.t["time_zone_suffix"]),
        request_id=request_id,
        identities=record.identities,
        controller={
            "name": c.name,
            "address": c.address.get(lang),
            "email": c.email,
            "phone": c.phone,
            "website": c.website,
        },
        dpo={
            "name": catalog.dpo.name.get(lang),
            "email": catalog.dpo.email,
            "address": catalog.dpo.address.get(lang) if catalog.dpo.address else None,
            "website": catalog.dpo.website,
        },
        sections=sections,
        art15=b.art15(scope),
        ambiguous=list(record.ambiguous),
        cover=cover,
        requests=register,
        not_searched=not_searched(catalog, {i.type for i in record.identities}, lang),
    )


def _register_part(
    conn: Connection,
    catalog: Catalog,
    keys: KeyProvider,
    identities: Sequence[Identity],
    request_id: int | None,
    lang: str,
    today: date,
) -> tuple[CoverLetter | None, list[RegisterEntry]]:
    """The cover letter of a report answering ``request_id``, and the person's other requests
    in the register with their deliveries (empty without a ledger)."""
    from dsr.errors import RequestError
    from dsr.ledger.requests import get_request, reference, requests_of
    from dsr.ledger.tables import exports
    from dsr.letters import letters_of
    from dsr.portability.delivery import delivered_what

    if not ledger_present(conn):
        return None, []
    t = texts(lang)["letter"]
    cover = None
    if request_id is not None:
        try:
            req = get_request(conn, keys, request_id, with_identities=True)
        except RequestError:
            req = None
        if req is not None and req.type == "access":  # the report answers only Art. 15
            from dsr.letters import addressees

            cover = CoverLetter(
                addressees=tuple(addressees(req, catalog)),
                reference=reference(req.id),
                received_text=date_text(req.received, lang),
                type_text=t["request_types"][req.type],
                date_text=date_text(today, lang),
                signatory=str(catalog.dpo.name.get(lang)),
                contact=catalog.dpo.reach_text(lang),
            )
    shared = catalog.shared_identity_types
    mine = [r for r in requests_of(conn, keys, identities, shared=shared) if r.id != request_id]
    delivered: dict[int, list[Any]] = {}
    if mine:
        rows = conn.execute(
            select(exports)
            .where(exports.c.request_id.in_([r.id for r in mine]))
            .order_by(exports.c.created_at)
        ).all()
        for row in rows:
            delivered.setdefault(row.request_id, []).append(row)
    zone = ZoneInfo(catalog.timezone)
    kinds = texts(lang)["portal"]["letter_kinds"]

    def when(value: datetime | None) -> str | None:
        if value is None:
            return None
        local = value.replace(tzinfo=timezone.utc).astimezone(zone).replace(tzinfo=None)
        return datetime_text(local, lang) + str(texts(lang)["time_zone_suffix"])

    def entry(r: Any) -> RegisterEntry:
        sent = tuple(dict.fromkeys(x["kind"] for x in letters_of(r)))
        return RegisterEntry(
            request_id=r.id,
            reference=reference(r.id),
            type=r.type,
            received=r.received,
            received_text=date_text(r.received, lang),
            status=r.status,
            outcome=r.outcome,
            closed_text=when(r.closed_at),
            letters=sent,
            letter_titles=tuple(str(kinds.get(k, k)) for k in sent),
            deliveries=tuple(
                {
                    "what": delivered_what(d.media_type),
                    "created_at": d.created_at.replace(tzinfo=timezone.utc).isoformat(),
                    "downloaded_at": d.downloaded_at.replace(tzinfo=timezone.utc).isoformat()
                    if d.downloaded_at
                    else None,
                    "created_text": when(d.created_at),
                    "downloaded_text": when(d.downloaded_at),
                }
                for d in delivered.get(r.id, [])
            ),
        )

    return cover, [entry(r) for r in mine]


def _restricted_rows(
    conn: Connection, graph: SubjectGraph, tables: Sequence[TableRecords]
) -> dict[str, dict[str, str]]:
    """Per table, the person's rows under an Art. 18 restriction: ``request`` where the
    person asked for it (it wins), ``erasure`` where an erasure kept the row instead."""
    from dsr.removal.protection import restricted_tables
    from dsr.rights.restrict import active_restrictions

    marked = restricted_tables(conn, graph.schema_cache)
    out: dict[str, dict[str, str]] = {}
    for rec in tables:
        if rec.table.name not in marked or rec.table.keyless or not rec.rows:
            continue
        keys = [m.key for m in rec.rows]
        mine = out.setdefault(rec.table.name, {})
        for k in active_restrictions(conn, rec.table.name, keys, erasure=True):
            mine[k] = "erasure"
        for k in active_restrictions(conn, rec.table.name, keys, erasure=False):
            mine[k] = "request"
    return out


def ledger_present(conn: Connection) -> bool:
    """Whether the toolkit's audit table exists in this database (``dsr init`` was run)."""
    from dsr.ledger.tables import audit

    return bool(inspect(conn).has_table(audit.name))


def record_access(
    conn: Connection,
    keys: KeyProvider,
    report: AccessReport,
    *,
    clock: Clock,
    output_format: str,
) -> None:
    """Record that an access report was produced (Art. 5(2) accountability).

    Appends an ``access`` audit entry naming the person only by keyed pseudonym, with counts,
    and records the outcome on the request register when the report answers a request. Runs in
    the caller's transaction.
    """
    from dsr.crypto.keys import pseudonym
    from dsr.ledger.audit import append
    from dsr.ledger.migrate import require_ledger

    require_ledger(conn)
    counts = {
        "tables": len(report.sections),
        "rows": report.row_count,
        # for the DPO's record: per table, and who may be named more than once (Art. 15(4))
        "by_table": {s.name: s.row_count for s in report.sections},
        "ambiguous": [a.to_json() for a in report.ambiguous],
        "not_searched": [n.to_json() for n in report.not_searched],
    }
    if report.request_id is not None:
        from dsr.ledger.requests import record_outcome

        record_outcome(conn, keys, report.request_id, "access", counts, clock)
    append(
        conn,
        keys,
        "access",
        details={**counts, "format": output_format},
        subject=pseudonym(keys, report.identities),
        request_id=report.request_id,
        at=clock.now(),
    )
    from dsr.log import get, log_step

    log_step(
        get("access"),
        "recorded",
        f"access report ({output_format}): {report.row_count:,} "
        f"row(s) in {len(report.sections)} table(s)",
        tables=counts["tables"],
        rows=counts["rows"],
        format=output_format,
        request=report.request_id,
    )
