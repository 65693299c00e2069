"""``dsr rectify``, ``dsr erase``, ``dsr restrict`` and ``dsr restrict lift`` (Art. 16-19)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import click

from dsr.cli._common import (
    AppContext,
    emit,
    identities_argument,
    json_option,
    pass_app,
    require_writable_folder,
)
from dsr.cli._common import request_option as _request_option
from dsr.errors import ValidationError

EXIT_WITHHELD = 3
_SET_HELP = "Corrected value of a field (repeatable); an empty VALUE clears the field."
_NOTICES_HELP = "Write one printable Art. 19 letter (HTML) per recipient into this folder."
_INFORMED_HELP = "When the person was told the restriction ends (Art. 18(3)); not in the future."


@click.command("rectify", short_help="Art. 16: correct the person's data (Art. 19 notices).")
@identities_argument
@click.option(
    "--set",
    "assignments",
    multiple=True,
    required=True,
    metavar="TABLE.FIELD=VALUE",
    help=_SET_HELP,
)
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--notices-dir", type=click.Path(file_okay=False), help=_NOTICES_HELP)
@click.option(
    "--lang",
    type=click.Choice(["en", "de"]),
    default="en",
    show_default=True,
    help="Language of the Art. 19 letters.",
)
@_request_option
@json_option
@pass_app
def rectify_command(
    app: AppContext,
    identities: tuple[str, ...],
    assignments: tuple[str, ...],
    dry_run: bool,
    notices_dir: str | None,
    lang: str,
    request_id: int | None,
    as_json: bool,
) -> None:
    """Art. 16: correct the person's data; list the recipients to inform (Art. 19).

    Evidence records (catalog: evidence: true) get a supplementary statement instead of being
    rewritten. The output holds old and new values: it is personal data.
    """
    toolkit = app.toolkit()
    plan = toolkit.rectify(identities, assignments, dry_run=dry_run, request_id=request_id)
    if notices_dir and not dry_run:
        paths = toolkit.write_notices(plan.notices, notices_dir, lang=lang, request_id=request_id)
        click.echo(f"dsr: wrote {len(paths)} Art. 19 letter(s) to {notices_dir}", err=True)
    emit(plan.to_json(), as_json, _human_rectify)


@click.command("erase", short_help="Art. 17: erase; restrict what must be kept.")
@identities_argument
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--notices-dir", type=click.Path(file_okay=False), help=_NOTICES_HELP)
@click.option(
    "--lang",
    type=click.Choice(["en", "de"]),
    default="en",
    show_default=True,
    help="Language of the Art. 19 letters.",
)
@click.option(
    "--receipt",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the erasure's receipt here: .json, .html or .pdf (mode 0600).",
)
@click.option(
    "--compact",
    is_flag=True,
    help="Then rewrite storage (SQLite VACUUM; VACUUM / OPTIMIZE TABLE of the tables "
    "touched) and scan for residue; the scan is audited with the receipt.",
)
@_request_option
@json_option
@pass_app
def erase_command(
    app: AppContext,
    identities: tuple[str, ...],
    dry_run: bool,
    notices_dir: str | None,
    lang: str,
    receipt: str | None,
    compact: bool,
    request_id: int | None,
    as_json: bool,
) -> int:
    """Art. 17: erase the person's data as the catalog says; restrict what must be kept.

    Exit code 3 when something was kept (statutory retention, a legal hold, a reference);
    the output lists it with the reason and until when.
    """
    if (receipt or compact) and dry_run:
        raise click.UsageError(
            "a dry run leaves no receipt and nothing to compact", ctx=click.get_current_context()
        )
    if receipt:  # what would stop the receipt is found before anything is erased
        require_writable_folder(receipt, "--receipt")
        if not receipt.lower().endswith((".json", ".html", ".pdf")):
            raise click.BadParameter("name a .json, .html or .pdf file", param_hint="--receipt")
    if receipt and receipt.lower().endswith(".pdf"):
        from dsr.render.pdf import html_to_pdf  # noqa: F401 - a missing extra is told first
    toolkit = app.toolkit()
    plan = toolkit.erase(identities, dry_run=dry_run, request_id=request_id)
    if notices_dir and not dry_run:
        paths = toolkit.write_notices(plan.notices, notices_dir, lang=lang, request_id=request_id)
        click.echo(f"dsr: wrote {len(paths)} Art. 19 letter(s) to {notices_dir}", err=True)
    data = plan.to_json()
    if compact and not dry_run:
        touched = [e["table"] for e in plan.erased()]
        data["compacted"] = toolkit.compact(touched)
        scan = toolkit.residue_scan(identities, request_id=request_id, receipt_id=plan.receipt_id)
        data["residue"] = scan.to_json()
        click.echo(
            f"dsr: {data['compacted']}; residue scan: "
            + ("clean" if scan.clean else f"{len(scan.findings)} finding(s), see 'residue'"),
            err=True,
        )
    if receipt and plan.receipt_id is not None:
        from pathlib import Path

        from dsr.ledger.receipts import render_receipt
        from dsr.portability.storage import write_private

        body = toolkit.ledger.receipt(plan.receipt_id)
        write_private(Path(receipt), render_receipt(body, receipt))
        click.echo(f"dsr: wrote the erasure's receipt to {receipt}", err=True)
    emit(data, as_json, _human_erase)
    return EXIT_WITHHELD if plan.withheld else 0


@click.command("residue-scan", short_help="Where an erased person's values may still lie.")
@identities_argument
@click.option("--value", "values", multiple=True, help="Another value to look for (repeatable).")
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(exists=True),
    help="Another file or folder dsr wrote to (repeatable).",
)
@_request_option
@json_option
@pass_app
def residue_scan_command(
    app: AppContext,
    identities: tuple[str, ...],
    values: tuple[str, ...],
    paths: tuple[str, ...],
    request_id: int | None,
    as_json: bool,
) -> int:
    """Scan the database files (SQLite with -wal and -journal), the export storage and any
    --path for the identities and --value texts, UTF-8 and UTF-16LE, ignoring case; say
    where (file, offset, page and its kind), never the value. On PostgreSQL and MariaDB, say
    what only VACUUM / OPTIMIZE TABLE or time removes. Exit 3 when something was found."""
    report = app.toolkit().residue_scan(
        identities, values=values, paths=paths, request_id=request_id
    )

    def text(d: dict[str, Any]) -> str:
        lines = [f"scanned {len(d['scanned'])} file(s): " + ("clean" if d["clean"] else "found")]
        for f in d["findings"]:
            where = f" page {f['page']} ({f['page_kind']})" if "page" in f else ""
            at = f"{f['location']} at {f['offset']}{where}"
            lines.append(f"  {f['needle']}: {at}, {f['encoding']}")
        lines += [f"  note: {n}" for n in d["notes"]]
        return "\n".join(lines)

    emit(report.to_json(), as_json, text)
    return EXIT_WITHHELD if not report.clean else 0


class _RestrictGroup(click.Group):
    """``dsr restrict IDENTITY...`` restricts; ``dsr restrict lift IDENTITY...`` lifts."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["add", *args]
        return super().parse_args(ctx, args)


@click.group("restrict", cls=_RestrictGroup, short_help="Art. 18: restrict processing, or lift it.")
def restrict_group() -> None:
    """Art. 18: restrict processing of the person's rows (dsr restrict IDENTITY... --reason
    TEXT), or lift the restriction (dsr restrict lift IDENTITY... --informed-at DATE)."""


@restrict_group.command("add", short_help="Restrict every row about the person (the default).")
@identities_argument
@click.option("--reason", required=True, help="Why (Art. 18(1)(a)-(d)); no personal data.")
@_request_option
@json_option
@pass_app
def restrict_add(
    app: AppContext,
    identities: tuple[str, ...],
    reason: str,
    request_id: int | None,
    as_json: bool,
) -> None:
    """Restrict processing of every row about the person (the default of 'dsr restrict')."""
    result = app.toolkit().restrict(identities, reason, request_id=request_id)
    emit(result.to_json("restricted"), as_json, lambda d: _human_counts(d, "restricted"))


@restrict_group.command("lift", short_help="Lift the restriction once the person was informed.")
@identities_argument
@click.option("--informed-at", "informed_at", required=True, metavar="DATE", help=_INFORMED_HELP)
@_request_option
@json_option
@pass_app
def restrict_lift(
    app: AppContext,
    identities: tuple[str, ...],
    informed_at: str,
    request_id: int | None,
    as_json: bool,
) -> None:
    """Lift the person's restriction, recording that they were informed first (Art. 18(3))."""
    when = _parse_when(informed_at)
    result = app.toolkit().lift(identities, when, request_id=request_id)
    emit(result.to_json("lifted"), as_json, lambda d: _human_counts(d, "lifted"))


def _parse_when(text: str) -> date | datetime:
    try:
        return (
            datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
        )
    except ValueError:
        raise ValidationError(
            "not an ISO date (YYYY-MM-DD) or date-time", where="--informed-at"
        ) from None


def _human_rectify(d: dict[str, Any]) -> str:
    lines = [
        ("Plan (dry run): " if d["dry_run"] else "Rectified: ") + f"{len(d['changes'])} field(s)"
    ]
    for c in d["changes"]:
        lines.append(f"  {c['table']}.{c['field']}: {c['rows']} row(s) {c['action']}")
    if d["notices"]:
        lines.append(
            "Recipients to inform (Art. 19): " + ", ".join(n["recipient"] for n in d["notices"])
        )
    return "\n".join(lines)


def _human_erase(d: dict[str, Any]) -> str:
    lines = ["Plan (dry run):" if d["dry_run"] else "Erased:"]
    anonymised = any(k["action"] == "anonymised" for k in d["kept"])
    lines += [f"  {e['table']}: {e['rows']} row(s) {e['action']}" for e in d["erased"]] or [
        "  no whole record; the person's fields were anonymised in the records kept below"
        if anonymised
        else "  nothing"
    ]
    if d["kept"]:
        lines.append("Kept:")
        for k in d["kept"]:
            until = f" until {k['until']}" if k["until"] else ""
            lines.append(f"  {k['table']}: {k['rows']} row(s) {k['action']}{until}: {k['reason']}")
    detached = d.get("references_detached") or []
    if detached:
        lines.append("References to the erased records from records that stay:")
        lines += [
            f"  {r['table']}.{r['column']}: {r['rows']} row(s) {r['action']}" for r in detached
        ]
    forgotten = d.get("ledger_identities_erased") or {}
    if any(forgotten.values()):
        lines.append(
            f"Ledger: the person's identities erased from {forgotten['holds']} finished hold(s)"
            f" and {forgotten['requests']} closed request(s)"
        )
    if d["notices"]:
        lines.append(
            "Recipients to inform (Art. 19): " + ", ".join(n["recipient"] for n in d["notices"])
        )
    return "\n".join(lines)


def _human_counts(d: dict[str, Any], key: str) -> str:
    rows = d[key]
    if not rows:
        return f"{key.capitalize()}: nothing"
    return "\n".join(
        [f"{key.capitalize()}:"] + [f"  {r['table']}: {r['rows']} row(s)" for r in rows]
    )
