"""``dsr letter KIND --request ID``: a letter to the data subject, recorded on the request."""

from __future__ import annotations

import click

from dsr.cli._common import AppContext, emit, json_option, pass_app, write_document
from dsr.rights import LETTER_KINDS, REFUSAL_GROUNDS


@click.command("letter", short_help="A letter to the person of a request (HTML or PDF, en/de).")
@click.argument("kind", type=click.Choice(LETTER_KINDS), metavar="KIND")
@click.option("--request", "request_id", type=int, required=True, metavar="ID")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf"]),
    default="html",
    show_default=True,
    help="html (stdout or -o) or pdf (needs -o).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="File to write, mode 0600 (keep personal data out of its name).",
)
@click.option(
    "--lang", type=click.Choice(["en", "de"]), default="en", show_default=True, help="Language."
)
@click.option(
    "--ground",
    "grounds",
    multiple=True,
    type=click.Choice(REFUSAL_GROUNDS),
    help="refusal: a ground with its article (repeatable).",
)
@click.option("--reason", "reasons", multiple=True, help="refusal: a reason in your words.")
@click.option("--partial", is_flag=True, help="refusal: the request is met only in part.")
@json_option
@pass_app
def letter_command(
    app: AppContext,
    kind: str,
    request_id: int,
    fmt: str,
    output: str | None,
    lang: str,
    grounds: tuple[str, ...],
    reasons: tuple[str, ...],
    partial: bool,
    as_json: bool,
) -> None:
    """Write a letter to the person of request ID and record on the request that it was made.

    KIND is acknowledgement (received, due by), extension (the reasons and the new due
    date, after 'dsr request extend'), identification (which records the identities given
    cannot search, and the identifier that would, Art. 11(2)), refusal (the grounds, the
    supervisory authority, the judicial remedy; needed before 'dsr request close ID
    --refused'), negative (nothing found, and how long the record of the request is kept) or
    completion (what the request's erasure, rectification, restriction or objection did and
    kept, and whom it told).
    """
    if fmt == "pdf" and not output:
        raise click.UsageError("--format pdf needs -o FILE", ctx=click.get_current_context())
    if fmt == "pdf":
        from dsr.render.pdf import html_to_pdf  # noqa: F401 - a missing extra is told first
    if kind != "refusal" and (grounds or reasons or partial):
        raise click.UsageError("--ground, --reason and --partial are for a refusal letter")
    letter, document = app.toolkit().ledger.letter(
        request_id, kind, lang=lang, fmt=fmt, grounds=grounds, reasons=reasons, partial=partial
    )
    write_document(document, output, f"wrote the {kind} letter for request {request_id}")
    if output and as_json:
        emit({"request": request_id, "kind": kind, "file": output, "lang": lang}, True)
