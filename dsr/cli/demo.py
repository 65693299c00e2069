"""``dsr demo``: the demo database of the seed system, with every service run on demo people."""

from __future__ import annotations

from typing import Any

import click

from dsr.cli._common import AppContext, emit, json_option, pass_app


@click.command("demo", short_help="Build the demo database (SQLite) and run every service.")
@click.option(
    "--dir",
    "directory",
    default="demo-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory for the database and outputs.",
)
@click.option(
    "--scale",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Data volume: about 25,000 rows per unit.",
)
@click.option("--lang", type=click.Choice(["en", "de"]), default="en", show_default=True)
@json_option
@pass_app
def demo(app: AppContext, directory: str, scale: int, lang: str, as_json: bool) -> None:
    """Build the COMPAREX Cloud Center demo (SQLite) and run the services for demo people."""
    # imported here: the demo renders PDFs, and WeasyPrint costs every other command ~1-2 s
    from dsr.demo.run import run_demo
    from dsr.log import get, log_step

    log = get("demo")

    def say(message: str) -> None:
        log_step(log, "demo", message)

    result = run_demo(directory, scale, lang=lang, clock=app.clock, say=say)

    def human(r: Any) -> str:
        lines = [f"database: {r.database_url}", f"catalog:  {r.catalog}", "people:"]
        lines += [f"  {p.role}: {' '.join(p.identities)}" for p in r.people]
        lines += ["files:"] + [f"  {f}" for f in r.files]
        return "\n".join(lines)

    emit(result, as_json, human)
