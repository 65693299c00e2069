"""Regenerate the command sections of docs/cli.md from the command line's own --help.

    python docs/cli_reference.py           # rewrite docs/cli.md
    python docs/cli_reference.py --check   # exit 1 if docs/cli.md is out of date (a test runs it)

Everything before the first command section is hand-written and kept as it is.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click
from click.testing import CliRunner

from dsr.cli import cli

REFERENCE = Path(__file__).resolve().parent / "cli.md"
FIRST_SECTION = "\n## `dsr "


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name in sorted(group.commands):
        command = group.commands[name]
        path = f"{prefix} {name}".strip()
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


def sections() -> str:
    runner = CliRunner()
    out = []
    for path, _command in _commands(cli):
        result = runner.invoke(cli, [*path.split(), "--help"], prog_name="dsr", terminal_width=80)
        assert result.exit_code == 0, (path, result.output)
        out.append(f"## `dsr {path}`\n\n```\n{result.output.rstrip()}\n```\n")
    return "\n".join(out)


def rendered() -> str:
    text = REFERENCE.read_text(encoding="utf-8")
    head = text[: text.index(FIRST_SECTION) + 1] if FIRST_SECTION in text else text
    return head + sections()


def main(argv: list[str]) -> int:
    new = rendered()
    if "--check" in argv:
        if REFERENCE.read_text(encoding="utf-8") != new:
            print("docs/cli.md is out of date: run python docs/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    REFERENCE.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
