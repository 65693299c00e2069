"""The portal and console as people and staff meet them: forms, mails, downloads, approvals,
on SQLite, PostgreSQL and MariaDB, through the ASGI app (Starlette's test client)."""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from datetime import timedelta

import pytest
from _rights_seed import CARLA, CARLA_EMAIL, DUAL, DUAL_EMAIL, DUAL_LAST
from conftest import KEYS, Outbox, client, csrf_of, sign_in, submit, verify
from sqlalchemy import func, select, text

from dsr.clock import FixedClock
from dsr.ledger.tables import audit, requests, verifications
from dsr.toolkit import Toolkit


def _audit(tk: Toolkit) -> list[tuple[str, str]]:
    with tk.engine.connect() as conn:
        return [(r.action, r.actor) for r in conn.execute(select(audit).order_by(audit.c.seq))]


def test_a_person_gets_their_portable_data_once_after_support_prepares_and_a_dpo_approves(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "portability", DUAL_EMAIL.upper(), message="please send my data")
    code = outbox.code()
    assert DUAL_EMAIL.lower() in outbox.last()["To"].lower()
    request_id = verify(person, code)

    # the register: received today, verified by the code, the message sealed
    req = tk.ledger.request(request_id, with_identities=True)
    assert req.type == "portability" and req.received == tk.ledger.today()
    assert req.verified_by == "one-time code sent to the e-mail address" and req.verified_at
    with tk.engine.connect() as conn:
        sealed = conn.execute(select(requests.c.message_enc).where(requests.c.id == request_id))
        assert b"please send" not in sealed.scalar_one()
    status_link = outbox.link("status")

    support, support_csrf = sign_in(app, "sam")
    page = support.get(f"/console/requests/{request_id}")
    assert "please send my data" in page.text and "one-time code" in page.text
    r = support.post(
        f"/console/requests/{request_id}/prepare",
        data={"csrf": support_csrf, "kind": "package", "lang": "en"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = support.get(f"/console/requests/{request_id}")
    answer_id = int(
        re.findall(r"/console/answers/(\d+)/approve", page.text + _dpo_view(app, request_id))[0]
    )
    assert "Waiting for a DPO" in page.text
    mails_before = len(outbox.messages())
    r = support.post(f"/console/answers/{answer_id}/approve", data={"csrf": support_csrf})
    assert r.status_code == 403 and len(outbox.messages()) == mails_before  # support cannot

    dpo, dpo_csrf = sign_in(app, "anna")
    r = dpo.post(
        f"/console/answers/{answer_id}/approve",
        data={"csrf": dpo_csrf, "lang": "en"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    download_link = outbox.link("download")
    assert "works once" in outbox.text()

    page = person.get(download_link)
    assert page.status_code == 200 and "machine-readable" in page.text
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token is not None
    r = person.post("/download", data={"csrf": csrf_of(page.text), "token": token.group(1)})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert 'filename="data-package.zip"' in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as package:
        names = package.namelist()
        assert "manifest.json" in names
        blob = b"".join(package.read(n) for n in names)
    assert DUAL_EMAIL.encode() in blob  # the person's own data

    again = person.post("/download", data={"csrf": csrf_of(page.text), "token": token.group(1)})
    assert again.status_code == 410 and "already used" in again.text
    assert "Make a new request" in again.text
    assert person.get(download_link).status_code == 410

    # the status page, through the signed link: moved into a cookie, address without token
    r = person.get(status_link, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/status"
    status = person.get("/status")
    assert f"Your request DSR-{request_id}" in status.text and "Answer due by" in status.text

    trail = _audit(tk)
    assert ("request.answer_prepare", "support:sam") in trail
    assert ("request.answer_approve", "dpo:anna") in trail
    assert ("request.open", "portal") in trail and ("request.verify", "portal") in trail
    assert ("export.download", "portal") in trail
    assert tk.ledger.verify().ok


def _dpo_view(app: object, request_id: int) -> str:
    dpo, _ = sign_in(app, "anna")
    return dpo.get(f"/console/requests/{request_id}").text


def test_the_portal_answers_the_same_whether_or_not_it_holds_data_about_an_address(
    app: object, outbox: Outbox
) -> None:
    pages = []
    for address in (DUAL_EMAIL, "nobody-here@nowhere.example"):
        person = client(app)
        page = person.get("/?lang=en")
        r = person.post(
            "/request",
            data={"csrf": csrf_of(page.text), "type": "access", "email": address},
            follow_redirects=False,
        )
        assert (r.status_code, r.headers["location"]) == (303, "/verify")
        pages.append(re.sub(r'value="[^"]+"', "", person.get("/verify").text))
        mail = outbox.last()
        assert mail["To"].lower() == address.lower()
        pages.append(re.sub(r"\d{6}", "CODE", outbox.text(mail)))
    assert pages[0] == pages[2]  # the page after submitting
    assert pages[1] == pages[3]  # the code mail


def test_wrong_codes_lock_the_code_and_a_new_one_is_needed(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "access", CARLA_EMAIL)
    code = outbox.code()
    wrong = "000000" if code != "000000" else "111111"
    csrf = csrf_of(person.get("/verify").text)
    seen = []
    for _ in range(5):
        r = person.post("/verify", data={"csrf": csrf, "code": wrong})
        seen.append(re.findall(r'role="alert">([^<]+)', r.text)[0])
    assert seen[0] == "That code is not right. 4 attempts left."
    assert seen[3] == "That code is not right. 1 attempt left."
    assert "too many wrong attempts" in seen[4]
    r = person.post("/verify", data={"csrf": csrf, "code": code})  # the right one, too late
    assert "too many wrong attempts" in r.text and "R-" not in r.text
    assert ("request.verify_locked", _audit(tk)[-1][1]) in _audit(tk)

    r = person.post("/verify/new", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    request_id = verify(person, outbox.code())
    assert tk.ledger.request(request_id).verified_at is not None


def test_codes_to_one_address_are_limited_per_hour_whoever_asks(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    for _ in range(3):
        submit(client(app), "access", CARLA_EMAIL)
    page = client(app)
    form = page.get("/")
    r = page.post(
        "/request",
        data={"csrf": csrf_of(form.text), "type": "access", "email": CARLA_EMAIL.upper()},
    )
    assert r.status_code == 400 and "as many codes to this address" in r.text
    assert len(outbox.messages()) == 3
    with tk.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(requests)).scalar_one() == 3
        codes = conn.execute(select(verifications.c.code_mac)).scalars().all()
    assert all(len(c) == 64 for c in codes)  # keyed hashes, never the codes


def test_submissions_from_one_address_are_rate_limited(tk: Toolkit, outbox: Outbox) -> None:
    from dsr.web import Limits, create_app
    from dsr.web.mail import OutboxMailer

    app = create_app(
        tk,
        OutboxMailer(outbox.folder),
        base_url="https://privacy.test",
        limits=Limits(submissions_per_hour=2),
    )
    person = client(app)
    for n in range(2):
        submit(person, "access", f"p{n}@example.org")
    page = person.get("/")
    r = person.post(
        "/request", data={"csrf": csrf_of(page.text), "type": "access", "email": "p9@example.org"}
    )
    assert r.status_code == 429 and r.headers["retry-after"]


def test_forms_without_their_csrf_token_are_refused_and_change_nothing(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    person.get("/")
    r = person.post("/request", data={"type": "access", "email": DUAL_EMAIL})
    assert r.status_code == 403
    other = client(app)  # a token from another browser does not fit this one's cookie
    r = person.post(
        "/request",
        data={"csrf": csrf_of(other.get("/").text), "type": "access", "email": DUAL_EMAIL},
    )
    assert r.status_code == 403 and not outbox.messages()
    assert tk.ledger.requests() == []

    submit(person, "erasure", DUAL_EMAIL)
    request_id = verify(person, outbox.code())
    dpo, csrf = sign_in(app, "anna")
    for data in ({}, {"csrf": "x" * 43}, {"csrf": csrf_of(person.get("/").text)}):
        r = dpo.post(f"/console/requests/{request_id}/prepare", data={"kind": "erasure", **data})
        assert r.status_code == 403
    assert "request.answer_prepare" not in [a for a, _ in _audit(tk)]


def test_pages_carry_security_headers_and_cookies_their_flags(app: object) -> None:
    person = client(app)
    page = person.get("/")
    headers = page.headers
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert headers["strict-transport-security"].startswith("max-age=")
    assert "<script" not in page.text and "style=" not in page.text
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie

    staff = client(app)
    login = staff.get("/console/login")
    r = staff.post(
        "/console/login",
        data={
            "csrf": csrf_of(login.text),
            "name": "anna",
            "password": "correct-horse-battery-staple",
        },
        follow_redirects=False,
    )
    session = r.headers["set-cookie"]
    assert "dsr_session=" in session and "HttpOnly" in session and "Secure" in session
    assert "SameSite=strict" in session and "Path=/console" in session


def test_sign_in_issues_a_fresh_session_and_sign_out_ends_it(app: object, tk: Toolkit) -> None:
    staff = client(app)
    staff.cookies.set("dsr_session", "planted-by-an-attacker", path="/console")
    assert staff.get("/console", follow_redirects=False).status_code == 303  # not honoured
    login = staff.get("/console/login")
    r = staff.post(
        "/console/login",
        data={"csrf": csrf_of(login.text), "name": "anna", "password": "wrong password!"},
    )
    assert r.status_code == 401 and "Wrong name or password" in r.text
    c, csrf = sign_in(app, "anna")
    token = c.cookies.get("dsr_session")
    assert token and token != "planted-by-an-attacker"
    r = c.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    replay = client(app)
    replay.cookies.set("dsr_session", token, path="/console")
    assert replay.get("/console", follow_redirects=False).status_code == 303

    c, _ = sign_in(app, "sam")
    tk.ledger.disable_user("sam")  # disabling ends the session at once
    assert c.get("/console", follow_redirects=False).status_code == 303


def test_codes_tokens_and_addresses_never_reach_the_log(
    app: object, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    person = client(app)
    submit(person, "portability", DUAL_EMAIL)
    code = outbox.code()
    request_id = verify(person, code)
    status_link = outbox.link("status")
    person.get(status_link)
    support, support_csrf = sign_in(app, "sam")
    support.post(
        f"/console/requests/{request_id}/prepare", data={"csrf": support_csrf, "kind": "package"}
    )
    dpo, csrf = sign_in(app, "anna")
    page = dpo.get(f"/console/requests/{request_id}")
    answer = re.findall(r"/console/answers/(\d+)/approve", page.text)[0]
    dpo.post(f"/console/answers/{answer}/approve", data={"csrf": csrf})
    link = outbox.link("download")
    person.get(link)
    logged = "\n".join(
        f"{r.getMessage()} {json.dumps(getattr(r, 'fields', {}), default=str)}"
        for r in caplog.records
    )
    assert "GET /status/{token} 303" in logged and "GET /download/{token} 200" in logged
    tokens = [u.split("?")[0].split("/")[-1] for u in (status_link, link)]
    for secret in (code, *tokens, DUAL_EMAIL.lower()):
        assert secret not in logged.lower()


def test_an_erasure_runs_only_when_a_dpo_approves_and_the_person_is_told_what_was_kept(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "erasure", DUAL_EMAIL, lang="de")
    request_id = verify(person, outbox.code())
    support, csrf = sign_in(app, "sam")
    support.post(f"/console/requests/{request_id}/prepare", data={"csrf": csrf, "kind": "erasure"})
    page = support.get(f"/console/requests/{request_id}")
    assert "Waiting for a DPO" in page.text
    assert "kept: restricted" in page.text and "2032-12-31" in page.text  # the 2024 invoice
    assert tk.find(DUAL).row_count > 1  # nothing erased by preparing

    dpo, dpo_csrf = sign_in(app, "anna")
    page = dpo.get(f"/console/requests/{request_id}")
    answer = re.findall(r"/console/answers/(\d+)/approve", page.text)[0]
    assert "Approve and erase now" in page.text
    r = dpo.post(f"/console/answers/{answer}/approve", data={"csrf": dpo_csrf, "lang": "de"})
    assert r.status_code == 200 and "Approved." in r.text
    with tk.engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM customers WHERE contact_last_name = :n"), {"n": DUAL_LAST}
        ).scalar_one()
    assert left == 0
    mail = outbox.last()
    attachment = next(p for p in mail.iter_attachments())
    assert attachment.get_filename().startswith(f"completion-DSR-{request_id}")
    assert ("erase", "dpo:anna") in _audit(tk)
    req = tk.ledger.request(request_id)
    assert [e["action"] for e in req.outcome_log][-1] == "letter.completion"


def test_a_refusal_goes_out_with_its_letter_and_closes_the_request(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "portability", CARLA_EMAIL)
    request_id = verify(person, outbox.code())
    status_link = outbox.link("status")
    support, support_csrf = sign_in(app, "sam")
    r = support.post(
        f"/console/requests/{request_id}/prepare",
        data={"csrf": support_csrf, "kind": "package"},
    )
    assert r.status_code == 409 and "Art. 20(1)(a) not met" in r.text  # not portable
    r = support.post(
        f"/console/requests/{request_id}/refuse",
        data={"csrf": support_csrf, "ground": "portability_not_applicable"},
    )
    assert r.status_code == 403  # a refusal is the DPO's decision
    dpo, csrf = sign_in(app, "anna")
    r = dpo.post(
        f"/console/requests/{request_id}/refuse",
        data={"csrf": csrf, "ground": "portability_not_applicable", "lang": "en"},
    )
    assert r.status_code == 200 and "Refusal mailed." in r.text
    req = tk.ledger.request(request_id)
    assert req.status == "closed" and req.outcome == "refused"
    mail = outbox.last()
    assert mail["Subject"].startswith("Reply: why we cannot")
    attachment = next(p for p in mail.iter_attachments())
    document = attachment.get_payload(decode=True)
    assert document.startswith(b"%PDF") or b"Art. 20" in document
    person.get(status_link)
    status = person.get("/status")
    assert "answered" in status.text and "why we cannot" in status.text


def test_the_german_portal_speaks_german_from_form_to_mail(app: object, outbox: Outbox) -> None:
    person = client(app)
    page = person.get("/", headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in page.text and "Anfrage senden" in page.text
    submit(person, "access", CARLA_EMAIL, lang="de")
    assert outbox.last()["Subject"].startswith("Ihr Code")
    r = person.post(
        "/verify", data={"csrf": csrf_of(person.get("/verify").text), "code": outbox.code()}
    )
    assert "Ihre Anfrage hat die Nummer DSR-" in r.text
    assert "Guten Tag" in outbox.text() and "eingegangen" in outbox.text()
    fresh = client(app)  # the status link opens in German in any browser: it says so
    fresh.get(outbox.link("status"))
    status = fresh.get("/status")
    assert '<html lang="de">' in status.text and "Antwort fällig bis" in status.text


def test_a_status_link_altered_or_expired_explains_itself(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "access", CARLA_EMAIL)
    verify(person, outbox.code())
    link = outbox.link("status")
    token = link.split("?")[0]
    person.get(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    r = person.get("/status")
    assert r.status_code == 400 and "altered or expired" in r.text
    tk.clock = FixedClock(tk.clock.now() + timedelta(days=91))
    person.get(link)
    assert person.get("/status").status_code == 400


def test_identities_are_matched_only_once_verified(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "access", "not-on-file@example.org", id_customer_number="K-1002")
    request_id = verify(person, outbox.code())
    dpo, csrf = sign_in(app, "anna")
    page = dpo.get(f"/console/requests/{request_id}?preview=1")
    assert "customer_number=K-1002" in page.text and "not verified" in page.text
    assert "Nothing found for the verified identities" in page.text
    r = dpo.post(
        f"/console/requests/{request_id}/verify-identity",
        data={"csrf": csrf, "identity": "customer_number=K-1002", "method": "invoice copy checked"},
    )
    assert r.status_code == 200
    page = dpo.get(f"/console/requests/{request_id}?preview=1")
    assert "invoice copy checked" in page.text and "by dpo:anna" in page.text
    assert "<td>customers</td><td>1</td>" in page.text


def test_a_verification_days_later_shows_the_adjusted_date_beside_the_statutory_one(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "access", CARLA_EMAIL)
    statutory = tk.ledger.requests()[0].due
    tk.clock = FixedClock(tk.clock.now() + timedelta(days=3))
    person.post("/verify/new", data={"csrf": csrf_of(person.get("/verify").text)})
    request_id = verify(person, outbox.code())
    person.get(outbox.link("status"))
    status = person.get("/status")
    assert tk.ledger.request(request_id).due == statutory  # never silently moved
    assert "confirmed 3 days after we received" in status.text


def test_the_register_shows_urgency_and_the_on_time_rate(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    today = tk.ledger.today()
    late = tk.ledger.open_request(
        type="access", identities=CARLA, received=today - timedelta(days=40)
    )
    tk.ledger.open_request(type="erasure", identities=DUAL, received=today - timedelta(days=25))
    done = tk.ledger.open_request(
        type="access", identities=DUAL, received=today - timedelta(days=5)
    )
    tk.ledger.close(done.id, "done")
    dpo, _ = sign_in(app, "anna")
    page = dpo.get("/console")
    tiles = re.findall(r'<span class="n">([^<]+)</span> ([^<(]+)', page.text)
    assert ("1", "overdue") in [(n, w.strip()) for n, w in tiles]
    assert ("1", "due within 7 days") in [(n, w.strip()) for n, w in tiles]
    assert "100 %" in page.text and "(1 of 1)" in page.text and "intact" in page.text
    overdue = dpo.get("/console?view=overdue")
    assert f"R-{late.id}" in overdue.text and f"R-{done.id}<" not in overdue.text


def test_health_reports_the_ledger(app: object, tk: Toolkit) -> None:
    r = client(app).get("/healthz")
    assert r.status_code == 200 and r.json() == {"ok": True, "ledger": "current"}


def test_staff_accounts_from_the_command_line(
    tk: Toolkit,
    db_url: str,
    tmp_path: object,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dsr.cli import main

    monkeypatch.setenv("DSR_SECRET", KEYS.secret().hex())
    monkeypatch.setenv("DSR_NEW_PASSWORD", "short")
    code = main(["--database-url", db_url, "user", "add", "lena", "--role", "dpo"])
    assert code == 1 and "at least 12 characters" in capsys.readouterr().err
    monkeypatch.setenv("DSR_NEW_PASSWORD", "a-long-enough-password")
    assert main(["--database-url", db_url, "user", "add", "lena", "--role", "dpo"]) == 0
    assert main(["--database-url", db_url, "user", "add", "lena", "--role", "dpo"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["--database-url", db_url, "user", "disable", "lena"]) == 0
    capsys.readouterr()
    assert main(["--database-url", db_url, "user", "list", "--json"]) == 0
    users = {u["name"]: u for u in json.loads(capsys.readouterr().out)["users"]}
    assert users["lena"]["disabled"] and users["anna"]["role"] == "dpo"
    assert "password" not in json.dumps(users)
    assert ("staff.add", users and _audit(tk)[-3][1]) in _audit(tk)


def test_the_code_is_checked_with_its_keyed_hash(tk: Toolkit) -> None:
    from dsr import portal

    submission = portal.submit(tk, type="access", email=CARLA_EMAIL)
    with tk.engine.connect() as conn:
        stored = conn.execute(select(verifications.c.code_mac)).scalar_one()
    assert submission.code not in stored
    assert not portal.verify(tk, submission.challenge, "12345").ok
    assert portal.verify(tk, submission.challenge, submission.code).ok
    assert portal.verify(tk, "f" * 32, submission.code).outcome == "unknown"
    assert KEYS  # the test's toolkit secret signs everything above


def test_an_access_request_is_answered_with_the_report_as_a_single_use_download(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "access", CARLA_EMAIL)
    request_id = verify(person, outbox.code())
    support, support_csrf = sign_in(app, "sam")
    r = support.post(
        f"/console/requests/{request_id}/prepare",
        data={"csrf": support_csrf, "kind": "report", "lang": "en"},
    )
    assert r.status_code == 200 and "Report prepared" in r.text
    dpo, csrf = sign_in(app, "anna")
    answer = re.findall(r"/console/answers/(\d+)/approve", dpo.get(r.url).text)[0]
    r = dpo.post(f"/console/answers/{answer}/approve", data={"csrf": csrf})
    assert r.status_code == 200 and "Approved." in r.text
    page = person.get(outbox.link("download"))
    assert "Your access report" in page.text
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token is not None
    r = person.post("/download", data={"csrf": csrf_of(page.text), "token": token.group(1)})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert 'filename="access-report.pdf"' in r.headers["content-disposition"]
    assert ("access", "support:sam") in _audit(tk)
