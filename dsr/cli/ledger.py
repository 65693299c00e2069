"""``dsr init``, ``dsr migrate``, ``dsr request ...``, ``dsr audit verify``: the ledger."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dsr.cli._common import (
    AppContext,
    emit,
    identities_argument,
    json_option,
    pass_app,
    require_writable_folder,
    write_document,
)
from dsr.errors import LedgerError
from dsr.rights import REQUEST_TYPES

if TYPE_CHECKING:
    from dsr.ledger.migrate import LedgerState, Migration
    from dsr.ledger.requests import Request


class Duration(click.ParamType):
    """A number of days or weeks: ``7d``, ``14d``, ``2w`` (a bare number is days)."""

    name = "DURATION"
    _pattern = re.compile(r"^\s*(\d+)\s*([dw]?)\s*$", re.IGNORECASE)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, timedelta):
            return value
        match = self._pattern.match(str(value))
        if not match:
            self.fail("expected days or weeks such as 7d, 14d or 2w", param, ctx)
        n, unit = int(match.group(1)), match.group(2).lower()
        return timedelta(weeks=n) if unit == "w" else timedelta(days=n)


def _today(app: AppContext) -> date:
    return app.toolkit().ledger.today()


def _request_text(req: dict[str, Any]) -> str:
    lines = [
        f"request {req['id']}: {req['type']}, {req['status']}",
        f"  received      {req['received']}",
        f"  due           {req['due']}"
        + (f" (originally {req['original_due']})" if req["due"] != req["original_due"] else ""),
        f"  verified by   {req['verified_by'] or '-'}"
        + (f" (recorded {req['verified_at']})" if req.get("verified_at") else ""),
        f"  subject       {req['subject']}",
    ]
    if req.get("identities"):
        lines.append(f"  identities    {', '.join(req['identities'])}")
    if req["extension"]:
        ext = req["extension"]
        lines.append(f"  extension     {ext['months']} month(s): {ext['reason']}")
    for entry in req["outcome_log"]:
        lines.append(f"  {entry['at']}  {entry['action']}  {entry['summary']}")
    if req["status"] == "closed":
        lines.append(f"  closed        {req['closed_at']}: {req['outcome'] or '-'}")
    if req.get("earlier_requests"):
        earlier = ", ".join(
            f"DSR-{e['id']} ({e['type']}, {e['received']})" for e in req["earlier_requests"]
        )
        lines.append(f"  REVIEW        the same right asked for in the 12 months before: {earlier}")
    return "\n".join(lines)


def _days_left(req: dict[str, Any]) -> str:
    if req["status"] == "closed":
        return "-"
    days = int(req["days_left"])
    return f"OVERDUE by {-days}" if days < 0 else str(days)


def _table_text(data: dict[str, Any]) -> str:
    rows = data["requests"]
    if not rows:
        return "no requests"
    head = ("id", "type", "received", "due", "status", "days left")
    body = [
        (
            str(r["id"]),
            r["type"],
            r["received"],
            r["due"] + (" (ext.)" if r["extension"] else ""),
            r["status"],
            _days_left(r),
        )
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=False)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False)).rstrip()
        for line in (head, *body)
    )


@click.command("init", short_help="Create the ledger tables and the secret key file.")
@click.option(
    "--upgrade",
    is_flag=True,
    help="Also upgrade a ledger made by an older dsr (as 'dsr migrate' does; back up first).",
)
@json_option
@pass_app
def init_command(app: AppContext, upgrade: bool, as_json: bool) -> None:
    """Create the toolkit's tables and the secret key file (mode 0600, never overwritten).

    Run again on a ledger of this version it changes nothing; a ledger made by an older dsr is
    refused unless --upgrade is given.
    """
    from dsr.ledger.setup import init_ledger

    result = init_ledger(app.engine, app.key_file_path, upgrade=upgrade)

    def human(r: Any) -> str:
        if r.key_file is None:
            key = "secret taken from DSR_SECRET; no key file written"
        elif r.key_file_created:
            key = f"created key file {r.key_file} (mode 0600); back it up"
        else:
            key = f"key file {r.key_file} exists; left unchanged"
        return f"{key}\n{_migration_text(r.migration)}"

    emit(result, as_json, human)


def _migration_text(m: Migration) -> str:
    from dsr.ledger.migrate import LEDGER_VERSION

    if m.created:
        return f"ledger created at version {LEDGER_VERSION}"
    if not m.applied:
        return f"ledger is at version {LEDGER_VERSION}; nothing to do"
    was = m.before.version or "unversioned (before dsr 0.2)"
    return f"ledger upgraded from {was} to {LEDGER_VERSION}: applied {', '.join(m.applied)}"


@click.command("migrate", short_help="Upgrade the ledger tables to this version of dsr.")
@click.option("--dry-run", is_flag=True, help="Say where the ledger stands; change nothing.")
@json_option
@pass_app
def migrate_command(app: AppContext, dry_run: bool, as_json: bool) -> None:
    """Upgrade dsr's own tables (dsr_*) to this version of dsr, keeping every row.

    Back up the database first. The upgrade runs in one transaction on PostgreSQL and SQLite;
    MariaDB commits each step, and a failed step is rerun by running the command again. A
    database whose ledger is newer than this dsr is refused, changing nothing.
    """
    from dsr.ledger.migrate import LEDGER_VERSION, ledger_state, upgrade_ledger

    if dry_run:
        state = ledger_state(app.engine)

        def text(st: LedgerState) -> str:
            if st.status == "missing":
                return "no ledger in this database; 'dsr init' creates it"
            if st.status == "newer":
                return f"ledger at version {st.version}, newer than this dsr ({LEDGER_VERSION})"
            if not st.pending:
                return f"ledger is at version {LEDGER_VERSION}; nothing to do"
            return f"ledger at {st.version or 'unversioned'}; would apply {', '.join(st.pending)}"

        emit(state, as_json, text)
        return
    if ledger_state(app.engine).status == "missing":
        raise LedgerError("this database has no dsr ledger; run 'dsr init' to create it")
    migration = upgrade_ledger(app.engine)
    emit(migration, as_json, _migration_text)


@click.group("request", short_help="The request register and its Art. 12(3) deadlines.")
def request_group() -> None:
    """The request register: deadlines (Art. 12(3)), extensions, outcomes."""


@request_group.command("open", short_help="Register a request; prints its id and due date.")
@click.option(
    "--type", "request_type", type=click.Choice(REQUEST_TYPES), required=True, help="The right."
)
@click.option(
    "--received",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    required=True,
    help="Date of receipt (YYYY-MM-DD); the month runs from here.",
)
@click.option("--verified-by", help="How the person's identity was verified.")
@identities_argument
@json_option
@pass_app
def request_open(
    app: AppContext,
    request_type: str,
    received: Any,
    verified_by: str | None,
    identities: tuple[str, ...],
    as_json: bool,
) -> None:
    """Register a request; prints its id and due date (one month, next working day)."""
    req = app.toolkit().ledger.open_request(
        type=request_type,
        identities=identities,
        received=received.date(),
        verified_by=verified_by,
    )
    data = {"id": req.id, "due": req.due.isoformat(), "status": req.status, "type": req.type}
    emit(data, as_json, lambda d: f"request {d['id']} ({d['type']}) registered, due {d['due']}")


@request_group.command("list", short_help="List requests by due date (without identities).")
@click.option("--overdue", is_flag=True, help="Only open requests past their due date.")
@click.option(
    "--due-within", type=Duration(), help="Only open requests due within 7d, 14d, 2w, ..."
)
@click.option("--status", type=click.Choice(["open", "in_progress", "closed"]))
@json_option
@pass_app
def request_list(
    app: AppContext,
    overdue: bool,
    due_within: timedelta | None,
    status: str | None,
    as_json: bool,
) -> None:
    """List requests by due date (no identities: 'dsr request show ID' decrypts them)."""
    today = _today(app)
    found = app.toolkit().ledger.requests(overdue=overdue, due_within=due_within, status=status)
    emit({"requests": [r.to_json(today) for r in found]}, as_json, _table_text)


def _emit_request(app: AppContext, req: Request, as_json: bool) -> None:
    emit(req.to_json(_today(app)), as_json, _request_text)


@request_group.command("show", short_help="One request with its identities and outcome log.")
@click.argument("request_id", type=int, metavar="ID")
@json_option
@pass_app
def request_show(app: AppContext, request_id: int, as_json: bool) -> None:
    """Show one request with its identities (decrypted) and outcome log, and the same
    person's requests of the 12 months before it (for review, Art. 12(5))."""
    ledger = app.toolkit().ledger
    req = ledger.request(request_id, with_identities=True)
    data = req.to_json(_today(app))
    data["earlier_requests"] = [
        {"id": r.id, "type": r.type, "received": r.received.isoformat(), "outcome": r.outcome}
        for r in ledger.earlier_requests(request_id)
    ]
    emit(data, as_json, _request_text)


@request_group.command("record", short_help="The DPO's internal record of how it was answered.")
@click.argument("request_id", type=int, metavar="ID")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "html", "pdf"]),
    default="json",
    show_default=True,
    help="json or html (stdout or -o), pdf (needs -o).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="File to write, mode 0600 (it names the person's identities).",
)
@pass_app
def request_record(app: AppContext, request_id: int, fmt: str, output: str | None) -> None:
    """The internal record of request ID, for the DPO and not for the person: the identities
    and their verification, the same person's earlier requests, every catalogued table with
    what the answer found, what was withheld, redacted, kept or not searched and why, the
    SHA-256 of every file and letter delivered, approvals and the audit entries."""
    import json as json_module

    from dsr.rights.record import dpo_record, render_record_html

    if fmt == "pdf" and not output:
        raise click.UsageError("--format pdf needs -o FILE", ctx=click.get_current_context())
    record = dpo_record(app.toolkit(), request_id)
    if fmt == "json":
        text = json_module.dumps(record.to_json(), indent=2, ensure_ascii=False)
        document = (text + "\n").encode()
    else:
        html = render_record_html(record)
        if fmt == "pdf":
            from dsr.render.pdf import html_to_pdf

            document = html_to_pdf(html)
        else:
            document = html.encode("utf-8")
    write_document(document, output, f"wrote the record of request {request_id}")


@request_group.command("extend", short_help="Extend the period by one or two months, with reasons.")
@click.argument("request_id", type=int, metavar="ID")
@click.option("--months", type=click.IntRange(1, 2), required=True, help="1 or 2 months.")
@click.option("--reason", required=True, help="Why (told to the person, Art. 12(3)).")
@click.option(
    "--letter",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write the extension notice to the person to this file (.html or .pdf).",
)
@click.option(
    "--lang", type=click.Choice(["en", "de"]), default="en", show_default=True, help="Of --letter."
)
@json_option
@pass_app
def request_extend(
    app: AppContext,
    request_id: int,
    months: int,
    reason: str,
    letter: str | None,
    lang: str,
    as_json: bool,
) -> None:
    """Extend the period (Art. 12(3)): within the first month, two months at most in total.

    With --letter FILE the extension notice to the person is written there too (HTML, or
    PDF for a .pdf name) and recorded on the request as sent.
    """
    tk = app.toolkit()
    fmt = "pdf" if letter and letter.lower().endswith(".pdf") else "html"
    if letter:  # what would stop the letter is found before the extension is recorded
        require_writable_folder(letter, "--letter")
        if fmt == "pdf":
            from dsr.render.pdf import html_to_pdf  # noqa: F401 - a missing extra is told first
    req = tk.ledger.extend(request_id, months, reason)
    if letter:
        from dsr.portability.storage import write_private

        try:
            tk.ledger.letter(
                request_id,
                "extension",
                lang=lang,
                fmt=fmt,
                send=lambda _, document: write_private(Path(letter), document),
            )
        except OSError as exc:
            raise LedgerError(
                f"the extension was recorded, but its letter could not be written "
                f"({type(exc).__name__}): run 'dsr letter extension --request {request_id}'",
                where="--letter",
            ) from None
        click.echo(f"dsr: wrote the extension letter to {letter}", err=True)
        req = tk.ledger.request(request_id)
    _emit_request(app, req, as_json)


@request_group.command("close")
@click.argument("request_id", type=int, metavar="ID")
@click.option("--outcome", help="What the answer was (kept in the register).")
@click.option(
    "--refused",
    is_flag=True,
    help="Closed as refused: needs its refusal letter ('dsr letter refusal') first.",
)
@json_option
@pass_app
def request_close(
    app: AppContext, request_id: int, outcome: str | None, refused: bool, as_json: bool
) -> None:
    """Close an answered request."""
    req = app.toolkit().ledger.close(request_id, outcome, refused=refused)
    _emit_request(app, req, as_json)


@click.group("audit")
def audit_group() -> None:
    """The audit trail (hash-chained, pseudonymous)."""


@audit_group.command("verify", short_help="Check the audit chain; name the first broken entry.")
@click.option(
    "--expect-head",
    metavar="MAC",
    help="A head printed by an earlier verify and kept elsewhere: it must still be in the chain "
    "(detects entries removed from the end).",
)
@json_option
@pass_app
def audit_verify(app: AppContext, as_json: bool, expect_head: str | None) -> int:
    """Check the audit chain; exit 1 and name the first broken entry if it was tampered with.

    Prints the head (the last entry's MAC): keep it elsewhere and pass it back with
    --expect-head to detect later removal of entries from the end.
    """
    verdict = app.toolkit().ledger.verify(expect_head)

    def human(v: Any) -> str:
        if v.ok:
            return f"audit chain intact: {v.entries} entries, head {v.head or '-'}"
        return f"audit chain BROKEN at entry {v.first_broken}: {v.reason}"

    emit(verdict, as_json, human)
    if not verdict.ok:
        click.echo(f"dsr: error: audit chain broken at entry {verdict.first_broken}", err=True)
        return 1
    return 0
