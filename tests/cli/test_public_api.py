"""The curated public surface: sorted, importable, and every CLI verb has its function."""

from __future__ import annotations

import pytest

import dsr
from dsr.cli import cli


def test_all_is_sorted_and_every_name_exists() -> None:
    assert dsr.__all__ == sorted(dsr.__all__)
    missing = [name for name in dsr.__all__ if not hasattr(dsr, name)]
    assert missing == []


def test_cli_verbs_are_toolkit_methods() -> None:
    verbs = {"access", "erase", "export", "purge", "rectify", "restrict", "download"}
    assert verbs <= set(cli.commands)
    for verb in verbs | {"deliver", "lift", "check", "find", "write_notices"}:
        method = getattr(dsr.Toolkit, verb)
        assert callable(method), verb
        assert method.__doc__, f"Toolkit.{verb} has no docstring"
    for name in (
        "open_request",
        "request",
        "requests",
        "extend",
        "close",
        "hold",
        "release",
        "holds",
        "verify",
        "record",
        "init",
        "migrate",
        "state",
    ):
        assert getattr(dsr.Ledger, name).__doc__, f"Ledger.{name} has no docstring"


def test_import_dsr_loads_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dsr, dsr.cli; "
        "print(','.join(m for m in ('sqlalchemy', 'jinja2', 'weasyprint', 'faker', 'alembic', "
        "'cryptography', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert dsr.Toolkit.__module__ == "dsr.toolkit"
    with pytest.raises(AttributeError):
        dsr.no_such_name  # noqa: B018


def _commands(group, prefix=""):  # type: ignore[no-untyped-def]
    for name, command in group.commands.items():
        path = f"{prefix} {name}".strip()
        yield path, command
        if hasattr(command, "commands"):
            yield from _commands(command, path)


def test_every_summary_and_help_text_reads_without_markup_or_cuts() -> None:
    import click

    for path, command in _commands(cli):
        summary = command.get_short_help_str(limit=80)
        assert not summary.endswith(("Art.", "...", "(Art.")), (path, summary)
        texts = [
            command.help or "",
            *(p.help or "" for p in command.params if isinstance(p, click.Option)),
        ]
        assert not [t for t in texts if "``" in t or ":func:" in t or ":mod:" in t], path


def test_the_cli_reference_is_the_commands_own_help() -> None:
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "docs" / "cli_reference.py"
    check = runpy.run_path(str(script))["main"]
    assert check(["--check"]) == 0  # else: python docs/cli_reference.py


def test_every_command_is_documented_in_the_cli_reference() -> None:
    from pathlib import Path

    reference = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text("utf-8")

    def walk(group, prefix):  # type: ignore[no-untyped-def]
        for name, command in group.commands.items():
            path = f"{prefix} {name}".strip()
            yield path
            if hasattr(command, "commands"):
                yield from walk(command, path)

    undocumented = [p for p in walk(cli, "") if f"dsr {p}" not in reference]
    assert undocumented == []


def test_the_command_list_reads_as_a_table_of_contents(capsys: pytest.CaptureFixture[str]) -> None:
    from dsr.cli import main

    assert main(["--help"]) == 0
    listing = capsys.readouterr().out.split("Commands:\n", 1)[1].splitlines()
    summaries = [line.split(None, 1)[1] for line in listing if line.startswith("  ")]
    assert len(summaries) == len(cli.commands)
    for text in summaries:
        assert not text.endswith(("Art.", "...", "(Art.")), text  # never cut mid-sentence


def test_every_package_is_installed() -> None:
    """A package missing from pyproject's list works in a checkout and fails once installed."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^packages = \[(.*?)^\]", text, re.S | re.M)
    assert block is not None
    listed = set(re.findall(r'"([a-z_.]+)"', block.group(1)))
    found = {
        ".".join(p.parent.relative_to(root).parts) for p in (root / "dsr").rglob("__init__.py")
    }
    assert "dsr.removal" in found
    assert found - listed == set()
