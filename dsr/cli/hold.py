"""``dsr hold add|release|list``: legal holds that purges and erasures must respect."""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from dsr.cli._common import AppContext, emit, json_option, pass_app


@click.group("hold", short_help="Legal holds: what they cover is never purged or erased.")
def hold_group() -> None:
    """Legal holds (litigation, an authority's order): held rows are never purged or erased."""


@hold_group.command("add")
@click.option("--table", help="Catalogued table; alone it holds every row of it.")
@click.option("--key", "row_keys", multiple=True, metavar="K", help="Row key (repeatable).")
@click.option(
    "--identity",
    "identities",
    multiple=True,
    metavar="TYPE=VALUE",
    help="Hold every row about this person (with --table: only there).",
)
@click.option("--reason", required=True, help="Why (case reference; no personal data).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Review date (YYYY-MM-DD).")
@json_option
@pass_app
def hold_add(
    app: AppContext,
    table: str | None,
    row_keys: tuple[str, ...],
    identities: tuple[str, ...],
    reason: str,
    until: Any,
    as_json: bool,
) -> None:
    """Place a hold on a table, some of its rows, or a person."""
    hold_id = app.toolkit().ledger.hold(
        table=table,
        row_keys=row_keys or None,
        identities=identities or None,
        reason=reason,
        until=until.date() if until else None,
    )
    emit({"id": hold_id}, as_json, lambda d: f"hold {d['id']} placed")


@hold_group.command("release")
@click.argument("hold_id", type=int)
@json_option
@pass_app
def hold_release(app: AppContext, hold_id: int, as_json: bool) -> None:
    """Release a hold; its rows fall under their retention rules again."""
    app.toolkit().ledger.release(hold_id)
    emit({"released": hold_id}, as_json, lambda d: f"hold {d['released']} released")


@hold_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include released and lapsed holds.")
@json_option
@pass_app
def hold_list(app: AppContext, show_all: bool, as_json: bool) -> None:
    """List holds (people appear by pseudonym only)."""
    holds = app.toolkit().ledger.holds(active_only=not show_all)
    emit({"holds": holds}, as_json, _human)


def _human(data: dict[str, Any]) -> str:
    if not data["holds"]:
        return "no holds"
    rows = []
    for h in data["holds"]:
        scope = h["table"] or "all tables"
        if h["row_keys"]:
            scope += f" keys {', '.join(h['row_keys'])}"
        if h["person"]:
            scope += f" person {h['person']}"
        until = h["until"].isoformat() if isinstance(h["until"], date) else "-"
        state = "" if h["active"] else "  (not active)"
        rows.append(f"{h['id']:>4}  {scope}  until {until}  {h['reason']}{state}")
    return "\n".join(rows)
