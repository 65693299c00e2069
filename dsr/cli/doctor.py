"""``dsr doctor``: is this deployment ready? Database, ledger, key, catalog, export dir, mail."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from dsr.cli._common import AppContext, emit, json_option, pass_app
from dsr.errors import DSRError

Check = dict[str, str]


def _run(name: str, probe: Callable[[], tuple[str, str]]) -> Check:
    try:
        status, detail = probe()
    except DSRError as exc:
        status, detail = "fail", str(exc)
    except Exception as exc:  # noqa: BLE001 - a readiness probe reports, it does not crash
        from sqlalchemy.exc import SQLAlchemyError

        from dsr.db import describe_database_error

        text = describe_database_error(exc) if isinstance(exc, SQLAlchemyError) else ""
        status, detail = "fail", text or type(exc).__name__
    return {"name": name, "status": status, "detail": detail}


def diagnose(app: AppContext) -> list[Check]:
    """Each check's status (ok, warn, fail, skip) and a one-line detail; no personal data."""
    checks = [_run("config", lambda: ("ok", str(app.settings.path or "no file; defaults")))]
    if checks[0]["status"] == "fail":
        return checks

    def database() -> tuple[str, str]:
        from sqlalchemy import text

        from dsr.db import redact_url

        with app.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok", f"{app.engine.dialect.name} at {redact_url(app.url)}"

    checks.append(_run("database", database))
    reachable = checks[-1]["status"] == "ok"

    def ledger() -> tuple[str, str]:
        from dsr.ledger.migrate import ledger_state

        state = ledger_state(app.engine)
        problem = state.problem()
        return ("fail", problem) if problem else ("ok", f"version {state.version}")

    def key() -> tuple[str, str]:
        from dsr.crypto.keys import key_check
        from dsr.ledger.audit import stored_key_check

        check = key_check(app.keys)  # raises KeyError_ naming a missing/unreadable key file
        with app.engine.connect() as conn:
            stored = stored_key_check(conn)
        if stored is None:
            return "warn", "the ledger records no key yet; 'dsr init' binds it"
        if stored != check:
            return "fail", "the key is not the one this ledger was created with"
        return "ok", "matches the ledger"

    def catalog() -> tuple[str, str]:

        report = app.toolkit().check()
        if report.errors:
            return "fail", f"{len(report.errors)} error(s); run 'dsr catalog check'"
        if report.warnings:
            return "warn", f"{len(report.warnings)} warning(s); run 'dsr catalog check'"
        return "ok", f"{len(app.catalog.tables)} tables fit the live schema"

    for name, probe in (("ledger", ledger), ("key", key), ("catalog", catalog)):
        if reachable:
            checks.append(_run(name, probe))
        else:
            checks.append({"name": name, "status": "skip", "detail": "database unreachable"})
    checks.append(_run("export_dir", lambda: _export_dir(app)))
    checks.append(_run("mail", lambda: _mail(app)))
    return checks


def _export_dir(app: AppContext) -> tuple[str, str]:
    from dsr.portability.storage import default_export_dir

    path = Path(app.export_dir(None) or default_export_dir())
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), Path("/"))
        if os.access(parent, os.W_OK):
            return "ok", f"{path} will be created (mode 0700) on first delivery"
        return "fail", f"{path} does not exist and {parent} is not writable"
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        return "fail", f"{path} is not a writable directory"
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return "warn", f"{path} is open to group or others; dsr sets 0700 when it writes"
    return "ok", f"{path} (mode 0700)"


def _mail(app: AppContext) -> tuple[str, str]:
    mail = app.settings.mail
    if not mail.configured:
        return "skip", "no [mail] settings"
    if mail.outbox is not None:
        ok = os.access(mail.outbox if mail.outbox.exists() else mail.outbox.parent, os.W_OK)
        return ("ok" if ok else "fail"), f"outbox {mail.outbox}"
    import smtplib

    factory = smtplib.SMTP_SSL if mail.ssl else smtplib.SMTP
    try:
        with factory(mail.host or "", mail.port, timeout=mail.timeout) as smtp:
            smtp.ehlo()
            if mail.starttls and not mail.ssl:
                smtp.starttls()
                smtp.ehlo()
            if mail.username:
                smtp.login(mail.username, mail.password() or "")
    except (OSError, smtplib.SMTPException) as exc:
        return "fail", f"SMTP {mail.host}:{mail.port}: {type(exc).__name__}"
    return "ok", f"SMTP {mail.host}:{mail.port} answered"


@click.command("doctor", short_help="Check that this deployment is ready (exit 0 or 1).")
@json_option
@pass_app
def doctor_command(app: AppContext, as_json: bool) -> int:
    """Check the database, the ledger's version, the key, the catalog against the live schema,
    the export directory and the mail settings: exit 0 when nothing failed, else 1.

    For a readiness probe: dsr doctor --json prints ok and one entry per check.
    """
    checks = diagnose(app)
    ok = not any(c["status"] == "fail" for c in checks)

    def human(d: dict[str, Any]) -> str:
        return "\n".join(f"{c['status']:<5} {c['name']:<11} {c['detail']}" for c in d["checks"])

    emit({"ok": ok, "checks": checks}, as_json, human)
    return 0 if ok else 1
