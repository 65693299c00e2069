"""Typed model of a catalog: what personal data is held, about whom, why, for whom, how long."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

LANGUAGES = ("en", "de")

#: Legal bases a purpose may name: Art. 6(1)(a)-(f), and Art. 9(2)(a)-(j) for special categories.
LEGAL_BASES: dict[str, dict[str, str]] = {
    "6(1)(a)": {
        "en": "Consent, Art. 6(1)(a) GDPR",
        "de": "Einwilligung, Art. 6 Abs. 1 lit. a DSGVO",
    },
    "6(1)(b)": {
        "en": "Performance of a contract with you, Art. 6(1)(b) GDPR",
        "de": "Vertragserfüllung mit Ihnen, Art. 6 Abs. 1 lit. b DSGVO",
    },
    "6(1)(c)": {
        "en": "Legal obligation, Art. 6(1)(c) GDPR",
        "de": "Rechtliche Verpflichtung, Art. 6 Abs. 1 lit. c DSGVO",
    },
    "6(1)(d)": {
        "en": "Vital interests, Art. 6(1)(d) GDPR",
        "de": "Lebenswichtige Interessen, Art. 6 Abs. 1 lit. d DSGVO",
    },
    "6(1)(e)": {
        "en": "Public interest or official authority, Art. 6(1)(e) GDPR",
        "de": "Öffentliches Interesse oder öffentliche Gewalt, Art. 6 Abs. 1 lit. e DSGVO",
    },
    "6(1)(f)": {
        "en": "Legitimate interests, Art. 6(1)(f) GDPR",
        "de": "Berechtigte Interessen, Art. 6 Abs. 1 lit. f DSGVO",
    },
}
for _letter in "abcdefghij":
    LEGAL_BASES[f"9(2)({_letter})"] = {
        "en": f"Special categories, Art. 9(2)({_letter}) GDPR",
        "de": f"Besondere Kategorien, Art. 9 Abs. 2 lit. {_letter} DSGVO",
    }

#: Identity types every catalog knows; a catalog may declare more under ``identity_types``.
IDENTITY_TYPES = ("email", "phone", "customer_number", "ip")

#: How an identity value is compared with stored values: ``exact``; ``casefold`` (lower case
#: on both sides); ``digits`` (formatting characters stripped on both sides); ``email``
#: (validated, case-insensitive); ``phone`` (E.164 by libphonenumber, stored formatting
#: stripped); ``ip`` (canonical IPv4/IPv6 text).
IdentityMatch = Literal["exact", "casefold", "digits", "email", "phone", "ip"]

PartyErase = Literal["delete_row", "clear_fields", "keep"]
FieldErase = Literal["null", "anonymise", "keep"]
FieldFormat = Literal["text", "email", "phone", "country", "ip", "date", "datetime"]
Anonymiser = Literal["null", "truncate_ip", "coarsen_month", "coarsen_day", "redact"]


@dataclass(frozen=True)
class Text:
    """A text in several languages; ``str(text)`` is English."""

    values: dict[str, str]

    def get(self, lang: str = "en") -> str:
        return self.values.get(lang) or self.values.get("en") or next(iter(self.values.values()))

    def __str__(self) -> str:
        return self.get("en")


@dataclass(frozen=True)
class Location:
    """Where a catalog entry stands, for error messages."""

    file: str
    line: int
    key: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}"


@dataclass(frozen=True)
class Controller:
    """The controller (Art. 4(7)) every report, letter and package names (Art. 13(1)(a))."""

    name: str
    address: Text
    email: str | None = None
    phone: str | None = None
    website: str | None = None


@dataclass(frozen=True)
class Contact:
    """The data protection officer or the supervisory authority: how a person reaches them."""

    name: Text
    email: str | None = None
    address: Text | None = None
    website: str | None = None

    def reach_text(self, lang: str) -> str:
        """Name and e-mail address, as a letter says whom to ask."""
        return ", ".join(x for x in (self.name.get(lang), self.email) if x)


@dataclass(frozen=True)
class IdentityType:
    """A kind of identifier a person can be looked up by (``email``, ``loyalty_id``, ...).

    ``one_person``: a value names at most one person (an e-mail address, a customer number),
    unlike an IP address, which many people may share. ``pattern`` is a regular expression the
    normalised value must match.
    """

    name: str
    label: Text
    match: IdentityMatch = "exact"
    pattern: str | None = None
    one_person: bool = True


BUILTIN_IDENTITY_TYPES: dict[str, IdentityType] = {
    "email": IdentityType("email", Text({"en": "E-mail address", "de": "E-Mail-Adresse"}), "email"),
    "phone": IdentityType(
        "phone", Text({"en": "Telephone number", "de": "Telefonnummer"}), "phone"
    ),
    "customer_number": IdentityType(
        "customer_number", Text({"en": "Customer number", "de": "Kundennummer"}), "exact"
    ),
    "ip": IdentityType(
        "ip", Text({"en": "IP address", "de": "IP-Adresse"}), "ip", one_person=False
    ),
}


@dataclass(frozen=True)
class Purpose:
    """A purpose of processing with its legal basis (Art. 6(1)/9(2), e.g. ``6(1)(f)``).

    ``legitimate_interest`` states the interest a 6(1)(f) purpose rests on (Art. 13(1)(d)),
    ``legal_obligation`` the norm a 6(1)(c) one fulfils; ``note`` is for the DPO, never shown.
    """

    id: str
    title: Text
    legal_basis: str
    legitimate_interest: Text | None = None
    legal_obligation: str | None = None
    note: str | None = None

    def legal_basis_text(self, lang: str = "en") -> str:
        return LEGAL_BASES[self.legal_basis][lang if lang in LANGUAGES else "en"]

    @property
    def portable_basis(self) -> bool:
        """Art. 20(1)(a): portability applies to consent and contract only."""
        return self.legal_basis in ("6(1)(a)", "6(1)(b)", "9(2)(a)")


@dataclass(frozen=True)
class Recipient:
    """Who receives data (Art. 15(1)(c)): a processor, another controller or an authority.

    ``country`` (ISO 3166-1) outside the EU/EEA makes it a third-country transfer, which needs
    a ``safeguard`` (Art. 45/46, shown under Art. 15(2)).
    """

    id: str
    name: Text
    role: Literal["processor", "controller", "joint_controller", "authority"]
    country: str | None = None
    safeguard: Text | None = None
    description: Text | None = None

    @property
    def third_country(self) -> bool:
        return self.country is not None and self.country.upper() not in EEA


EEA = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
    " IS LI NO".split()
)

_PERIOD = re.compile(r"^\s*(\d+)\s*(day|days|week|weeks|month|months|year|years)\s*$")


@dataclass(frozen=True)
class Period:
    """A retention period: a count of days, weeks, months or years."""

    amount: int
    unit: Literal["days", "weeks", "months", "years"]

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD.match(str(text))
        if not m:
            raise ValueError(
                f"period {text!r} is not of the form '<number> days|weeks|months|years'"
            )
        unit = m.group(2) if m.group(2).endswith("s") else m.group(2) + "s"
        return cls(int(m.group(1)), unit)  # type: ignore[arg-type]

    def __str__(self) -> str:
        unit = self.unit[:-1] if self.amount == 1 else self.unit
        return f"{self.amount} {unit}"


@dataclass(frozen=True)
class Anchor:
    """From when a retention period runs: a column of the row or of a linked row.

    ``end_of_year`` counts from the end of the calendar year of that date, as German
    commercial and tax law do (§ 257(5) HGB, § 147(4) AO).
    """

    column: str
    link: str | None = None
    end_of_year: bool = False
    #: the column belongs to the rows of ``related_table`` whose link ``related_link`` points
    #: at this row, and the period runs from the newest of them (``newest``) or the oldest
    #: ("3 years after the customer's last purchase")
    related_table: str | None = None
    related_link: str | None = None
    newest: bool = True
    #: a row with no related rows at all: expired (``True``) or kept like a NULL anchor
    none_expired: bool = False
    #: no period and no column: the row is kept as long as rows of ``related_table`` refer to
    #: it through ``related_link`` ("customer master data as long as retained invoices
    #: refer to it"), and has expired once none does
    while_referenced: bool = False


@dataclass(frozen=True)
class Condition:
    """A test on a column of the row itself: ``op`` is ``equals``, ``not_equals``, ``in``,
    ``not_in`` or ``is_null`` (``value`` True or False). Values are bound, never SQL text."""

    column: str
    op: Literal["equals", "not_equals", "in", "not_in", "is_null"]
    value: Any


@dataclass(frozen=True)
class RetentionRule:
    """How long rows are kept (Art. 5(1)(e), 15(1)(d)): ``period`` after ``anchor``, then
    ``action`` (delete, or anonymise the ``anonymise`` fields). A ``statutory`` rule also keeps
    rows an erasure would remove (Art. 17(3)(b)), restricted until its period ends."""

    id: str
    period: Period
    anchor: Anchor
    action: Literal["delete", "anonymise"]
    legal_reference: Text
    anonymise: dict[str, Anonymiser] = field(default_factory=dict)
    statutory: bool = False
    description: Text | None = None
    location: Location | None = None
    #: the rule applies only to rows for which every condition holds ("staff no longer
    #: active"); for other rows its period has not started, as for a NULL anchor
    when: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Link:
    """A many-to-one reference from ``column`` of this table to a row of ``table``.

    The referenced column is ``to``, by default the target table's (single-column) key.
    """

    name: str
    column: str
    table: str
    to: str | None = None
    #: what becomes of this reference when the row it points at is deleted (by an erasure
    #: or a purge) while this row stays: ``restrict`` keeps the target (anonymised where
    #: an erasure asked for it), ``unlink`` sets the column to NULL, ``tombstone`` replaces
    #: it with a random value that points nowhere and maps to no one
    on_remove: Literal["restrict", "unlink", "tombstone"] = "restrict"


@dataclass(frozen=True)
class Via:
    """A party is found through a link: the row points at a row where they are ``party``."""

    link: str
    party: str


@dataclass(frozen=True)
class PointedBy:
    """A party is found backwards: a row of ``table`` where they are ``party`` points at this
    row through that table's link ``link`` (a customer's address, an order's billing address).
    """

    table: str
    link: str
    party: str


@dataclass(frozen=True)
class Party:
    """Someone a row of a table is about, and how they are found.

    Either directly by ``identities`` (identity type → column), or ``via`` a link to a row of
    another table where they are the party ``via_party``. ``unattributed`` lists link names
    whose column must be NULL for a row to be about this party: a log row matched by a shared
    IP address but attributed to a signed-in account is about that account's holder, not about
    whoever else used the address (Art. 15(4)). ``recipients``, when given, replaces the
    table's recipients for this party (Art. 15(1)(c)): whoever receives a customer record does
    not necessarily receive the data of the employee who created it.
    """

    name: str
    title: Text
    identities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    via: tuple[Via, ...] = ()
    pointed_by: tuple[PointedBy, ...] = ()
    erase: PartyErase = "delete_row"
    unattributed: tuple[str, ...] = ()
    recipients: tuple[str, ...] | None = None
    one_row: bool = False
    location: Location | None = None

    @property
    def via_link(self) -> str | None:
        """The first link the party is found through (most parties have one)."""
        return self.via[0].link if self.via else None

    @property
    def via_party(self) -> str | None:
        return self.via[0].party if self.via else None

    @property
    def direct(self) -> bool:
        """Found by identity columns of the row itself."""
        return bool(self.identities)

    def identity_columns(self) -> set[str]:
        return {c for cols in self.identities.values() for c in cols}


@dataclass(frozen=True)
class Field:
    """A catalogued column: whose data it is (``parties``), its category, purpose and source
    (Art. 15(1)(b), (a), (g)), whether the person sees it (``access``) and takes it along
    (``portable``, Art. 20), and what an erasure does to it (``erase``)."""

    name: str
    parties: tuple[str, ...]
    category: str
    purpose: str
    source: str
    label: Text | None = None
    access: Literal["show", "redact"] = "show"
    portable: bool = False
    erase: FieldErase = "null"
    format: FieldFormat = "text"
    currency: str | None = None
    location: Location | None = None

    def label_text(self, lang: str = "en") -> str:
        return self.label.get(lang) if self.label else self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Table:
    """A catalogued table: whom its rows are about, their fields, links and retention.

    ``key`` holds the columns that identify a row. The catalog may name them; binding to the
    live database (:func:`dsr.catalog.bind.bind_catalog`) checks that the database guarantees
    them unique (primary key or unique constraint) or takes them from it. An empty ``key``
    after binding means the table has no unique key: it is read, never changed.
    ``display`` names the column that tells a reader which row a link points at (a track's
    name for a purchase, a company's name for a customer record).
    """

    name: str
    title: Text
    key: tuple[str, ...] = ()
    personal: bool = True
    description: str | None = None
    purpose: str | None = None
    retention: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    links: dict[str, Link] = field(default_factory=dict)
    parties: dict[str, Party] = field(default_factory=dict)
    fields: dict[str, Field] = field(default_factory=dict)
    evidence: bool = False
    summarise_after: int | None = None
    display: str | None = None
    key_location: Location | None = None
    location: Location | None = None

    @property
    def primary_key(self) -> str:
        """The single key column; services that address rows of a composite key use ``key``."""
        if len(self.key) != 1:
            from dsr.errors import SchemaMismatch

            what = "has no unique key" if not self.key else f"has a composite key {self.key}"
            raise SchemaMismatch(f"table {self.name!r} {what}", key=str(self.location or ""))
        return self.key[0]

    @property
    def keyless(self) -> bool:
        return not self.key

    def fields_of(self, party: str) -> list[Field]:
        """The fields that belong to ``party``, in catalog order (Art. 15(4))."""
        return [f for f in self.fields.values() if party in f.parties]


@dataclass(frozen=True)
class RegisterRetention:
    """How long the request register keeps a closed request (its entry, letters and audit
    entries): what a negative answer tells the person about the record of their request."""

    period: Period
    legal_reference: Text


@dataclass(frozen=True)
class Catalog:
    """What personal data is held, about whom, why, for whom and how long: the whole catalog.

    Built by :func:`dsr.catalog.loader.load_catalog`; ``bound`` once its tables' keys were
    settled against a live schema (:func:`dsr.catalog.bind.bind_catalog`).
    """

    controller: Controller
    dpo: Contact
    supervisory_authority: Contact
    purposes: dict[str, Purpose]
    categories: dict[str, Text]
    sources: dict[str, Text]
    recipients: dict[str, Recipient]
    retention: dict[str, RetentionRule]
    tables: dict[str, Table]
    timezone: str = "Europe/Berlin"
    holidays_country: str = "DE"
    holidays_subdivision: str | None = "SN"
    files: tuple[str, ...] = ()
    identity_types: dict[str, IdentityType] = field(
        default_factory=lambda: dict(BUILTIN_IDENTITY_TYPES)
    )
    phone_region: str = "DE"
    request_register: RegisterRetention | None = None
    bound: bool = False

    def table(self, name: str) -> Table:
        return self.tables[name]

    def personal_tables(self) -> list[Table]:
        return [t for t in self.tables.values() if t.personal]

    @property
    def shared_identity_types(self) -> set[str]:
        """Identity types a value of which many people may share (an IP address)."""
        return {name for name, kind in self.identity_types.items() if not kind.one_person}

    def rules_for(self, table: str) -> list[RetentionRule]:
        return [self.retention[r] for r in self.tables[table].retention]
