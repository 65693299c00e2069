"""Shared pieces of the command line: the context object, option decorators, output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dsr.clock import Clock, SystemClock
from dsr.config import FileSettings, expand_references, find_config, load_config

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from dsr.catalog.model import Catalog
    from dsr.crypto.keys import KeyProvider
    from dsr.toolkit import Toolkit

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    """What every command needs, built lazily from the global options and the config file.

    Each setting comes from the command-line option, else its environment variable (click reads
    both into the fields below), else the configuration file (:mod:`dsr.config`), else the
    default; nothing is read or connected before a command needs it.
    """

    catalog_path: str | None = None
    database_url: str | None = None
    key_file: str | None = None
    config_path: str | None = None
    clock: Clock = field(default_factory=SystemClock)
    _toolkit: Toolkit | None = field(default=None, init=False, repr=False)

    @cached_property
    def settings(self) -> FileSettings:
        return load_config(find_config(self.config_path))

    @cached_property
    def catalog_source(self) -> tuple[str | None, str]:
        """The catalog path in effect and where it came from."""
        if self.catalog_path is not None:
            return self.catalog_path, "option or DSR_CATALOG"
        if self.settings.catalog is not None:
            return self.settings.catalog, f"file {self.settings.path}"
        if Path("policies").is_dir() and any(Path("policies").glob("*.y*ml")):
            return "policies", "./policies"
        return None, "bundled example catalog"

    @property
    def catalog(self) -> Catalog:
        return self.toolkit().catalog

    @cached_property
    def url(self) -> str:
        from dsr.db import resolve_url

        return expand_references(
            resolve_url(self.database_url, fallback=self.settings.database_url)
        )

    @cached_property
    def engine(self) -> Engine:
        from dsr.db import connect

        return connect(self.url)

    @cached_property
    def key_file_path(self) -> str | None:
        """The key file named by option, DSR_KEY_FILE or (unless DSR_SECRET is set) the file."""
        from dsr.crypto.keys import SECRET_ENV

        if self.key_file is not None or os.environ.get(SECRET_ENV):
            return self.key_file
        return self.settings.key_file

    @cached_property
    def keys(self) -> KeyProvider:
        from dsr.crypto.keys import key_provider

        return key_provider(self.key_file_path)

    def export_dir(self, option: str | None) -> str | None:
        """The export directory: --export-dir or DSR_EXPORT_DIR, else the file, else default."""
        from dsr.portability.storage import EXPORT_DIR_ENV

        return option or os.environ.get(EXPORT_DIR_ENV) or self.settings.export_dir

    def toolkit(self, export_dir: str | None = None) -> Toolkit:
        """The :class:`~dsr.toolkit.Toolkit` every command runs on, built on first use from
        the settings above (``export_dir``: a command's --export-dir, which wins)."""
        if self._toolkit is None:
            from dsr.toolkit import Toolkit

            self._toolkit = Toolkit(
                self.engine,
                self.catalog_source[0],
                self.keys,
                clock=self.clock,
                storage=self.export_dir(export_dir),
            )
        return self._toolkit


pass_app = click.make_pass_decorator(AppContext)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")(f)


def identities_argument(f: F) -> F:
    return click.argument("identities", nargs=-1, required=True, metavar="IDENTITY...")(f)


def request_option(f: F) -> F:
    return click.option(
        "--request",
        "request_id",
        type=int,
        help="Request register id to record the outcome on.",
    )(f)


def write_document(data: bytes, output: str | None, said: str) -> None:
    """A document to ``output`` (mode 0600, written aside and renamed; ``said`` goes to
    stderr), or to stdout without one: reports, letters and records hold personal data."""
    if output:
        from dsr.portability.storage import write_private

        write_private(Path(output), data)
        click.echo(f"dsr: {said} to {output}", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def require_writable_folder(target: str, param_hint: str) -> None:
    """Refuse, before anything is changed, a file whose folder cannot be written: a letter or
    receipt that fails after the work is done would leave the work without its document."""
    folder = Path(target).parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise click.BadParameter(f"cannot write into {folder}", param_hint=param_hint)


def to_jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "to_json"):
        return to_jsonable(value.to_json())
    return value


def emit(data: Any, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
    """Print ``data`` as JSON on stdout, or in readable form."""
    if as_json or human is None:
        click.echo(json.dumps(to_jsonable(data), indent=2, ensure_ascii=False))
    else:
        click.echo(human(data))


def progress_enabled() -> bool:
    return sys.stderr.isatty()
