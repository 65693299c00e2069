"""``dsr serve``: the portal and console; ``dsr user``: the console's staff accounts."""

from __future__ import annotations

import os
import sys

import click

from dsr.cli._common import AppContext, emit, json_option, pass_app
from dsr.errors import MissingExtra


@click.command("serve", short_help="The portal for people and the console for staff (web).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--base-url",
    envvar="DSR_BASE_URL",
    help="The address people reach the portal at, for links in mails (env DSR_BASE_URL); "
    "https:// turns on Secure cookies and HSTS. Default: http://HOST:PORT.",
)
@click.option(
    "--forwarded-allow-ips",
    envvar="DSR_FORWARDED_ALLOW_IPS",
    default="127.0.0.1",
    show_default=True,
    help="Proxies whose X-Forwarded-For/-Proto are trusted (the client IP for rate limits).",
)
@click.option(
    "--outbox",
    type=click.Path(file_okay=False),
    help="Write mail as .eml files into this folder instead of sending it (development).",
)
@pass_app
def serve_command(
    app: AppContext,
    host: str,
    port: int,
    base_url: str | None,
    forwarded_allow_ips: str,
    outbox: str | None,
) -> None:
    """Serve the portal (/) and the staff console (/console) on the configured database.

    Mail goes out over SMTP as [mail] in dsr.toml says (or into --outbox / [mail] outbox).
    Staff accounts: dsr user add. Run behind a reverse proxy that terminates TLS.
    """
    try:
        import uvicorn

        from dsr.web import create_app
    except ImportError as exc:
        raise MissingExtra("serve", "starlette and uvicorn", "dsr serve") from exc
    from dsr.web.mail import OutboxMailer, mailer_from

    toolkit = app.toolkit()
    toolkit.ledger.require()
    settings = app.settings.mail
    mailer = (
        OutboxMailer(outbox, settings.sender or "privacy@localhost")
        if outbox
        else mailer_from(settings)
    )
    url = base_url or f"http://{host}:{port}"
    web = create_app(toolkit, mailer, base_url=url)
    click.echo(f"dsr: serving the portal at {url}/ and the console at {url}/console", err=True)
    uvicorn.run(
        web,
        host=host,
        port=port,
        access_log=False,  # dsr's own access log names routes, never paths with tokens
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
        log_config=None,
    )


@click.group("user", short_help="Staff accounts of the console (dsr serve).")
def user_group() -> None:
    """Staff accounts: support prepares answers, a DPO approves what reaches the person or
    erases data."""


@user_group.command("add")
@click.argument("name")
@click.option(
    "--role", type=click.Choice(["support", "dpo"]), required=True, help="support or dpo."
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from stdin (scripts); otherwise it is asked for twice.",
)
@json_option
@pass_app
def user_add(app: AppContext, name: str, role: str, password_stdin: bool, as_json: bool) -> None:
    """Create a staff account NAME with a password of at least 12 characters."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif os.environ.get("DSR_NEW_PASSWORD"):
        password = os.environ["DSR_NEW_PASSWORD"]
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = app.toolkit().ledger.add_user(name, role, password)
    emit(
        {"name": user.name, "role": user.role},
        as_json,
        lambda d: f"added {d['name']} ({d['role']})",
    )


@user_group.command("list")
@json_option
@pass_app
def user_list(app: AppContext, as_json: bool) -> None:
    """Staff accounts with their roles (no passwords, not even hashed)."""
    emit({"users": app.toolkit().ledger.users()}, as_json, _users_text)


def _users_text(data: dict[str, list[dict[str, object]]]) -> str:
    lines = [
        "\t".join([str(u["name"]), str(u["role"])] + (["disabled"] if u["disabled"] else []))
        for u in data["users"]
    ]
    return "\n".join(lines) or "no staff accounts"


@user_group.command("disable")
@click.argument("name")
@pass_app
def user_disable(app: AppContext, name: str) -> None:
    """Disable an account and end its sessions at once."""
    app.toolkit().ledger.disable_user(name)
    click.echo(f"dsr: disabled {name}", err=True)
