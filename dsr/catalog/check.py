"""Check a loaded catalog against the live database and against Art. 13/14 GDPR.

Loading (:mod:`dsr.catalog.loader`) stops at the first error because nothing may run on a
broken catalog. A check is for people fixing a catalog, so :func:`check_catalog` collects every
finding in one pass:

* **errors** — the catalog does not fit the database: a table or column it names is missing
  (fields, primary key, link columns, retention anchors incl. anchors on a linked table), a
  column has a type its format or role cannot have, or a link contradicts a foreign key;
* **warnings** — things a person should look at: uncatalogued columns or tables that look
  personal (by name, and by sampling at most :data:`SAMPLE_ROWS` values), links the database
  does not enforce, and gaps in the information Art. 13/14 requires (legitimate interest,
  legal obligation, retention, recipients' countries and safeguards, contact e-mails).

Findings never quote a sampled value: they say what values look like and how many did.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy import Table as SATable
from sqlalchemy import types as sqltypes
from sqlalchemy.exc import DBAPIError

from dsr.catalog.bind import LiveSchema, settle_key, tombstone_unfit
from dsr.catalog.indexes import missing_indexes
from dsr.catalog.loader import key_locator
from dsr.catalog.model import Catalog, Condition, Location, Table
from dsr.db import redact_url
from dsr.errors import ConfigError, SchemaMismatch

#: At most this many rows of a table are read to see what its values look like.
SAMPLE_ROWS = 200

#: The toolkit's own tables; they are not the organisation's data and never catalogued.
LEDGER_PREFIX = "dsr_"


@dataclass(frozen=True)
class Finding:
    """One observation: ``where`` is ``file:line: key`` of a catalog entry, or ``table.column``."""

    where: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"where": self.where, "message": self.message}


@dataclass
class CheckReport:
    """What :func:`check_catalog` found: errors (the catalog does not fit) and warnings."""

    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, list[dict[str, str]]]:
        return {
            "errors": [f.to_json() for f in self.errors],
            "warnings": [f.to_json() for f in self.warnings],
        }


# -- column types -------------------------------------------------------------------------------


def _family(t: sqltypes.TypeEngine[Any]) -> str:
    """A coarse type family for compatibility checks, the same on every backend."""
    if isinstance(t, sqltypes.Boolean):
        return "boolean"
    if isinstance(t, sqltypes.Integer):
        return "integer"
    if isinstance(t, sqltypes.Numeric):
        return "integer" if getattr(t, "scale", None) == 0 else "numeric"
    if isinstance(t, sqltypes.DateTime):
        return "datetime"
    if isinstance(t, sqltypes.Date):
        return "date"
    if isinstance(t, sqltypes.Uuid):
        return "uuid"
    if isinstance(t, sqltypes.String):
        return "string"
    if isinstance(t, sqltypes._Binary):
        return "binary"
    name = type(t).__name__.upper()
    if name in ("INET", "CIDR"):
        return "inet"
    return name.lower()


#: per type family, the YAML values a ``when`` condition may compare it with
_WHEN_VALUES: dict[str, tuple[tuple[type, ...], str]] = {
    "boolean": ((bool,), "true or false (without quotes)"),
    "integer": ((int,), "a whole number (without quotes)"),
    "numeric": ((int, float), "a number (without quotes)"),
    "string": ((str,), "text (quoted where YAML would read it as a number or true/false)"),
    "date": ((date, str), "a date, YYYY-MM-DD"),
    "datetime": ((date, str), "a date and time, YYYY-MM-DD HH:MM:SS"),
}


def _value_fault(type_: sqltypes.TypeEngine[Any], cond: Condition) -> str | None:
    """What ``cond`` should compare the column with, when its values are of another kind
    (engines disagree on such comparisons: 'false' matches a boolean 0 on MariaDB only);
    None when they fit."""
    if cond.op == "is_null":
        return None
    family = _family(type_)
    if type(type_).__name__ == "TINYINT" and getattr(type_, "display_width", None) == 1:
        family = "boolean"  # MySQL and MariaDB spell BOOLEAN so
    if family not in _WHEN_VALUES:
        return None
    kinds, wanted = _WHEN_VALUES[family]
    values = list(cond.value) if cond.op in ("in", "not_in") else [cond.value]
    for value in values:
        if isinstance(value, bool) and family != "boolean":
            return wanted
        if not isinstance(value, kinds):
            return wanted
        if isinstance(value, str) and family in ("date", "datetime"):
            try:
                (date.fromisoformat if family == "date" else datetime.fromisoformat)(value)
            except ValueError:
                return wanted
    return None


_FORMAT_FAMILIES: dict[str, tuple[str, ...]] = {
    "email": ("string",),
    "phone": ("string",),
    "ip": ("string", "inet"),
    "date": ("date", "datetime", "string"),
    "datetime": ("datetime", "string"),
}


def _type_name(t: sqltypes.TypeEngine[Any]) -> str:
    """The type in generic SQL (INTEGER, VARCHAR(40)), the same on every backend."""
    try:
        return str(t.as_generic().compile())
    except Exception:  # noqa: BLE001 - a type some dialect cannot render is still named
        return type(t).__name__


# -- what looks personal ------------------------------------------------------------------------

_NAME_TOKENS: dict[str, str] = {
    **dict.fromkeys(("email", "mail", "emails"), "an e-mail address"),
    **dict.fromkeys(
        ("phone", "tel", "telephone", "mobile", "cell", "fax", "handy", "telefon"),
        "a telephone number",
    ),
    **dict.fromkeys(
        ("surname", "firstname", "lastname", "fullname", "forename", "username", "vorname"),
        "a person's name",
    ),
    **dict.fromkeys(("nachname", "salutation", "anrede"), "a person's name"),
    **dict.fromkeys(
        ("street", "address", "addr", "postcode", "zip", "zipcode", "postal", "strasse", "plz"),
        "a postal address",
    ),
    **dict.fromkeys(
        ("birth", "birthday", "birthdate", "dob", "geburtsdatum", "birthplace"), "a date of birth"
    ),
    **dict.fromkeys(("ip", "ipv4", "ipv6"), "an IP address"),
    "iban": "a bank account",
    "ssn": "a social security number",
    "passport": "a passport number",
    "gender": "a person's gender",
    "nationality": "a nationality",
}
_NAME_PHRASES: dict[str, str] = {
    "user_agent": "a browser identifier",
    "useragent": "a browser identifier",
    "remote_addr": "an IP address",
    "tax_id": "a tax identification number",
    "tax_number": "a tax identification number",
    "taxid": "a tax identification number",
    "social_security": "a social security number",
    "date_of_birth": "a date of birth",
    "id_card": "an identity card number",
}
#: ``<word>_name`` where ``<word>`` is one of these names a thing, not a person.
_THING_NAMES = frozenset(
    "company firm organisation organization org business product file host hostname domain "
    "server table column brand city country region bank project group role team event template "
    "app application device article item category partner shop store vendor supplier "
    "department street".split()
)
#: Columns naming a company; address columns next to them are taken as the company's address.
_COMPANY_TOKENS = frozenset("company firm firma organisation organization business".split())
_ADDRESS_REASON = "a postal address"
#: Role mailboxes (info@, sales@, ...) address an organisation, not a person.
_ROLE_MAILBOXES = frozenset(
    "info kontakt contact anfragen anfrage service support office sales vertrieb buchhaltung "
    "rechnung rechnungen billing invoice invoices accounting noreply no-reply mail post "
    "postmaster webmaster admin hello hallo team jobs karriere career careers presse press "
    "marketing datenschutz privacy hr zentrale empfang reception orders bestellung shop "
    "newsletter help hilfe abuse security".split()
)


def _tokens(column: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column)
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def personal_by_name(column: str, company_context: bool = False) -> str | None:
    """What a column name suggests it holds (``"an e-mail address"``), or None.

    ``company_context``: the table also names a company, so its address columns describe
    the company rather than a person.
    """
    tokens = _tokens(column)
    joined = "_".join(tokens)
    for phrase, reason in _NAME_PHRASES.items():
        if phrase in joined:
            return reason
    for i, tok in enumerate(tokens):
        if tok == "name":
            qualifier = tokens[i - 1] if i else None
            if qualifier is None or qualifier not in _THING_NAMES:
                return "a person's name"
            continue
        suggests = _NAME_TOKENS.get(tok)
        if suggests and not (company_context and suggests == _ADDRESS_REASON):
            return suggests
    return None


def _names_company(columns: Iterable[str]) -> bool:
    return any(set(_tokens(c)) & _COMPANY_TOKENS for c in columns)


_EMAIL = re.compile(r"^([A-Za-z0-9._%+'-]+)@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_IP_CHARS = re.compile(r"^[0-9A-Fa-f:.]{2,45}$")
_PHONE = re.compile(r"^(\+|00|\(?0)[0-9 ()/.\-]{5,24}$")

_KINDS = {
    "email": "e-mail addresses",
    "ip": "IP addresses",
    "phone": "telephone numbers",
}


def _value_kind(value: str) -> str | None:
    v = value.strip()
    m = _EMAIL.match(v)
    if m:
        return None if m.group(1).lower() in _ROLE_MAILBOXES else "email"
    if _IP_CHARS.match(v) and ("." in v or ":" in v):
        try:
            ipaddress.ip_address(v)
            return "ip"
        except ValueError:
            pass
    if _PHONE.match(v) and 7 <= sum(c.isdigit() for c in v) <= 15:
        return "phone"
    return None


def personal_by_values(values: Sequence[Any]) -> str | None:
    """What sampled values look like (``"values look like e-mail addresses (3 of 4 sampled)"``).

    None unless at least half of the non-empty values are of one kind. The message counts
    values and never quotes one.
    """
    texts = [v for v in values if isinstance(v, str) and v.strip()]
    if not texts:
        return None
    counts: dict[str, int] = {}
    for v in texts:
        kind = _value_kind(v)
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    if not counts:
        return None
    kind, n = max(counts.items(), key=lambda kv: kv[1])
    if 2 * n < len(texts):
        return None
    return f"values look like {_KINDS[kind]} ({n} of {len(texts)} sampled)"


# -- the check ----------------------------------------------------------------------------------


class _Checker:
    def __init__(self, catalog: Catalog, conn: Connection, live: LiveSchema | None) -> None:
        self.catalog = catalog
        self.conn = conn
        self.report = CheckReport()
        self._locate: Callable[[Iterable[Any]], Location] = key_locator(catalog.files)
        self.live = (live or LiveSchema()).all_tables(conn)
        self.missing: set[tuple[str, str]] = set()
        self.missing_anchors: set[tuple[str, str, str]] = set()
        #: each table's key as settled against the live schema (dsr.catalog.bind)
        self.keys: dict[str, tuple[str, ...]] = {}

    # where a finding points

    def where(self, *path: str) -> str:
        loc = self._locate(path)
        return str(loc) if loc.line else ".".join(path)

    def error(self, where: str, message: str) -> None:
        if Finding(where, message) not in self.report.errors:
            self.report.errors.append(Finding(where, message))

    def warning(self, where: str, message: str) -> None:
        if Finding(where, message) not in self.report.warnings:
            self.report.warnings.append(Finding(where, message))

    def column(self, table: str, column: str, where: str, role: str) -> Any:
        """The live column, or None after reporting it missing (once per column)."""
        sa = self.live.get(table)
        if sa is None:
            return None
        if column in sa.c:
            return sa.c[column]
        if (table, column) not in self.missing:
            self.missing.add((table, column))
            self.error(
                where,
                f"column {column!r} of table {table!r} ({role}) does not exist in the database",
            )
        return None

    # catalog against database

    def run(self) -> CheckReport:
        self.check_gaps()
        for t in self.catalog.tables.values():
            self.check_table(t)
        for t in self.catalog.tables.values():
            self.check_links(t)
            self.check_anchors(t)
        for t in self.catalog.tables.values():
            self.check_indexes(t)
        for t in self.catalog.tables.values():
            self.look_for_uncatalogued_columns(t)
        self.look_for_uncatalogued_tables()
        return self.report

    def check_table(self, t: Table) -> None:
        tw = ("tables", t.name)
        if t.name not in self.live:
            self.error(self.where(*tw), f"table {t.name!r} does not exist in the database")
            return
        kw = self.where(*tw, "primary_key") if t.key else self.where(*tw)
        present = [c for c in t.key if self.column(t.name, c, kw, "the primary key") is not None]
        if len(present) == len(t.key):
            try:
                self.keys[t.name] = settle_key(t, self.live[t.name])
            except SchemaMismatch as exc:
                self.error(kw, str(exc).split(": ", 2)[-1] if exc.where else str(exc))
            else:
                if not self.keys[t.name]:
                    self.warning(
                        kw,
                        f"table {t.name!r} has no primary key or unique constraint: its rows "
                        "are reported but never changed (rectify, erase and purge refuse it)",
                    )
        for f in t.fields.values():
            fw = self.where(*tw, "fields", f.name)
            col = self.column(t.name, f.name, fw, "a catalogued field")
            if col is None:
                continue
            allowed = _FORMAT_FAMILIES.get(f.format)
            if allowed and _family(col.type) not in allowed:
                self.error(
                    fw,
                    f"format {f.format!r} needs a {' or '.join(allowed)} column, but "
                    f"{t.name}.{f.name} is {_type_name(col.type)}",
                )
        for lk in t.links.values():
            self.column(
                t.name,
                lk.column,
                self.where(*tw, "links", lk.name, "column"),
                f"the column of link {lk.name!r}",
            )

    def check_links(self, t: Table) -> None:
        sa = self.live.get(t.name)
        if sa is None:
            return
        for lk in t.links.values():
            lw = self.where("tables", t.name, "links", lk.name)
            target = self.catalog.tables[lk.table]
            if lk.column not in sa.c or target.name not in self.live:
                continue
            target_sa = self.live[target.name]
            target_key = self.keys.get(target.name, target.key)
            to = lk.to or (target_key[0] if len(target_key) == 1 else None)
            if to is None:
                self.error(
                    lw,
                    f"link {lk.name!r} points at {target.name!r}, whose key is not a single "
                    "column; name the referenced column with 'to'",
                )
                continue
            if to not in target_sa.c:
                self.error(lw, f"link {lk.name!r}: {target.name}.{to} does not exist")
                continue
            col, pk = sa.c[lk.column], target_sa.c[to]
            if not _compatible(col.type, pk.type):
                self.error(
                    lw,
                    f"link {lk.name!r}: {t.name}.{lk.column} is {_type_name(col.type)}, which "
                    f"cannot hold {target.name}.{to} ({_type_name(pk.type)})",
                )
                continue
            refs = _foreign_keys(sa, lk.column)
            if lk.on_remove == "unlink" and not col.nullable:
                self.error(
                    lw,
                    f"link {lk.name!r} says on_remove: unlink, but {t.name}.{lk.column} is "
                    "NOT NULL; allow NULL or use tombstone",
                )
            unfit = tombstone_unfit(col.type) if lk.on_remove == "tombstone" else None
            if unfit is not None:
                self.error(
                    lw,
                    f"link {lk.name!r} says on_remove: tombstone, but {t.name}.{lk.column} "
                    f"({_type_name(col.type)}) {unfit}; use unlink",
                )
            if lk.on_remove == "tombstone" and refs:
                self.error(
                    lw,
                    f"link {lk.name!r} says on_remove: tombstone, but the database's foreign "
                    f"key on {t.name}.{lk.column} would refuse a value that points nowhere; "
                    "use unlink",
                )
            if not refs:
                self.warning(
                    lw,
                    f"declared link without a database foreign key: {t.name}.{lk.column} -> "
                    f"{target.name}.{to}",
                )
            elif (target.name, to) not in refs:
                shown = ", ".join(f"{a}.{b}" for a, b in sorted(refs))
                self.error(
                    lw,
                    f"link {lk.name!r} points {t.name}.{lk.column} at "
                    f"{target.name}.{to}, but the database's foreign key "
                    f"points at {shown}",
                )

    def check_anchors(self, t: Table) -> None:
        if t.name not in self.live:
            return
        for rid in t.retention:
            rule = self.catalog.retention[rid]
            own = self.live[t.name]
            for i, cond in enumerate(rule.when):
                cw = self.where("retention", rid, "when", *([str(i)] if len(rule.when) > 1 else []))
                if cond.column not in own.c:
                    self.error(
                        cw,
                        f"retention rule {rid!r} tests column {cond.column!r} of table "
                        f"{t.name!r}, which does not exist in the database",
                    )
                    continue
                column = own.c[cond.column]
                wanted = _value_fault(column.type, cond)
                if wanted is not None:
                    self.error(
                        cw,
                        f"retention rule {rid!r} compares {t.name}.{cond.column} "
                        f"({_type_name(column.type)}) with {cond.value!r}; write {wanted}",
                    )
            if rule.anchor.while_referenced:
                continue
            aw = self.where("retention", rid, "anchor", "column")
            anchored = t
            if rule.anchor.link:
                anchored = self.catalog.tables[t.links[rule.anchor.link].table]
            elif rule.anchor.related_table:
                anchored = self.catalog.tables[rule.anchor.related_table]
            sa = self.live.get(anchored.name)
            if sa is None:
                continue
            name = rule.anchor.column
            if name not in sa.c:
                # a missing field was reported at the field; otherwise each rule that anchors
                # on the column is reported, since each of them needs fixing
                key = (anchored.name, name, rid)
                if (anchored.name, name) not in self.missing and key not in self.missing_anchors:
                    self.missing_anchors.add(key)
                    self.error(
                        aw,
                        f"column {name!r} of table {anchored.name!r} (the anchor of retention "
                        f"rule {rid!r}) does not exist in the database",
                    )
                continue
            col = sa.c[name]
            if _family(col.type) not in ("date", "datetime"):
                self.error(
                    aw,
                    f"retention rule {rid!r} anchors on {anchored.name}.{name}, "
                    f"which is {_type_name(col.type)}, not a date or timestamp",
                )

    def check_indexes(self, t: Table) -> None:
        """Every identity and link lookup must be able to use an index (a full scan per
        request, repeated inside every dependent table's subquery, does not scale)."""
        if t.name not in self.live:
            return
        for need in missing_indexes(self.catalog, t, self.live, self.conn):
            self.warning(need.where(self.where), need.message())

    # catalog against Art. 13/14

    def check_gaps(self) -> None:
        c = self.catalog
        if not c.controller.email:
            self.warning(
                self.where("controller"),
                "the controller has no e-mail address to give as contact (Art. 13(1)(a))",
            )
        if not c.dpo.email:
            self.warning(
                self.where("dpo"),
                "the data protection officer has no e-mail address (Art. 13(1)(b))",
            )
        for p in c.purposes.values():
            pw = self.where("purposes", p.id, "legal_basis")
            if p.legal_basis == "6(1)(f)" and not p.legitimate_interest:
                self.warning(
                    pw,
                    f"purpose {p.id!r} rests on Art. 6(1)(f) but names no "
                    "legitimate_interest (Art. 13(1)(d))",
                )
            if p.legal_basis == "6(1)(c)" and not p.legal_obligation:
                self.warning(
                    pw,
                    f"purpose {p.id!r} rests on Art. 6(1)(c) but names no legal_obligation "
                    "(the law that requires the processing)",
                )
        for r in c.recipients.values():
            rw = self.where("recipients", r.id)
            if not r.country:
                self.warning(
                    rw,
                    f"recipient {r.id!r} has no country; transfers to third countries "
                    "must be stated (Art. 13(1)(f))",
                )
            elif r.third_country and not r.safeguard:
                self.warning(
                    rw,
                    f"recipient {r.id!r} is in a third country ({r.country}) but names no "
                    "safeguard (adequacy decision, standard contractual clauses; Art. 13(1)(f))",
                )
        for t in c.personal_tables():
            if not t.retention:
                self.warning(
                    self.where("tables", t.name),
                    f"personal table {t.name!r} has no retention rule; the storage period "
                    "must be stated (Art. 13(2)(a)) and enforced (Art. 5(1)(e))",
                )

    # the database beyond the catalog

    def look_for_uncatalogued_columns(self, t: Table) -> None:
        sa = self.live.get(t.name)
        if sa is None:
            return
        known = {*t.key, *self.keys.get(t.name, ()), *t.fields}
        known |= {lk.column for lk in t.links.values()}
        if t.display:
            known.add(t.display)
        others = [c for c in sa.c if c.name not in known]
        company = _names_company(c.name for c in sa.c)
        # a table the catalog declares non-personal is not second-guessed by its column
        # names; only values that look like a person's data are reported
        by_name = {
            c.name: personal_by_name(c.name, company) if t.personal else None for c in others
        }
        by_values = self.sample(sa, [c.name for c in others])
        for c in others:
            reasons = []
            if by_name[c.name]:
                reasons.append(f"name suggests {by_name[c.name]}")
            if by_values.get(c.name):
                reasons.append(by_values[c.name])
            if reasons:
                self.warning(
                    f"{t.name}.{c.name}",
                    "uncatalogued column looks personal: " + "; ".join(reasons),
                )

    def look_for_uncatalogued_tables(self) -> None:
        for name in sorted(self.live):
            if name in self.catalog.tables or name.lower().startswith(LEDGER_PREFIX):
                continue
            sa = self.live[name]
            company = _names_company(c.name for c in sa.c)
            by_values = self.sample(sa, [c.name for c in sa.c])
            hits = []
            for c in sa.c:
                reason = personal_by_name(c.name, company)
                if by_values.get(c.name):
                    hits.append(f"{c.name}: {by_values[c.name]}")
                elif reason:
                    hits.append(f"{c.name}: name suggests {reason}")
            if hits:
                self.warning(
                    name, "uncatalogued table has personal-looking columns; " + "; ".join(hits)
                )

    def sample(self, sa: SATable, columns: Sequence[str]) -> dict[str, str]:
        """What the text columns' values look like, from at most SAMPLE_ROWS rows."""
        text_cols = [sa.c[n] for n in columns if _family(sa.c[n].type) == "string"]
        if not text_cols:
            return {}
        rows = self.conn.execute(select(*text_cols).limit(SAMPLE_ROWS)).all()
        out: dict[str, str] = {}
        for i, col in enumerate(text_cols):
            verdict = personal_by_values([r[i] for r in rows])
            if verdict:
                out[col.name] = verdict
        return out


def _compatible(a: sqltypes.TypeEngine[Any], b: sqltypes.TypeEngine[Any]) -> bool:
    fa, fb = _family(a), _family(b)
    if fa == fb:
        return True
    # a UUID key stored in a text column (or the reverse) is common and joins fine
    return {fa, fb} == {"uuid", "string"}


def _foreign_keys(sa: SATable, column: str) -> set[tuple[str, str]]:
    """The (table, column) pairs that single-column foreign keys on ``column`` reference."""
    out: set[tuple[str, str]] = set()
    for fkc in sa.foreign_key_constraints:
        if list(fkc.column_keys) != [column]:
            continue
        for el in fkc.elements:
            parts = el.target_fullname.split(".")
            out.add((parts[-2], parts[-1]))
    return out


def check_catalog(
    catalog: Catalog, engine: Engine | Connection, live: LiveSchema | None = None
) -> CheckReport:
    """Check ``catalog`` against the live database and the information duties of Art. 13/14.

    Collects every finding rather than stopping at the first. Errors: tables, columns, types or
    links the database contradicts. Warnings: uncatalogued personal-looking columns and tables
    (by name and by sampling at most :data:`SAMPLE_ROWS` rows per table, through bound SQL on
    reflected tables; no sampled value ever appears in a finding), links without a foreign key,
    and gaps in what Art. 13/14 require the controller to state. ``live``: tables already
    reflected (a toolkit's), reused instead of reflecting them again.
    """
    if isinstance(engine, Connection):
        return _Checker(catalog, engine, live).run()
    try:
        conn = engine.connect()
    except DBAPIError as exc:
        raise ConfigError(
            f"cannot connect to {redact_url(str(engine.url))} ({type(exc.orig).__name__})",
            where="--database-url",
        ) from None
    with conn:
        return _Checker(catalog, conn, live).run()
