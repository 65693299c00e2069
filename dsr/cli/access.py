"""``dsr access IDENTITY...``: the Art. 15 access report as JSON, HTML or PDF."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dsr.cli._common import AppContext, identities_argument, pass_app, request_option
from dsr.errors import KeyError_
from dsr.ledger.keys import KeyProvider
from dsr.render import FORMATS, render_html, render_json
from dsr.rights.access import access_report, ledger_present, record_access
from dsr.subject.graph import SubjectGraph


@click.command("access", short_help="Art. 15: everything held about a person (JSON, HTML, PDF).")
@identities_argument
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True,
              help="json (stdout by default), html (stdout or -o) or pdf (needs -o).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="File to write (keep personal data out of its name).")  # fmt: skip
@click.option("--lang", type=click.Choice(["en", "de"]), default="en", show_default=True,
              help="Language of the report.")  # fmt: skip
@request_option
@pass_app
def access(
    app: AppContext,
    identities: tuple[str, ...],
    fmt: str,
    as_json: bool,
    output: str | None,
    lang: str,
    request_id: int | None,
) -> None:
    """Art. 15 report: every row held about the person and what is done with it.

    The access is audited (pseudonymously) when the ledger exists or --request is given;
    --request also records the outcome on the request register.
    """
    if as_json and fmt != "json":
        raise click.UsageError("--json and --format " + fmt + " contradict each other")
    if fmt == "pdf" and not output:
        raise click.UsageError("--format pdf needs -o FILE", ctx=click.get_current_context())
    graph = SubjectGraph(app.catalog, app.engine)
    with app.engine.begin() as conn:
        ledger = ledger_present(conn)
        report = access_report(
            conn, app.catalog, graph, identities, lang=lang, clock=app.clock,
            request_id=request_id, keys=_usable_keys(app) if ledger else None,
        )  # fmt: skip
        if request_id is not None or ledger:
            record_access(conn, app.keys, report, clock=app.clock, output_format=fmt)
    if fmt == "pdf":
        from dsr.render.pdf import render_pdf

        data = render_pdf(report)
    else:
        data = render_json(report) if fmt == "json" else render_html(report).encode("utf-8")
    if output:
        Path(output).write_bytes(data)
        click.echo(f"dsr: wrote {fmt} report ({report.row_count} records) to {output}", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def _usable_keys(app: AppContext) -> KeyProvider | None:
    """The toolkit key if it can be read; without it the report omits the Art. 16 statements."""
    try:
        keys = app.keys
        keys.secret()
    except KeyError_:
        return None
    return keys
