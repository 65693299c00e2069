"""Deterministic German demo data for the COMPAREX Cloud Center (Faker ``de_DE``, seeded).

``populate(engine, scale)`` fills the demo schema and returns the demo people whose requests
the demo and the tests serve: a person in several roles, a partner employee who created
customer records, the contact person of one of those customers, a visitor whose web logs are
linked to an account, a heavy user with thousands of log rows, and somebody nobody knows.

Naive timestamps are wall-clock time in the catalog's time zone (Europe/Berlin). Data is laid
out relative to ``now`` so that every retention rule has something expired and something not.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from dsr.errors import MissingExtra

try:
    from faker import Faker
except ImportError:  # pragma: no cover - exercised by the extras test in a bare environment
    raise MissingExtra("demo", "Faker", "the demo's generated people") from None
from sqlalchemy import Engine, Table, insert

from dsr.demo import schema as s

CHUNK = 10_000
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
)
FILES = (
    "/",
    "/login",
    "/dashboard",
    "/customers",
    "/customers/new",
    "/orders",
    "/orders/new",
    "/products/microsoft-365",
    "/products/azure",
    "/invoices",
    "/downloads/price-list.pdf",
    "/downloads/mca.pdf",
    "/support",
    "/contact",
    "/privacy",
)
TOPICS = ("Preisanfrage", "Partnerprogramm", "Support", "Lizenzierung", "Rechnung")


@dataclass
class DemoPerson:
    role: str
    email: str
    name: str
    identities: list[str] = field(default_factory=list)
    ip: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "identities": list(self.identities)}


@dataclass
class DemoPeople:
    dual_role: DemoPerson
    employee: DemoPerson
    customer_contact: DemoPerson
    visitor: DemoPerson
    heavy: DemoPerson
    nobody: DemoPerson
    row_counts: dict[str, int] = field(default_factory=dict)

    def all(self) -> list[DemoPerson]:
        return [
            self.dual_role,
            self.employee,
            self.customer_contact,
            self.visitor,
            self.heavy,
            self.nobody,
        ]


def _slug(text: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "x"


class _Gen:
    def __init__(self, seed: int, now: datetime) -> None:
        self.fake = Faker("de_DE")
        self.fake.seed_instance(seed)
        self.rnd = random.Random(seed)
        self.now = now

    def phone(self) -> str:
        return "+49" + str(self.rnd.randint(30, 999)) + str(self.rnd.randint(1_000_000, 99_999_999))

    def email(self, first: str, last: str, domain: str) -> str:
        return f"{_slug(first)}.{_slug(last)}@{domain}".replace("-", "")

    def ip(self) -> str:
        if self.rnd.random() < 0.1:
            return f"2001:db8:{self.rnd.randint(0, 0xFFFF):x}::{self.rnd.randint(1, 0xFFFF):x}"
        net = self.rnd.choice(("192.0.2", "198.51.100", "203.0.113"))
        return f"{net}.{self.rnd.randint(1, 254)}"

    def past(self, max_days: int, min_days: int = 0) -> datetime:
        seconds = self.rnd.randint(min_days * 86_400, max_days * 86_400)
        return (self.now - timedelta(seconds=seconds)).replace(microsecond=0)


def _insert(
    engine: Engine, table: Table, rows: list[dict[str, Any]] | Iterator[dict[str, Any]]
) -> int:
    n = 0
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in rows:
            batch.append(row)
            if len(batch) >= CHUNK:
                conn.execute(insert(table), batch)
                n += len(batch)
                batch = []
        if batch:
            conn.execute(insert(table), batch)
            n += len(batch)
    return n


def populate(
    engine: Engine, scale: int = 1, seed: int = 2026, now: datetime | None = None
) -> DemoPeople:
    """Create the demo schema in ``engine`` and fill it; returns the demo people.

    Scale 1 is about 25,000 rows; the row count grows linearly with ``scale``.
    """
    if scale < 1:
        raise ValueError("scale must be at least 1")
    now = (now or datetime.now()).replace(microsecond=0)
    g = _Gen(seed, now)
    fake, rnd = g.fake, g.rnd
    s.metadata.create_all(engine)

    # -- partners and their people -------------------------------------------------------------
    n_partners = 20 * scale
    partners: list[dict[str, Any]] = []
    domains: dict[int, str] = {}
    for pid in range(1, n_partners + 1):
        company = fake.company()
        domain = f"{_slug(company)[:30]}.example"
        domains[pid] = domain
        registered = g.past(3000, 400)
        ended = rnd.random() < 0.25 and pid > 3
        contract_end = (
            (registered + timedelta(days=rnd.randint(365, 2000))).date() if ended else None
        )
        if contract_end and contract_end > now.date():
            contract_end = None
        partners.append(
            {
                "id": pid,
                "company_name": company,
                "street": fake.street_address(),
                "postal_code": fake.postcode(),
                "city": fake.city(),
                "country": "DE",
                "region": fake.state(),
                "employee_count": rnd.randint(3, 500),
                "pc_count": rnd.randint(3, 800),
                "currency": "EUR",
                "inquiry_email": f"anfragen@{domain}",
                "mpn_id": str(rnd.randint(1_000_000, 9_999_999)) if rnd.random() < 0.6 else None,
                "vat_id": f"DE{rnd.randint(100_000_000, 999_999_999)}"
                if rnd.random() < 0.7
                else None,
                "website": f"https://www.{domain}" if rnd.random() < 0.8 else None,
                "billing_address": None,
                "registered_at": registered,
                "contract_end": contract_end,
            }
        )
    _insert(engine, s.partners, partners)

    def person(domain: str) -> tuple[str, str, str]:
        first, last = fake.first_name(), fake.last_name()
        return first, last, g.email(first, last, domain)

    # The dual-role person: contact of partner 1, contact of a customer of partner 2.
    dual_first, dual_last = "Sabine", "Wächter-Oltmanns"
    dual_email = "sabine.waechter@" + domains[1]
    contacts: list[dict[str, Any]] = []
    cid = 0
    for p in partners:
        for k in range(2):
            cid += 1
            first, last, email = person(domains[p["id"]])
            if p["id"] == 1 and k == 0:
                first, last, email = dual_first, dual_last, dual_email
            contacts.append(
                {
                    "id": cid,
                    "partner_id": p["id"],
                    "salutation": rnd.choice(("Frau", "Herr", None)),
                    "first_name": first,
                    "last_name": last,
                    "position": fake.job()[:100],
                    "department": rnd.choice(("Vertrieb", "Einkauf", "IT", "Geschäftsführung")),
                    "email": email,
                    "phone": g.phone(),
                    "created_at": p["registered_at"],
                }
            )
    _insert(engine, s.partner_contacts, contacts)

    accounts: list[dict[str, Any]] = []
    aid = 0
    for p in partners:
        for _ in range(3):
            aid += 1
            first, last, email = person(domains[p["id"]])
            created = p["registered_at"] + timedelta(days=rnd.randint(0, 300))
            accounts.append(
                {
                    "id": aid,
                    "partner_id": p["id"],
                    "first_name": first,
                    "last_name": last,
                    "email": email,
                    "phone": g.phone() if rnd.random() < 0.5 else None,
                    "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$"
                    + "".join(rnd.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=43)),
                    "created_at": min(created, now),
                    "last_login_at": g.past(60) if rnd.random() < 0.8 else None,
                }
            )
    # Fixed roles: employee of partner 2 (account 4), visitor (account 7), heavy user (account 8).
    employee, visitor, heavy = accounts[3], accounts[6], accounts[7]
    employee["email"] = employee["email"].replace("@", ".vertrieb@")
    _insert(engine, s.user_accounts, accounts)

    # -- reseller customers --------------------------------------------------------------------
    customers: list[dict[str, Any]] = []
    n_customers = 150 * scale
    customer_contact_email = ""
    for cust in range(1, n_customers + 1):
        pid = 2 if cust <= 6 else rnd.randint(1, n_partners)
        creator = employee["id"] if cust <= 5 else (pid - 1) * 3 + rnd.randint(1, 3)
        company = fake.company()
        domain = f"{_slug(company)[:30]}.example"
        first, last, email = person(domain)
        if cust == 2:
            first, last, email = dual_first, dual_last, dual_email
        if cust == 3:
            customer_contact_email = email
        created = max(
            partners[pid - 1]["registered_at"] + timedelta(days=rnd.randint(1, 400)),
            accounts[creator - 1]["created_at"],
        )
        customers.append(
            {
                "id": cust,
                "partner_id": pid,
                "customer_number": f"K-{1000 + cust}" if rnd.random() < 0.7 or cust <= 6 else None,
                "company_name": company,
                "street": fake.street_address(),
                "postal_code": fake.postcode(),
                "city": fake.city(),
                "country": "DE",
                "region": fake.state(),
                "address_extra": None,
                "markup_percent": Decimal(rnd.randint(0, 2500)) / 100,
                "credit_limit_eur": Decimal(rnd.randint(5, 500) * 1000),
                "contact_first_name": first,
                "contact_last_name": last,
                "contact_email": email,
                "contact_phone": g.phone(),
                "created_by": creator,
                "created_at": min(created, now),
            }
        )
    _insert(engine, s.customers, customers)
    cc = customers[2]

    mca: list[dict[str, Any]] = []
    for c in customers:
        if c["id"] % 5 == 0 or c["id"] == 3:
            mca.append(
                {
                    "customer_id": c["id"],
                    "first_name": c["contact_first_name"],
                    "last_name": c["contact_last_name"],
                    "position": fake.job()[:100],
                    "email": c["contact_email"],
                    "ip_address": g.ip(),
                    "accepted_at": min(c["created_at"] + timedelta(hours=rnd.randint(1, 72)), now),
                    "agreement_version": rnd.choice(("MCA-2019", "MCA-2022", "MCA-2024")),
                }
            )
    _insert(engine, s.mca_acceptances, mca)

    # -- web usage log -------------------------------------------------------------------------
    visitor_ip = "198.51.100.23"

    def log_rows() -> Iterator[dict[str, Any]]:
        n = 20_000 * scale
        for _ in range(n):
            account = rnd.randint(1, aid) if rnd.random() < 0.4 else None
            yield _log(g, g.past(240), g.ip(), account)
        for _ in range(40):
            yield _log(g, g.past(240), visitor_ip, visitor["id"])
        for _ in range(5):
            yield _log(g, g.past(30), visitor_ip, None)
        for _ in range(60):
            yield _log(g, g.past(240), g.ip(), employee["id"])
        for _ in range(3000 * scale):
            yield _log(g, g.past(240), g.ip(), heavy["id"])

    n_logs = _insert(engine, s.usage_log, log_rows())

    # -- contact requests, newsletter, invoices ------------------------------------------------
    requests = []
    for i in range(100 * scale):
        first, last = fake.first_name(), fake.last_name()
        email = g.email(first, last, rnd.choice(("mail.example", "post.example", "web.example")))
        if i == 0:
            first, last, email = dual_first, dual_last, dual_email
        received = g.past(700)
        requests.append(
            {
                "received_at": received,
                "name": f"{first} {last}",
                "email": email,
                "phone": g.phone() if rnd.random() < 0.4 else None,
                "company": fake.company() if rnd.random() < 0.6 else None,
                "topic": rnd.choice(TOPICS),
                "message": fake.paragraph(nb_sentences=3),
                "answered_at": received + timedelta(hours=rnd.randint(2, 96))
                if rnd.random() < 0.9
                else None,
            }
        )
    _insert(engine, s.contact_requests, requests)

    subs = []
    for i in range(200 * scale):
        first, last = fake.first_name(), fake.last_name()
        email = g.email(first, last, rnd.choice(("mail.example", "post.example", "web.example")))
        if i == 0:
            first, email = dual_first, dual_email
        consented = g.past(1500, 10)
        unsub = (
            consented + timedelta(days=rnd.randint(5, 900)) if rnd.random() < 0.3 and i else None
        )
        subs.append(
            {
                "email": email,
                "first_name": first,
                "topics": rnd.choice(("Microsoft 365", "Azure", "Microsoft 365,Azure", "Events")),
                "consented_at": consented,
                "consent_text_version": rnd.choice(("NL-2021", "NL-2023")),
                "unsubscribed_at": unsub if unsub and unsub < now else None,
            }
        )
    _insert(engine, s.newsletter_subscriptions, subs)

    invoices = []
    number = 0
    for p in partners:
        billing_first, billing_last, billing_email = person(domains[p["id"]])
        if p["id"] == 1:
            billing_first, billing_last, billing_email = dual_first, dual_last, dual_email
        years = range(max(p["registered_at"].year, now.year - 11), now.year + 1)
        for year in years:
            issued = date(year, rnd.randint(1, 12), rnd.randint(1, 28))
            if p["id"] == 1 and year == now.year - 1:
                issued = date(year, 3, 15)
            if issued > now.date():
                continue
            number += 1
            invoices.append(
                {
                    "partner_id": p["id"],
                    "invoice_number": f"RE-{year}-{number:06d}",
                    "issued_at": issued,
                    "amount_eur": Decimal(rnd.randint(10_000, 5_000_000)) / 100,
                    "billing_name": f"{billing_first} {billing_last}",
                    "billing_email": billing_email,
                    "billing_address": f"{p['street']}, {p['postal_code']} {p['city']}",
                }
            )
    _insert(engine, s.invoices, invoices)

    def demo_person(role: str, email: str, name: str, ip: str | None = None) -> DemoPerson:
        ids = [f"email={email}"] + ([f"ip={ip}"] if ip else [])
        return DemoPerson(role=role, email=email, name=name, identities=ids, ip=ip)

    return DemoPeople(
        dual_role=demo_person(
            "partner contact, customer contact, newsletter subscriber and billing contact",
            dual_email,
            f"{dual_first} {dual_last}",
        ),
        employee=demo_person(
            "partner employee who created customer records",
            employee["email"],
            f"{employee['first_name']} {employee['last_name']}",
        ),
        customer_contact=demo_person(
            "contact person of a customer the employee created",
            customer_contact_email,
            f"{cc['contact_first_name']} {cc['contact_last_name']}",
        ),
        visitor=DemoPerson(
            role="visitor whose web logs are linked to an account",
            email=visitor["email"],
            name=f"{visitor['first_name']} {visitor['last_name']}",
            identities=[f"email={visitor['email']}", f"ip={visitor_ip}"],
            ip=visitor_ip,
        ),
        heavy=demo_person(
            "account holder with thousands of log rows",
            heavy["email"],
            f"{heavy['first_name']} {heavy['last_name']}",
        ),
        nobody=DemoPerson(
            role="unknown person",
            email="niemand@nirgendwo.example",
            name="",
            identities=["email=niemand@nirgendwo.example"],
        ),
        row_counts={
            "partners": len(partners),
            "partner_contacts": len(contacts),
            "user_accounts": len(accounts),
            "customers": len(customers),
            "mca_acceptances": len(mca),
            "usage_log": n_logs,
            "contact_requests": len(requests),
            "newsletter_subscriptions": len(subs),
            "invoices": len(invoices),
        },
    )


def _log(g: _Gen, ts: datetime, ip: str, account: int | None) -> dict[str, Any]:
    rnd = g.rnd
    ok = rnd.random() < 0.95
    return {
        "ts": ts,
        "ip": ip,
        "user_agent": rnd.choice(USER_AGENTS),
        "referrer": rnd.choice((None, "https://www.comparex.de/", "https://www.bing.com/")),
        "file_name": rnd.choice(FILES),
        "bytes_sent": rnd.randint(300, 2_000_000) if ok else 0,
        "status": 200 if ok else 404,
        "user_account_id": account,
    }
