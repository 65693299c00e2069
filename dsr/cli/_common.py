"""Shared pieces of the command line: the context object, option decorators, output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import Engine

from dsr.catalog.loader import load_catalog
from dsr.catalog.model import Catalog
from dsr.clock import Clock, SystemClock
from dsr.db import connect, resolve_url
from dsr.ledger.keys import KeyProvider, key_provider

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    """What every command needs, built lazily from the global options."""

    catalog_path: str | None = None
    database_url: str | None = None
    key_file: str | None = None
    clock: Clock = field(default_factory=SystemClock)

    @cached_property
    def catalog(self) -> Catalog:
        path = self.catalog_path
        if path is None and Path("policies").is_dir() and any(Path("policies").glob("*.y*ml")):
            path = "policies"
        return load_catalog(path)

    @cached_property
    def url(self) -> str:
        return resolve_url(self.database_url)

    @cached_property
    def engine(self) -> Engine:
        return connect(self.url)

    @cached_property
    def keys(self) -> KeyProvider:
        return key_provider(self.key_file)


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
