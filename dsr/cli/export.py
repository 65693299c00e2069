"""``dsr export IDENTITY...`` and ``dsr download TOKEN``: Art. 20 packages and their delivery."""

from __future__ import annotations

from typing import Any

import click

from dsr.cli._common import (
    AppContext,
    emit,
    identities_argument,
    json_option,
    pass_app,
    request_option,
)

EXIT_WITHHELD = 3

export_dir_option = click.option(
    "--export-dir",
    envvar="DSR_EXPORT_DIR",
    type=click.Path(file_okay=False),
    help="Where delivered packages are stored, encrypted (env DSR_EXPORT_DIR; default "
    "~/.local/share/dsr/exports).",
)


def _human(data: dict[str, Any]) -> str:
    lines = [data["message"]]
    for item in data.get("not_portable", []):
        lines.append(
            f"  not portable: {item['table']} ({', '.join(item['fields'])}): {item['message']}"
        )
    if data.get("file"):
        lines.append(f"wrote {data['file']}")
    if data.get("token"):
        lines.append(f"token (single-use, expires {data['expires_at']}):\n{data['token']}")
    return "\n".join(lines)


@click.command(
    "export",
    short_help="Art. 20: the person's package (JSON + CSV in a ZIP).",
)
@identities_argument
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="ZIP file to write (keep personal data out of its name).",
)
@click.option(
    "--deliver",
    is_flag=True,
    help="Store the package encrypted and print a single-use download token "
    "instead of writing a file.",
)
@click.option(
    "--expires",
    default="7d",
    show_default=True,
    help="How long a delivered package can be downloaded (e.g. 12h, 7d; at most 30d).",
)
@export_dir_option
@request_option
@json_option
@pass_app
def export_command(
    app: AppContext,
    identities: tuple[str, ...],
    output: str | None,
    deliver: bool,
    expires: str,
    export_dir: str | None,
    request_id: int | None,
    as_json: bool,
) -> int:
    """Export what the person provided, as JSON + CSV in a ZIP (data portability).

    Art. 20 GDPR: only the fields the catalog marks portable, of the parties the person is on.
    Exit code 3 when rows under restriction (Art. 18) were left out. When nothing about the
    person is portable, nothing is written and the output says why (exit code 0).
    """
    ctx = click.get_current_context()
    if deliver == bool(output):
        raise click.UsageError("give either -o FILE.zip or --deliver", ctx=ctx)
    from dsr.portability.delivery import parse_duration

    expiry = parse_duration(expires)
    toolkit = app.toolkit(export_dir)
    data: dict[str, Any]
    if deliver:
        delivery = toolkit.deliver(identities, expires=expiry, request_id=request_id)
        data = delivery.to_json()
        result = delivery.export
        assert result is not None  # a package, not a document
    else:
        assert output is not None
        result = toolkit.export(identities, output, request_id=request_id)
        data = {
            "file": None if result.nothing_portable else output,
            "expires_at": None,
            **result.to_json(),
        }
    if as_json:
        emit(data, True)
    elif deliver and data.get("token"):
        click.echo(data["token"])
        click.echo(data["message"], err=True)
    else:
        click.echo(_human(data))
    return EXIT_WITHHELD if result.restricted else 0


@click.command("download", short_help="Redeem a single-use download token (Art. 20).")
@click.argument("token")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    required=True,
    help="File to write the package to.",
)
@export_dir_option
@json_option
@pass_app
def download_command(
    app: AppContext, token: str, output: str, export_dir: str | None, as_json: bool
) -> None:
    """Redeem a single-use download token: decrypt the package to FILE and record it."""
    result = app.toolkit(export_dir).download(token, output)
    emit(result.to_json(), as_json, lambda d: f"wrote {d['file']} ({d['size']} bytes)")
