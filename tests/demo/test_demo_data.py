"""The demo data is deterministic and holds the people the demo and the docs promise."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from dsr.catalog.loader import load_catalog
from dsr.db import connect
from dsr.demo import schema as s
from dsr.demo.data import populate
from dsr.subject.graph import SubjectGraph

NOW = datetime(2026, 11, 25, 9, 0)


def test_demo_people_appear_in_their_roles(db_url: str) -> None:
    engine = connect(db_url)
    people = populate(engine, scale=1, now=NOW)
    graph = SubjectGraph(load_catalog(), engine)
    with engine.connect() as conn:
        found = {
            p.role: {t.table.name: set(t.parties) for t in graph.resolve(conn, p.identities).tables}
            for p in people.all()
        }
        assert (
            conn.execute(select(func.count()).select_from(s.usage_log)).scalar_one()
            == (people.row_counts["usage_log"])
        )
    dual = found[people.dual_role.role]
    assert dual["partner_contacts"] == {"contact"}
    assert dual["customers"] == {"contact"}
    assert {"newsletter_subscriptions", "invoices", "contact_requests"} <= set(dual)
    employee = found[people.employee.role]
    assert employee["customers"] == {"creator"} and "usage_log" in employee
    contact = found[people.customer_contact.role]
    assert contact["customers"] == {"contact"} and "mca_acceptances" in contact
    assert found[people.visitor.role]["usage_log"] == {"account_holder", "visitor"}
    assert found[people.nobody.role] == {}
    engine.dispose()


def test_same_seed_same_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    dumps = []
    for name in ("a", "b"):
        engine = connect(f"sqlite:///{tmp_path}/{name}.db")
        people = populate(engine, scale=1, now=NOW)
        with engine.connect() as conn:
            rows = conn.execute(select(s.customers).order_by(s.customers.c.id)).all()
        dumps.append((people.dual_role.email, people.employee.email, [tuple(r) for r in rows]))
        engine.dispose()
    assert dumps[0] == dumps[1]
