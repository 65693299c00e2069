"""``dsr catalog check`` and ``dsr catalog schema``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from dsr.cli._common import AppContext, emit, json_option, pass_app

if TYPE_CHECKING:
    from dsr.catalog.check import CheckReport, Finding

#: Widest ``where`` column of the readable table; a longer one gets a line of its own.
WHERE_WIDTH = 72


@click.group("catalog")
def catalog() -> None:
    """Check the catalog and print its JSON Schema."""


@catalog.command("check", short_help="Check the catalog against the live schema and Art. 13.")
@json_option
@pass_app
@click.pass_context
def check(ctx: click.Context, app: AppContext, as_json: bool) -> None:
    """Check the catalog against the live database and against Art. 13/14 GDPR.

    Errors (exit code 1): tables, columns, types or links the database contradicts.
    Warnings: uncatalogued columns and tables that look personal, links without a foreign
    key, and gaps in the information Art. 13/14 require.
    """
    report = app.toolkit().check()
    emit(report, as_json, human_report)
    if report.errors:
        ctx.exit(1)


@catalog.command("schema")
def schema() -> None:
    """Print the published JSON Schema of the catalog format."""
    from dsr.catalog.loader import json_schema

    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


def human_report(report: CheckReport) -> str:
    """The report as an aligned table: errors, then warnings, then a count line."""
    lines: list[str] = []
    width = min(
        WHERE_WIDTH, max((len(f.where) for f in report.errors + report.warnings), default=0)
    )
    for title, findings in (("Errors", report.errors), ("Warnings", report.warnings)):
        if not findings:
            continue
        lines.append(f"{title}:")
        lines.extend(_row(f, width) for f in findings)
        lines.append("")
    lines.append(
        f"{_count(len(report.errors), 'error')}, {_count(len(report.warnings), 'warning')}"
    )
    return "\n".join(lines)


def _row(f: Finding, width: int) -> str:
    if len(f.where) > width:
        return f"  {f.where}\n  {'':<{width}}  {f.message}"
    return f"  {f.where:<{width}}  {f.message}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
