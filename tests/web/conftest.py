"""Fixtures of the portal and console tests: the seed system with a ledger, two staff members,
the app with a file outbox, and helpers that walk the pages as a browser would (forms with
their CSRF fields, cookies, redirects)."""

from __future__ import annotations

import email
import email.policy
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from _rights_seed import CLOCK, seed
from sqlalchemy import Engine

from dsr.catalog.model import Catalog
from dsr.crypto.keys import StaticKeys
from dsr.db import connect
from dsr.ledger.migrate import create_ledger
from dsr.toolkit import Toolkit

pytest.importorskip("starlette")

with warnings.catch_warnings():  # Starlette 1.x suggests httpx2, not yet on our registries
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from dsr.web import Limits, create_app  # noqa: E402
from dsr.web.mail import OutboxMailer  # noqa: E402

KEYS = StaticKeys(b"w" * 32)
PASSWORD = "correct-horse-battery-staple"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = connect(db_url)
    seed(e)
    create_ledger(e)
    yield e
    e.dispose()


@pytest.fixture
def tk(engine: Engine, catalog: Catalog, tmp_path: Path) -> Toolkit:
    toolkit = Toolkit(engine, catalog, KEYS, clock=CLOCK, storage=tmp_path / "exports")
    toolkit.ledger.add_user("sam", "support", PASSWORD)
    toolkit.ledger.add_user("anna", "dpo", PASSWORD)
    return toolkit


@dataclass
class Outbox:
    folder: Path

    def messages(self) -> list[EmailMessage]:
        files = sorted(self.folder.glob("*.eml")) if self.folder.exists() else []
        return [
            email.message_from_bytes(f.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for f in files
        ]

    def last(self) -> EmailMessage:
        found = self.messages()
        assert found, "no mail was sent"
        return found[-1]

    def text(self, message: EmailMessage | None = None) -> str:
        message = message or self.last()
        body = message.get_body(("plain",))
        assert body is not None, "the mail has no text"
        return str(body.get_content())

    def code(self) -> str:
        found = re.search(r"^\s+(\d{6})\s*$", self.text(), re.M)
        assert found, "no code in the last mail"
        return found.group(1)

    def link(self, kind: str) -> str:
        found = re.search(rf"https://privacy\.test(/{kind}/\S+)", self.text())
        assert found, f"no {kind} link in the last mail"
        return found.group(1)


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox")


@pytest.fixture
def app(tk: Toolkit, outbox: Outbox) -> object:
    return create_app(
        tk,
        OutboxMailer(outbox.folder, "privacy@comparex.test"),
        base_url="https://privacy.test",
        limits=Limits(submissions_per_hour=1000, codes_per_hour=1000),
    )


def client(app: object) -> TestClient:
    return TestClient(app, base_url="https://privacy.test")  # type: ignore[arg-type]


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF field"
    return found.group(1)


def submit(c: TestClient, type_: str, address: str, lang: str = "en", **fields: str) -> int:
    """Send the portal's request form; the request id from the verify step's redirect."""
    page = c.get(f"/?lang={lang}")
    r = c.post(
        "/request",
        data={"csrf": csrf_of(page.text), "type": type_, "email": address, **fields},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/verify", r.text[:500]
    return 0


def verify(c: TestClient, code: str) -> int:
    page = c.get("/verify")
    r = c.post("/verify", data={"csrf": csrf_of(page.text), "code": code})
    assert r.status_code == 200
    found = re.search(r"R-(\d+)", r.text)
    assert found, r.text[:800]
    return int(found.group(1))


def sign_in(app: object, name: str) -> tuple[TestClient, str]:
    """A staff member's browser, signed in, and the CSRF token of their session."""
    c = client(app)
    page = c.get("/console/login")
    r = c.post(
        "/console/login",
        data={"csrf": csrf_of(page.text), "name": name, "password": PASSWORD},
    )
    assert r.status_code == 200 and "Request register" in r.text, r.text[:500]
    return c, csrf_of(r.text)
