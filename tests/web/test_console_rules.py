"""What the console refuses, and what a failing mail server leaves behind: four eyes, closing
with the answer on record, answers that follow the verified identities, closed requests, the
sign-in limit, a replayed code, unverified requests expiring. On SQLite, PostgreSQL and
MariaDB, through the ASGI app."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from _rights_seed import CARLA_EMAIL, DUAL_EMAIL
from conftest import PASSWORD, Outbox, client, csrf_of, sign_in, submit, verify
from sqlalchemy import func, select, text

from dsr import portal
from dsr.errors import MailError
from dsr.ledger.tables import answers, audit, verifications
from dsr.toolkit import Toolkit
from dsr.web import Limits, create_app
from dsr.web.mail import Mail, OutboxMailer


def _actions(tk: Toolkit) -> list[str]:
    with tk.engine.connect() as conn:
        return [r.action for r in conn.execute(select(audit.c.action).order_by(audit.c.seq))]


def _answer_ids(html: str) -> list[str]:
    return re.findall(r"/console/answers/(\d+)/approve", html)


def _prepare(app: object, request_id: int, kind: str) -> str:
    """Support prepares an answer; its id as the DPO's page offers it for approval."""
    support, csrf = sign_in(app, "sam")
    r = support.post(f"/console/requests/{request_id}/prepare", data={"csrf": csrf, "kind": kind})
    assert r.status_code == 200, r.text[:400]
    return _dpo_answer(app, request_id)  # support's page offers no approval


def _dpo_answer(app: object, request_id: int) -> str:
    dpo, _ = sign_in(app, "anna")
    return _answer_ids(dpo.get(f"/console/requests/{request_id}").text)[-1]


def _request_form(person: object, type_: str, address: str) -> object:
    """The portal's request form sent as it is, the page it ends on (redirects followed)."""
    page = person.get("/?lang=en")  # type: ignore[attr-defined]
    return person.post(  # type: ignore[attr-defined]
        "/request", data={"csrf": csrf_of(page.text), "type": type_, "email": address}
    )


def _answer_state(tk: Toolkit, answer_id: str) -> str:
    with tk.engine.connect() as conn:
        row = conn.execute(select(answers).where(answers.c.id == int(answer_id))).one()
    if row.withdrawn_at is not None:
        return "withdrawn"
    return "approved" if row.approved_at is not None else "prepared"


def test_closing_is_the_dpos_and_completed_needs_the_answer_on_record(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "portability", DUAL_EMAIL)
    request_id = verify(person, outbox.code())
    support, support_csrf = sign_in(app, "sam")
    r = support.post(
        f"/console/requests/{request_id}/close",
        data={"csrf": support_csrf, "outcome": "completed"},
    )
    assert r.status_code == 403
    dpo, csrf = sign_in(app, "anna")
    for outcome, said in (("Refused.", "close as one of"), ("completed", "nothing on record")):
        r = dpo.post(
            f"/console/requests/{request_id}/close", data={"csrf": csrf, "outcome": outcome}
        )
        assert r.status_code == 409 and said in r.text
    assert tk.ledger.request(request_id).status != "closed"

    answer = _prepare(app, request_id, "package")
    dpo.post(f"/console/answers/{answer}/approve", data={"csrf": csrf})
    r = dpo.post(
        f"/console/requests/{request_id}/close", data={"csrf": csrf, "outcome": "completed"}
    )
    assert r.status_code == 200 and "Request closed." in r.text
    req = tk.ledger.request(request_id)
    assert req.status == "closed" and req.outcome == "completed"


def test_a_dpo_cannot_approve_an_answer_they_prepared_themselves(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "portability", DUAL_EMAIL)
    request_id = verify(person, outbox.code())
    mails = len(outbox.messages())
    dpo, csrf = sign_in(app, "anna")
    r = dpo.post(f"/console/requests/{request_id}/prepare", data={"csrf": csrf, "kind": "package"})
    answer = _answer_ids(r.text)[0]
    r = dpo.post(f"/console/answers/{answer}/approve", data={"csrf": csrf})
    assert r.status_code == 409 and "four eyes" in r.text
    assert _answer_state(tk, answer) == "prepared" and len(outbox.messages()) == mails
    with pytest.raises(Exception, match="four eyes"), tk.acting_as("dpo:anna"):
        portal.approve(tk, int(answer))


def test_an_answer_prepared_on_fewer_identities_is_withdrawn_and_never_runs(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "erasure", "not-on-file@example.org", id_customer_number="K-1002")
    request_id = verify(person, outbox.code())
    stale = _prepare(app, request_id, "erasure")  # on the address alone: finds nothing
    support, csrf = sign_in(app, "sam")
    r = support.post(
        f"/console/requests/{request_id}/verify-identity",
        data={"csrf": csrf, "identity": "customer_number=K-1002", "method": "invoice checked"},
    )
    assert r.status_code == 200
    assert _answer_state(tk, stale) == "withdrawn"
    dpo, dpo_csrf = sign_in(app, "anna")
    r = dpo.post(f"/console/answers/{stale}/approve", data={"csrf": dpo_csrf})
    assert r.status_code == 409 and "withdrawn" in r.text
    with tk.engine.connect() as conn:
        kept = conn.execute(
            text("SELECT count(*) FROM customers WHERE customer_number = 'K-1002'")
        ).scalar_one()
    assert kept == 1
    assert "request.answer_withdraw" in _actions(tk)

    fresh = _prepare(app, request_id, "erasure")
    page = dpo.get(f"/console/requests/{request_id}").text
    assert "<td>customers</td><td>1</td>" in page  # the plan now covers the customer row
    r = dpo.post(f"/console/answers/{fresh}/approve", data={"csrf": dpo_csrf})
    assert r.status_code == 200 and "Approved." in r.text


def test_an_answer_must_fit_the_request_and_a_closed_request_takes_nothing_more(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "access", CARLA_EMAIL, id_customer_number="K-1002")
    request_id = verify(person, outbox.code())
    support, csrf = sign_in(app, "sam")
    r = support.post(
        f"/console/requests/{request_id}/prepare", data={"csrf": csrf, "kind": "erasure"}
    )
    assert r.status_code == 409 and "is not answered with" in r.text
    answer = _prepare(app, request_id, "report")
    dpo, dpo_csrf = sign_in(app, "anna")
    r = dpo.post(
        f"/console/requests/{request_id}/close", data={"csrf": dpo_csrf, "outcome": "withdrawn"}
    )
    assert r.status_code == 200
    mails = len(outbox.messages())
    r = dpo.post(f"/console/answers/{answer}/approve", data={"csrf": dpo_csrf})
    assert r.status_code == 409 and "closed" in r.text
    assert _answer_state(tk, answer) == "prepared" and len(outbox.messages()) == mails
    with pytest.raises(Exception, match="closed"):
        portal.record_check(tk, request_id, "customer_number=K-1002", "invoice checked")
    with pytest.raises(Exception, match="closed"):
        portal.prepare_report(tk, request_id)


@dataclass
class FlakyMailer:
    """The outbox, or a mail server that is down (``down = True``)."""

    inner: OutboxMailer
    down: bool = False
    refused: list[str] = field(default_factory=list)

    def send(self, mail: Mail) -> None:
        if self.down:
            self.refused.append(mail.kind)
            raise MailError("the mail server could not be reached (ConnectionRefusedError)")
        self.inner.send(mail)


@pytest.fixture
def flaky(tk: Toolkit, outbox: Outbox) -> tuple[object, FlakyMailer]:
    mailer = FlakyMailer(OutboxMailer(outbox.folder, "privacy@comparex.test"))
    app = create_app(
        tk,
        mailer,
        base_url="https://privacy.test",
        limits=Limits(submissions_per_hour=1000, codes_per_hour=1000),
    )
    return app, mailer


def test_a_mail_server_that_is_down_loses_no_request_and_records_nothing_unsent(
    flaky: tuple[object, FlakyMailer], tk: Toolkit, outbox: Outbox
) -> None:
    app, mailer = flaky
    person = client(app)
    mailer.down = True
    r = _request_form(person, "portability", DUAL_EMAIL)
    assert r.status_code == 200 and "could not send the code" in r.text
    assert len(tk.ledger.requests()) == 1  # registered all the same
    mailer.down = False
    r = person.post("/verify/new", data={"csrf": csrf_of(r.text)})
    assert "six-digit code" in r.text

    mailer.down = True  # the status mail fails: the page links the status itself
    r = person.post("/verify", data={"csrf": csrf_of(r.text), "code": outbox.code()})
    assert r.status_code == 200 and "could not send you the e-mail" in r.text
    request_id = tk.ledger.requests()[0].id
    status = person.get("/status")
    assert status.status_code == 200 and f"DSR-{request_id}" in status.text

    mailer.down = False
    answer = _prepare(app, request_id, "package")
    dpo, csrf = sign_in(app, "anna")
    mailer.down = True
    r = dpo.post(f"/console/answers/{answer}/approve", data={"csrf": csrf})
    assert r.status_code == 502 and "could not be reached" in r.text
    assert _answer_state(tk, answer) == "prepared"  # not approved, so it can be retried
    assert "request.answer_approve" not in _actions(tk)

    r = dpo.post(
        f"/console/requests/{request_id}/refuse",
        data={"csrf": csrf, "ground": "manifestly_unfounded", "reason": "test"},
    )
    assert r.status_code == 502
    req = tk.ledger.request(request_id)
    assert req.status != "closed" and not any(
        e["action"] == "letter.refusal" for e in req.outcome_log
    )

    mailer.down = False
    r = dpo.post(f"/console/answers/{answer}/approve", data={"csrf": csrf})
    assert r.status_code == 200 and _answer_state(tk, answer) == "approved"
    first = outbox.link("download")
    assert mailer.refused == ["code", "status", "link", "letter.refusal"]

    # the person lost the mail: staff send the same link again, until it is used
    support, support_csrf = sign_in(app, "sam")
    r = support.post(f"/console/answers/{answer}/resend", data={"csrf": support_csrf})
    assert r.status_code == 200 and "mailed again" in r.text
    assert outbox.link("download") == first
    page = person.get(first)
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token is not None
    person.post("/download", data={"csrf": csrf_of(page.text), "token": token.group(1)})
    r = support.post(f"/console/answers/{answer}/resend", data={"csrf": support_csrf})
    assert r.status_code == 409 and "already used" in r.text
    assert _actions(tk).count("request.answer_resend") == 1


def test_a_confirmed_code_replayed_does_nothing_again(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "access", CARLA_EMAIL)
    code = outbox.code()
    page = person.get("/verify")
    kept = person.cookies.get("dsr_verify")
    r = person.post("/verify", data={"csrf": csrf_of(page.text), "code": code})
    assert "your request is registered" in r.text
    mails = len(outbox.messages())
    person.cookies.set("dsr_verify", kept, domain="privacy.test")  # as a replaying client would
    r = person.post("/verify", data={"csrf": csrf_of(page.text), "code": "000000"})
    assert r.status_code == 200 and "already used" in r.text and "DSR-" not in r.text
    assert len(outbox.messages()) == mails


def test_wrong_passwords_from_one_address_do_not_lock_staff_out_elsewhere(
    tk: Toolkit, outbox: Outbox
) -> None:
    app = create_app(
        tk,
        OutboxMailer(outbox.folder),
        base_url="https://privacy.test",
        limits=Limits(logins_per_15_minutes=3),
    )

    def attempt(c: object, name: str, password: str) -> int:
        page = c.get("/console/login")  # type: ignore[attr-defined]
        r = c.post(  # type: ignore[attr-defined]
            "/console/login",
            data={"csrf": csrf_of(page.text), "name": name, "password": password},
        )
        return int(r.status_code)

    from starlette.testclient import TestClient

    attacker = TestClient(app, base_url="https://privacy.test", client=("203.0.113.9", 4000))  # type: ignore[arg-type]
    assert [attempt(attacker, n, "guess") for n in ("anna", "ANNA ", "Anna")] == [401] * 3
    assert attempt(attacker, "anna", PASSWORD) == 429  # the spelling does not reset the count
    office = TestClient(app, base_url="https://privacy.test", client=("192.0.2.10", 4000))  # type: ignore[arg-type]
    assert attempt(office, "anna", PASSWORD) == 200


def test_requests_nobody_verified_are_closed_after_30_days_without_their_data(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    from dsr.clock import FixedClock

    person = client(app)
    submit(person, "access", "someone-else@example.org", message="a message")
    confirm = client(app)
    submit(confirm, "access", CARLA_EMAIL)
    request_ids = [r.id for r in tk.ledger.requests()]
    confirmed = verify(confirm, outbox.code())
    assert portal.expire_unverified(tk) == []  # not yet 30 days
    tk.clock = FixedClock(tk.clock.now() + timedelta(days=31))
    closed = portal.expire_unverified(tk)
    assert sorted(closed) == sorted(i for i in request_ids if i != confirmed)
    for request_id in closed:
        req = tk.ledger.request(request_id, with_identities=True)
        assert (req.status, req.outcome, req.identities) == ("closed", "unverified", ())
        assert portal.request_view(tk, request_id, staff=True).message is None
        dpo, _ = sign_in(app, "anna")
        page = dpo.get(f"/console/requests/{request_id}")
        assert page.status_code == 200 and "closed: unverified" in page.text
    with tk.engine.connect() as conn:
        left = conn.execute(
            select(func.count())
            .select_from(verifications)
            .where(verifications.c.request_id.in_(closed))
        ).scalar_one()
    assert left == 0 and _actions(tk).count("request.expire") == len(closed)
    assert tk.ledger.request(confirmed).status != "closed"


def test_the_served_app_closes_expired_unverified_requests_at_start(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    from starlette.testclient import TestClient

    from dsr.clock import FixedClock

    submit(client(app), "access", "someone-else@example.org")
    tk.clock = FixedClock(tk.clock.now() + timedelta(days=31))
    with TestClient(app, base_url="https://privacy.test") as served:  # type: ignore[arg-type]
        assert served.get("/healthz").status_code == 200
    assert tk.ledger.requests()[0].outcome == "unverified"


def test_the_download_period_runs_from_approval_and_an_expired_preparation_is_refused(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    from dsr.clock import FixedClock

    person = client(app)
    submit(person, "portability", DUAL_EMAIL)
    request_id = verify(person, outbox.code())
    prepared_at = tk.clock.now()
    late = _prepare(app, request_id, "package")
    tk.clock = FixedClock(prepared_at + timedelta(days=6))
    dpo, csrf = sign_in(app, "anna")
    r = dpo.post(f"/console/answers/{late}/approve", data={"csrf": csrf})
    assert r.status_code == 200 and "Approved." in r.text
    link = outbox.link("download")
    tk.clock = FixedClock(prepared_at + timedelta(days=12))  # 6 days after approval
    page = person.get(link)
    assert page.status_code == 200 and "Download" in page.text

    again = client(app)
    submit(again, "access", CARLA_EMAIL)
    other = verify(again, outbox.code())
    stale = _prepare(app, other, "report")
    tk.clock = FixedClock(tk.clock.now() + timedelta(days=8))
    dpo, csrf = sign_in(app, "anna")
    r = dpo.post(f"/console/answers/{stale}/approve", data={"csrf": csrf})
    assert r.status_code == 409 and "no longer available (expired): prepare it again" in r.text
    assert _answer_state(tk, stale) == "prepared"


def test_expiry_never_touches_requests_staff_registered_or_anyone_verified(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    from dsr.clock import FixedClock

    today = tk.ledger.today()
    by_letter = tk.ledger.open_request(
        type="erasure", identities=[f"email={CARLA_EMAIL}"], received=today - timedelta(days=40)
    )  # registered by staff from a letter that came late, nobody recorded a check
    checked = tk.ledger.open_request(
        type="access",
        identities=[f"email={DUAL_EMAIL}"],
        received=today,
        verified_by="signed letter",
    )
    person = client(app)
    submit(person, "access", "someone-else@example.org")
    tk.clock = FixedClock(tk.clock.now() + timedelta(days=31))
    closed = portal.expire_unverified(tk)
    assert len(closed) == 1 and closed[0] not in (by_letter.id, checked.id)
    for kept in (by_letter, checked):
        req = tk.ledger.request(kept.id, with_identities=True)
        assert req.status != "closed" and req.identities


def test_one_approval_runs_and_a_second_one_at_the_same_time_is_refused(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    from dsr.ledger.answers import claim_answer

    person = client(app)
    submit(person, "erasure", DUAL_EMAIL)
    request_id = verify(person, outbox.code())
    answer = _prepare(app, request_id, "erasure")
    with tk.acting_as("dpo:bert"), tk.engine.begin() as conn:
        claim_answer(conn, int(answer), clock=tk.clock)  # bert's approval is under way
    dpo, csrf = sign_in(app, "anna")
    r = dpo.post(f"/console/answers/{answer}/approve", data={"csrf": csrf})
    assert r.status_code == 409 and "being approved right now" in r.text
    assert "erase" not in [e["action"] for e in tk.ledger.request(request_id).outcome_log]
    # a withdrawal does not pull the answer away under the approval either
    from dsr.ledger.answers import withdraw_prepared

    with tk.engine.begin() as conn:
        assert withdraw_prepared(conn, tk.keys, request_id, clock=tk.clock, reason="t") == []
    assert _answer_state(tk, answer) == "prepared"


def test_an_erasure_without_a_verified_address_is_not_run(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    request = tk.ledger.open_request(
        type="erasure", identities=["customer_number=K-1002"], received=tk.ledger.today()
    )
    portal.record_check(tk, request.id, "customer_number=K-1002", "invoice copy checked")
    answer = _prepare(app, request.id, "erasure")
    dpo, csrf = sign_in(app, "anna")
    r = dpo.post(f"/console/answers/{answer}/approve", data={"csrf": csrf})
    assert r.status_code == 409 and "no verified e-mail address" in r.text
    assert f"/console/requests/{request.id}" in r.text  # back to the request, not the register
    with tk.engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM customers WHERE customer_number = 'K-1002'")
        ).scalar_one()
    assert left == 1 and _answer_state(tk, answer) == "prepared"


def test_an_erasure_is_completed_only_once_the_person_was_told(
    flaky: tuple[object, FlakyMailer], tk: Toolkit, outbox: Outbox
) -> None:
    app, mailer = flaky
    person = client(app)
    submit(person, "erasure", DUAL_EMAIL)
    request_id = verify(person, outbox.code())
    answer = _prepare(app, request_id, "erasure")
    dpo, csrf = sign_in(app, "anna")
    mailer.down = True
    r = dpo.post(f"/console/answers/{answer}/approve", data={"csrf": csrf})
    assert r.status_code == 502 and "carried out" in r.text
    close = {"csrf": csrf, "outcome": "completed"}
    r = dpo.post(f"/console/requests/{request_id}/close", data=close)
    assert r.status_code == 409 and "nothing on record answers" in r.text
    mailer.down = False
    r = dpo.post(
        f"/console/requests/{request_id}/letter",
        data={"csrf": csrf, "kind": "completion", "lang": "en"},
    )
    assert r.status_code == 200
    r = dpo.post(f"/console/requests/{request_id}/close", data=close)
    assert r.status_code == 200 and tk.ledger.request(request_id).outcome == "completed"


def test_a_verified_request_is_not_closed_as_unverified_and_a_closed_one_verifies_nothing(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "access", CARLA_EMAIL)
    request_id = verify(person, outbox.code())
    dpo, csrf = sign_in(app, "anna")
    r = dpo.post(
        f"/console/requests/{request_id}/close", data={"csrf": csrf, "outcome": "unverified"}
    )
    assert r.status_code == 409 and "was verified" in r.text

    late = client(app)
    submit(late, "access", DUAL_EMAIL)
    code = outbox.code()
    other = tk.ledger.requests()[-1].id
    r = dpo.post(f"/console/requests/{other}/close", data={"csrf": csrf, "outcome": "withdrawn"})
    assert r.status_code == 200
    mails = len(outbox.messages())
    page = late.get("/verify")
    r = late.post("/verify", data={"csrf": csrf_of(page.text), "code": code})
    assert "There is no request waiting" in r.text
    r = late.post("/verify/new", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200 and "There is no request waiting" in r.text
    req = tk.ledger.request(other)
    assert req.verified_at is None and len(outbox.messages()) == mails


def test_sign_in_guesses_from_many_addresses_are_bounded_per_account(
    tk: Toolkit, outbox: Outbox
) -> None:
    from starlette.testclient import TestClient

    app = create_app(
        tk,
        OutboxMailer(outbox.folder),
        base_url="https://privacy.test",
        limits=Limits(account_logins_everywhere_per_15_minutes=6),
    )

    def attempt(ip: str, password: str) -> int:
        c = TestClient(app, base_url="https://privacy.test", client=(ip, 4000))  # type: ignore[arg-type]
        page = c.get("/console/login")
        r = c.post(
            "/console/login",
            data={"csrf": csrf_of(page.text), "name": "anna", "password": password},
        )
        return int(r.status_code)

    codes = [attempt(f"198.51.100.{n}", "guess") for n in range(8)]
    assert codes[:6] == [401] * 6 and codes[6:] == [429, 429]


def test_a_code_that_could_not_be_mailed_does_not_use_up_the_hourly_limit(
    flaky: tuple[object, FlakyMailer], tk: Toolkit, outbox: Outbox
) -> None:
    from dsr.ledger.verification import MAX_CODES_PER_HOUR

    app, mailer = flaky
    person = client(app)
    mailer.down = True
    r = _request_form(person, "access", CARLA_EMAIL)
    for _ in range(MAX_CODES_PER_HOUR):
        r = person.post("/verify/new", data={"csrf": csrf_of(r.text)})
        assert "could not send the code" in r.text
    mailer.down = False
    r = person.post("/verify/new", data={"csrf": csrf_of(r.text)})
    assert "six-digit code" in r.text and len(outbox.messages()) == 1


def test_a_resend_is_recorded_only_once_it_went_out_and_not_on_a_closed_request(
    flaky: tuple[object, FlakyMailer], tk: Toolkit, outbox: Outbox
) -> None:
    app, mailer = flaky
    person = client(app)
    submit(person, "portability", DUAL_EMAIL)
    request_id = verify(person, outbox.code())
    answer = _prepare(app, request_id, "package")
    dpo, csrf = sign_in(app, "anna")
    dpo.post(f"/console/answers/{answer}/approve", data={"csrf": csrf})
    mailer.down = True
    r = dpo.post(f"/console/answers/{answer}/resend", data={"csrf": csrf})
    assert r.status_code == 502 and "request.answer_resend" not in _actions(tk)
    mailer.down = False
    dpo.post(f"/console/requests/{request_id}/close", data={"csrf": csrf, "outcome": "completed"})
    r = dpo.post(f"/console/answers/{answer}/resend", data={"csrf": csrf})
    assert r.status_code == 409 and "closed" in r.text


def test_verifying_an_identity_again_keeps_what_was_prepared(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "access", CARLA_EMAIL, id_customer_number="K-1002")
    request_id = verify(person, outbox.code())
    portal.record_check(tk, request_id, "customer_number=K-1002", "invoice copy checked")
    answer = _prepare(app, request_id, "report")
    portal.record_check(tk, request_id, "customer_number=K-1002", "checked again by phone")
    assert _answer_state(tk, answer) == "prepared"
    support, csrf = sign_in(app, "sam")
    r = support.post(
        f"/console/requests/{request_id}/letter", data={"csrf": csrf, "kind": "refusal"}
    )
    assert r.status_code == 409 and "use Refuse" in r.text


def test_staff_download_the_internal_record_and_nobody_else_does(
    app: object, tk: Toolkit, outbox: Outbox
) -> None:
    person = client(app)
    submit(person, "access", CARLA_EMAIL)
    request_id = verify(person, outbox.code())
    stranger = client(app)
    r = stranger.get(f"/console/requests/{request_id}/record", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    support, _ = sign_in(app, "sam")
    r = support.get(f"/console/requests/{request_id}/record")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert f"record-DSR-{request_id}." in r.headers["content-disposition"]
    assert r.content.startswith(b"%PDF") or b"Internal record" in r.content
