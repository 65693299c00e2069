"""The portal and console in a real browser: Debian's Chromium driven by Playwright, against
``dsr serve``'s app under uvicorn on loopback, with mail through a real SMTP server (aiosmtpd)
started by the test. On each engine.

Without Chromium (``apt install chromium``) or Playwright the test is skipped with the reason;
``DSR_REQUIRE_BROWSER=1`` (CI sets it) makes that a failure. ``DSR_SCREENSHOT_DIR`` keeps
the screenshots of every page the journey passes (else they go to the test's temp dir).
"""

from __future__ import annotations

import email
import email.policy
import io
import os
import re
import shutil
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from _rights_seed import CARLA_EMAIL, DUAL_EMAIL, DUAL_LAST
from conftest import PASSWORD
from sqlalchemy import text

from dsr.config import MailSettings
from dsr.toolkit import Toolkit

CHROMIUM = os.environ.get("DSR_CHROMIUM", "/usr/bin/chromium")
REQUIRE = os.environ.get("DSR_REQUIRE_BROWSER") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason} (DSR_REQUIRE_BROWSER=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """What the SMTP server received, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted"

    def wait(self, count: int, timeout: float = 10) -> EmailMessage:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if len(self.messages) >= count:
                    return self.messages[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"mail {count} did not arrive")

    def text(self, message: EmailMessage) -> str:
        body = message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())


@pytest.fixture
def served(tk: Toolkit) -> Iterator[tuple[str, Inbox]]:
    """The app under uvicorn on a free port, mailing through a local SMTP server."""
    try:
        import uvicorn
        from aiosmtpd.controller import Controller
    except ImportError as exc:
        _unavailable(f"uvicorn or aiosmtpd missing: {exc}")
    from dsr.web import Limits, create_app
    from dsr.web.mail import SmtpMailer

    inbox = Inbox()
    smtp_port = _free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    settings = MailSettings(
        host="127.0.0.1", port=smtp_port, starttls=False, sender="privacy@comparex.test"
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(tk, SmtpMailer(settings), base_url=base, limits=Limits(1000, 1000))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield base, inbox
    finally:
        server.should_exit = True
        thread.join(10)
        smtp.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        _unavailable(f"no Chromium at {CHROMIUM} (apt install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def shots(tmp_path: Path, backend: str) -> Path:
    folder = Path(os.environ.get("DSR_SCREENSHOT_DIR") or tmp_path / "shots") / backend
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sign_in(browser: Any, base: str, name: str) -> Any:
    page = browser.new_page()
    page.goto(f"{base}/console/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Request register")
    return page


def _code(inbox: Inbox, n: int) -> str:
    found = re.search(r"^\s+(\d{6})\s*$", inbox.text(inbox.wait(n)), re.M)
    assert found
    return found.group(1)


def _link(inbox: Inbox, n: int, base: str, kind: str) -> str:
    found = re.search(rf"({re.escape(base)}/{kind}/\S+)", inbox.text(inbox.wait(n)))
    assert found, inbox.text(inbox.wait(n))
    return found.group(1)


def test_a_portability_request_from_submission_to_a_single_download_in_chromium(
    served: tuple[str, Inbox], browser: Any, shots: Path, tk: Toolkit
) -> None:
    base, inbox = served
    person = browser.new_page()
    person.goto(f"{base}/?lang=en")
    person.screenshot(path=str(shots / "01-portal-home.png"), full_page=True)
    person.check("input[value=portability]")
    person.fill("#email", DUAL_EMAIL)
    person.fill("#message", "Please send me my newsletter data.")
    person.click("button[type=submit]")
    person.wait_for_selector("#code")
    assert "/verify" in person.url and "code" not in person.url.split("/verify")[1]
    person.screenshot(path=str(shots / "02-portal-code.png"), full_page=True)
    person.fill("#code", _code(inbox, 1))
    person.click("button[type=submit]")
    person.wait_for_selector("text=your request is registered")
    person.screenshot(path=str(shots / "03-portal-verified.png"), full_page=True)
    request_id = int(re.search(r"R-(\d+)", person.content()).group(1))  # type: ignore[union-attr]
    status_link = _link(inbox, 2, base, "status")

    support = _sign_in(browser, base, "sam")
    support.screenshot(path=str(shots / "04-console-register.png"), full_page=True)
    support.click(f"a[href='/console/requests/{request_id}']")
    support.click("text=Preview what access finds")
    support.wait_for_selector("table.compact")
    support.select_option("#kind", "package")
    support.click("form[action$='/prepare'] button")
    support.wait_for_selector("text=Waiting for a DPO")
    support.screenshot(path=str(shots / "05-console-prepared.png"), full_page=True)
    assert support.locator("text=Approve and send the link").count() == 0

    dpo = _sign_in(browser, base, "anna")
    dpo.goto(f"{base}/console/requests/{request_id}")
    dpo.click("text=Approve and send the link")
    dpo.wait_for_selector("text=Approved.")
    dpo.screenshot(path=str(shots / "06-console-approved.png"), full_page=True)

    download_link = _link(inbox, 3, base, "download")
    person.goto(download_link)
    person.screenshot(path=str(shots / "07-portal-download.png"), full_page=True)
    with person.expect_download() as info:
        person.click("button[type=submit]")
    saved = info.value.path()
    assert info.value.suggested_filename == "data-package.zip"
    with zipfile.ZipFile(io.BytesIO(Path(saved).read_bytes())) as package:
        assert "manifest.json" in package.namelist()
    person.goto(download_link)
    assert person.locator("text=already used").count() == 1
    person.screenshot(path=str(shots / "08-portal-link-used.png"), full_page=True)

    person.goto(status_link)
    assert person.url == f"{base}/status"  # the token left the address bar at once
    person.wait_for_selector(f"text=Your request DSR-{request_id}")
    person.screenshot(path=str(shots / "09-portal-status.png"), full_page=True)

    phone = browser.new_page(viewport={"width": 375, "height": 740})
    phone.goto(f"{base}/?lang=de")
    phone.screenshot(path=str(shots / "10-portal-phone-de.png"), full_page=True)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375  # nothing runs off a phone's screen


def test_an_erasure_from_the_german_portal_approved_in_the_console_and_a_refusal(
    served: tuple[str, Inbox], browser: Any, shots: Path, tk: Toolkit
) -> None:
    base, inbox = served
    person = browser.new_page(locale="de-DE", extra_http_headers={"accept-language": "de"})
    person.goto(f"{base}/")
    assert person.locator("text=Anfrage senden").count() == 1
    person.check("input[value=erasure]")
    person.fill("#email", DUAL_EMAIL)
    person.click("button[type=submit]")
    person.fill("#code", _code(inbox, 1))
    person.click("button[type=submit]")
    person.wait_for_selector("text=Ihre Anfrage ist erfasst")
    person.screenshot(path=str(shots / "11-portal-de-verified.png"), full_page=True)
    erasure_id = int(re.search(r"R-(\d+)", person.content()).group(1))  # type: ignore[union-attr]

    support = _sign_in(browser, base, "sam")
    support.goto(f"{base}/console/requests/{erasure_id}")
    support.select_option("#kind", "erasure")
    support.click("form[action$='/prepare'] button")
    support.wait_for_selector("text=Waiting for a DPO")
    dpo = _sign_in(browser, base, "anna")
    dpo.goto(f"{base}/console/requests/{erasure_id}")
    dpo.wait_for_selector("text=Approve and erase now")
    dpo.screenshot(path=str(shots / "12-console-erasure-plan.png"), full_page=True)
    dpo.select_option("select[name=lang] >> nth=0", "de")
    dpo.click("text=Approve and erase now")
    dpo.wait_for_selector("text=Approved.")
    with tk.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM customers WHERE contact_last_name = :n"),
                {"n": DUAL_LAST},
            ).scalar_one()
            == 0
        )
    completion = inbox.wait(3)
    assert any(p.get_filename().startswith("completion-") for p in completion.iter_attachments())

    other = browser.new_page()
    other.goto(f"{base}/?lang=en")
    other.check("input[value=portability]")
    other.fill("#email", CARLA_EMAIL)
    other.click("button[type=submit]")
    other.fill("#code", _code(inbox, 4))
    other.click("button[type=submit]")
    refused_id = int(re.search(r"R-(\d+)", other.content()).group(1))  # type: ignore[union-attr]
    dpo.goto(f"{base}/console/requests/{refused_id}")
    dpo.check("input[value=portability_not_applicable]")
    dpo.fill("#reason-r", "Your contact data is processed on the basis of legitimate interests.")
    dpo.click("text=Refuse and mail the notice")
    dpo.wait_for_selector("text=Refusal mailed.")
    dpo.screenshot(path=str(shots / "13-console-refused.png"), full_page=True)
    letter = inbox.wait(6)
    assert "why we cannot" in letter["Subject"]
    other.goto(_link(inbox, 6, base, "status"))
    other.wait_for_selector("text=answered")
    other.screenshot(path=str(shots / "14-portal-status-refused.png"), full_page=True)
    assert tk.ledger.request(refused_id).outcome == "refused"
