"""The list of top-level commands; each lives in a module of its own under dsr/cli/."""

from __future__ import annotations

import click

from dsr.cli.access import access

ALL: list[click.Command] = [access]
