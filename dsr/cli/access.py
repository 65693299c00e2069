"""``dsr access IDENTITY...``: the Art. 15 access report as JSON, HTML or PDF."""

from __future__ import annotations

import click

from dsr.cli._common import (
    AppContext,
    identities_argument,
    pass_app,
    request_option,
    write_document,
)
from dsr.render import FORMATS


@click.command("access", short_help="Art. 15: everything held about a person (JSON, HTML, PDF).")
@identities_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    help="json (stdout by default), html (stdout or -o) or pdf (needs -o).",
)
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="File to write (keep personal data out of its name).",
)
@click.option(
    "--lang",
    type=click.Choice(["en", "de"]),
    default="en",
    show_default=True,
    help="Language of the report.",
)
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
    if fmt == "pdf":
        from dsr.render.pdf import render_pdf  # a missing extra is told before any work

    report = app.toolkit().access(identities, lang=lang, request_id=request_id, output_format=fmt)
    if fmt == "pdf":
        data = render_pdf(report)
    elif fmt == "html":
        from dsr.render.html import render_html

        data = render_html(report).encode("utf-8")
    else:
        from dsr.render.jsonout import render_json

        data = render_json(report)
    write_document(data, output, f"wrote {fmt} report ({report.row_count} records)")
