"""``dsr config show``: the settings in effect, where each came from, secrets masked."""

from __future__ import annotations

import os
from typing import Any

import click

from dsr.cli._common import AppContext, emit, json_option, pass_app


@click.group("config", short_help="The settings in effect and where they came from.")
def config_group() -> None:
    """The configuration: options, environment variables, dsr.toml (in that order)."""


def _source(name: str, env: str | None, app: AppContext, in_file: bool) -> str:
    root = click.get_current_context().find_root()
    origin = root.get_parameter_source(name)
    if origin is not None and origin.name == "COMMANDLINE":
        return f"option --{name.replace('_', '-')}"
    if origin is not None and origin.name == "ENVIRONMENT" and env:
        return f"env {env}"
    if in_file:
        return f"file {app.settings.path}"
    return "default"


def _effective(app: AppContext) -> dict[str, Any]:
    from dsr.crypto.keys import KEY_FILE_ENV, SECRET_ENV, default_key_file
    from dsr.db import URL_ENV, redact_url
    from dsr.portability.storage import EXPORT_DIR_ENV, default_export_dir

    settings = app.settings
    out: dict[str, Any] = {"file": str(settings.path) if settings.path else None}

    url_env = next((k for k in URL_ENV if os.environ.get(k)), None)
    if app.database_url:
        url_source = "option --database-url"
    elif url_env:
        url_source = f"env {url_env}"
    elif settings.database_url:
        url_source = f"file {settings.path}"
    else:
        url_source = "not set"
    url = app.url if url_source != "not set" else None
    out["database_url"] = {"value": redact_url(url) if url else None, "source": url_source}

    catalog, origin = app.catalog_source
    if app.catalog_path is not None:  # option or environment: ask click which
        origin = _source("catalog", "DSR_CATALOG", app, False)
    out["catalog"] = {"value": catalog or "(bundled example)", "source": origin}

    if app.key_file is None and os.environ.get(SECRET_ENV):
        out["key"] = {
            "value": "(secret from the environment, masked)",
            "source": f"env {SECRET_ENV}",
        }
    else:
        path = app.key_file_path or str(os.environ.get(KEY_FILE_ENV) or default_key_file())
        in_file = app.key_file is None and settings.key_file is not None
        out["key"] = {
            "value": path,
            "source": _source("key_file", KEY_FILE_ENV, app, in_file),
        }

    export_env = os.environ.get(EXPORT_DIR_ENV)
    out["export_dir"] = {
        "value": app.export_dir(None) or str(default_export_dir()),
        "source": f"env {EXPORT_DIR_ENV}"
        if export_env
        else (f"file {settings.path}" if settings.export_dir else "default"),
    }
    out["mail"] = settings.mail.to_json() if settings.mail.configured else None
    return out


@config_group.command("show", short_help="Print the effective settings, secrets masked.")
@json_option
@pass_app
def config_show(app: AppContext, as_json: bool) -> None:
    """Print the settings in effect and where each came from; passwords and keys are masked.

    Precedence: command-line option, then environment variable, then the configuration file
    (--config, DSR_CONFIG, ./dsr.toml or [tool.dsr] in ./pyproject.toml), then the default.
    """
    data = _effective(app)

    def human(d: dict[str, Any]) -> str:
        lines = [f"configuration file: {d['file'] or '(none)'}"]
        for key in ("database_url", "catalog", "key", "export_dir"):
            entry = d[key]
            lines.append(f"{key:<13} {entry['value'] or '-'}  ({entry['source']})")
        if d["mail"]:
            mail = d["mail"]
            target = mail["outbox"] or f"{mail['host']}:{mail['port']}"
            lines.append(f"{'mail':<13} {target}  (file {d['file']})")
        return "\n".join(lines)

    emit(data, as_json, human)
