"""The list of top-level commands; each lives in a module of its own under dsr/cli/."""

from __future__ import annotations

import click

from dsr.cli.access import access
from dsr.cli.catalog import catalog
from dsr.cli.config import config_group
from dsr.cli.demo import demo
from dsr.cli.doctor import doctor_command
from dsr.cli.export import download_command, export_command
from dsr.cli.hold import hold_group
from dsr.cli.ledger import audit_group, init_command, migrate_command, request_group
from dsr.cli.letter import letter_command
from dsr.cli.purge import purge_command
from dsr.cli.rights import erase_command, rectify_command, residue_scan_command, restrict_group
from dsr.cli.serve import serve_command, user_group
from dsr.cli.suppression import suppression_group

ALL: list[click.Command] = [
    access,
    export_command,
    download_command,
    rectify_command,
    erase_command,
    residue_scan_command,
    restrict_group,
    purge_command,
    hold_group,
    suppression_group,
    request_group,
    letter_command,
    audit_group,
    serve_command,
    user_group,
    catalog,
    init_command,
    migrate_command,
    config_group,
    doctor_command,
    demo,
]
