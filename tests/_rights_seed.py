"""A small seed-system database for the rights tests (rectify, erase, restrict).

Names are unusual on purpose, so a byte scan for them cannot hit anybody else's row.

- ``DUAL``: contact of partner 1, contact of customer 1 (of partner 2), newsletter subscriber,
  sender of a contact request, billing contact on two invoices of partner 1: one of 2024
  (within the 8-year statutory retention until 2032-12-31) and one of 2015 (expired).
- ``EMPLOYEE``: account 1 of partner 2, created customers 1 and 2, three usage-log rows.
- ``CARLA``: contact of customer 2, accepted the Microsoft Cloud Agreement in 2025 (kept as
  evidence for six years).
- ``VISITOR``: account 3 of partner 1 that no customer references, usage-log rows linked to
  it and two rows from the same IP without an account.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, select

from dsr.clock import FixedClock
from dsr.demo import schema as s

NOW = datetime(2026, 11, 25, 10, 0)
CLOCK = FixedClock(NOW.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(timezone.utc))

DUAL_EMAIL = "Dora.Quendelbrueck@partner-a.example"
DUAL_LAST = "Quendelbrueckmann"
EMPLOYEE_EMAIL = "emil.zaunkoenig@partner-b.example"
EMPLOYEE_LAST = "Zaunkoenigsberger"
CARLA_EMAIL = "carla.kundenmeier@kunde-zwei.example"
CARLA_LAST = "Kundenmeierhof"
VISITOR_EMAIL = "Viktor.Wurzelsepp@partner-a.example"
VISITOR_LAST = "Wurzelseppel"
VISITOR_IP = "198.51.100.23"

DUAL = [f"email={DUAL_EMAIL}"]
EMPLOYEE = [f"email={EMPLOYEE_EMAIL}"]
CARLA = [f"email={CARLA_EMAIL}"]
VISITOR = [f"email={VISITOR_EMAIL}", f"ip={VISITOR_IP}"]


def _partner(pid: int) -> dict[str, Any]:
    return {
        "id": pid,
        "company_name": f"Partner {pid} GmbH",
        "street": "Weg 1",
        "postal_code": "04109",
        "city": "Leipzig",
        "country": "DE",
        "region": "SN",
        "employee_count": 5,
        "pc_count": 5,
        "currency": "EUR",
        "inquiry_email": f"info@partner-{pid}.example",
        "registered_at": datetime(2014, 1, 1),
    }


def _account(aid: int, pid: int, first: str, last: str, email: str) -> dict[str, Any]:
    return {
        "id": aid,
        "partner_id": pid,
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": "+4934100000" + str(aid),
        "password_hash": "$argon2id$secret" + str(aid),
        "created_at": datetime(2020, 1, 1),
        "last_login_at": datetime(2026, 11, 1),
    }


def _customer(cid: int, first: str, last: str, email: str, creator: int) -> dict[str, Any]:
    return {
        "id": cid,
        "partner_id": 2,
        "customer_number": f"K-{1000 + cid}",
        "company_name": f"Kunde {cid} AG",
        "street": "Markt 2",
        "postal_code": "04109",
        "city": "Leipzig",
        "country": "DE",
        "region": "SN",
        "markup_percent": Decimal("5.00"),
        "credit_limit_eur": Decimal("10000.00"),
        "contact_first_name": first,
        "contact_last_name": last,
        "contact_email": email,
        "contact_phone": f"+4934155500{cid}",
        "created_by": creator,
        "created_at": datetime(2024, 2, 1),
    }


def _log(lid: int, ip: str, account: int | None) -> dict[str, Any]:
    return {
        "id": lid,
        "ts": datetime(2026, 11, 20, 12, lid),
        "ip": ip,
        "user_agent": "Mozilla/5.0",
        "referrer": None,
        "file_name": "/dashboard",
        "bytes_sent": 1000,
        "status": 200,
        "user_account_id": account,
    }


def _invoice(iid: int, pid: int, issued: date, name: str, email: str) -> dict[str, Any]:
    return {
        "id": iid,
        "partner_id": pid,
        "invoice_number": f"RE-{issued.year}-{iid:04d}",
        "issued_at": issued,
        "amount_eur": Decimal("99.00"),
        "billing_name": name,
        "billing_email": email,
        "billing_address": "Weg 1, 04109 Leipzig",
    }


def seed(engine: Engine) -> None:
    """Create the demo schema and fill it with the people above and a few bystanders."""
    s.metadata.create_all(engine)
    with engine.begin() as c:
        c.execute(insert(s.partners), [_partner(1), _partner(2)])
        c.execute(
            insert(s.partner_contacts),
            [
                {
                    "id": 1,
                    "partner_id": 1,
                    "salutation": "Frau",
                    "first_name": "Dora",
                    "last_name": DUAL_LAST,
                    "position": "Einkauf",
                    "department": "Einkauf",
                    "email": DUAL_EMAIL,
                    "phone": "+49341111111",
                    "created_at": datetime(2014, 1, 1),
                },
                {
                    "id": 2,
                    "partner_id": 2,
                    "salutation": "Herr",
                    "first_name": "Otto",
                    "last_name": "Normalverbraucher",
                    "position": "IT",
                    "department": "IT",
                    "email": "otto@partner-b.example",
                    "phone": "+49341222222",
                    "created_at": datetime(2014, 1, 1),
                },
            ],
        )
        c.execute(
            insert(s.user_accounts),
            [
                _account(1, 2, "Emil", EMPLOYEE_LAST, EMPLOYEE_EMAIL),
                _account(2, 2, "Anna", "Andersweit", "anna.andersweit@partner-b.example"),
                _account(3, 1, "Viktor", VISITOR_LAST, VISITOR_EMAIL),
            ],
        )
        c.execute(
            insert(s.customers),
            [
                _customer(1, "Dora", DUAL_LAST, DUAL_EMAIL, 1),
                _customer(2, "Carla", CARLA_LAST, CARLA_EMAIL, 1),
                _customer(3, "Xaver", "Fremdling", "xaver@kunde-drei.example", 2),
            ],
        )
        c.execute(
            insert(s.mca_acceptances),
            [
                {
                    "id": 1,
                    "customer_id": 2,
                    "first_name": "Carla",
                    "last_name": CARLA_LAST,
                    "position": "Geschäftsführerin",
                    "email": CARLA_EMAIL,
                    "ip_address": "203.0.113.7",
                    "accepted_at": datetime(2025, 5, 1, 9, 30),
                    "agreement_version": "MCA-2024",
                },
                {
                    "id": 2,
                    "customer_id": 3,
                    "first_name": "Xaver",
                    "last_name": "Fremdling",
                    "position": "CEO",
                    "email": "xaver@kunde-drei.example",
                    "ip_address": "203.0.113.8",
                    "accepted_at": datetime(2015, 1, 1, 9, 30),
                    "agreement_version": "MCA-2015",
                },
            ],
        )
        c.execute(
            insert(s.usage_log),
            [
                _log(1, "192.0.2.1", 1),
                _log(2, "192.0.2.1", 1),
                _log(3, "192.0.2.2", 1),
                _log(4, VISITOR_IP, 3),
                _log(5, VISITOR_IP, 3),
                _log(6, VISITOR_IP, None),
                _log(7, VISITOR_IP, None),
                _log(8, "192.0.2.9", 2),
                _log(9, "192.0.2.10", None),
            ],
        )
        c.execute(
            insert(s.contact_requests),
            [
                {
                    "id": 1,
                    "received_at": datetime(2026, 10, 1),
                    "name": f"Dora {DUAL_LAST}",
                    "email": DUAL_EMAIL,
                    "phone": None,
                    "company": None,
                    "topic": "Support",
                    "message": "Bitte rufen Sie mich an.",
                    "answered_at": None,
                },
                {
                    "id": 2,
                    "received_at": datetime(2026, 10, 2),
                    "name": "Ilse Irgendwer",
                    "email": "ilse@mail.example",
                    "phone": None,
                    "company": None,
                    "topic": "Support",
                    "message": "Frage.",
                    "answered_at": None,
                },
            ],
        )
        c.execute(
            insert(s.newsletter_subscriptions),
            [
                {
                    "id": 1,
                    "email": DUAL_EMAIL,
                    "first_name": "Dora",
                    "topics": "Azure",
                    "consented_at": datetime(2023, 1, 1),
                    "consent_text_version": "NL-2023",
                    "unsubscribed_at": None,
                },
                {
                    "id": 2,
                    "email": "ilse@mail.example",
                    "first_name": "Ilse",
                    "topics": "Azure",
                    "consented_at": datetime(2023, 1, 1),
                    "consent_text_version": "NL-2023",
                    "unsubscribed_at": None,
                },
            ],
        )
        c.execute(
            insert(s.invoices),
            [
                _invoice(1, 1, date(2024, 3, 15), f"Dora {DUAL_LAST}", DUAL_EMAIL),
                _invoice(2, 1, date(2015, 6, 1), f"Dora {DUAL_LAST}", DUAL_EMAIL),
                _invoice(3, 2, date(2025, 1, 10), "Bert Buchhalter", "bert@partner-b.example"),
            ],
        )


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every demo table, ordered by key: for before/after comparisons."""
    with engine.connect() as c:
        return {
            t.name: [tuple(r) for r in c.execute(select(t).order_by(*t.primary_key.columns))]
            for t in s.metadata.sorted_tables
        }
