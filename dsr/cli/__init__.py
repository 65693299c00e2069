"""The ``dsr`` command line: a thin shell over the library (see ../shared/CLI.md).

Every command parses options, builds the context with :mod:`dsr.cli._common`, calls one
library function and renders its result. Errors are translated to messages and exit codes
here, in one place: 0 done, 1 error (nothing changed), 2 usage, 3 done but something was
withheld, 75 another run holds the lock.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from dsr.cli._common import AppContext
from dsr.errors import DSRError, is_database_error
from dsr.log import FORMATS

EXIT_WITHHELD = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--catalog",
    "catalog",
    envvar="DSR_CATALOG",
    type=click.Path(dir_okay=True, file_okay=True),
    help="Catalog file or folder of YAML files (env DSR_CATALOG). Default: ./policies if it "
    "exists, else the bundled example catalog.",
)
@click.option(
    "--database-url",
    "database_url",
    help="SQLAlchemy URL of the database (env DSR_DATABASE_URL, then DATABASE_URL).",
)
@click.option(
    "--key-file",
    "key_file",
    envvar="DSR_KEY_FILE",
    type=click.Path(dir_okay=False),
    help="Toolkit secret key file (env DSR_KEY_FILE; or the secret itself in DSR_SECRET). "
    "Default: ~/.config/dsr/secret.key.",
)
@click.option(
    "--config",
    "config",
    envvar="DSR_CONFIG",
    type=click.Path(dir_okay=False),
    help="Configuration file (env DSR_CONFIG). Default: ./dsr.toml, else [tool.dsr] in "
    "./pyproject.toml. Options and environment variables take precedence over it.",
)
@click.option("-v", "--verbose", count=True, help="More log detail: -v debug.")
@click.option(
    "-q", "--quiet", count=True, help="Less log detail: -q warnings and errors, -qq errors only."
)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    envvar="DSR_LOG_FORMAT",
    help="Log lines on stderr: text (timestamped when not a terminal) or json, one object per "
    "line (env DSR_LOG_FORMAT). Level: -v/-q, else env DSR_LOG_LEVEL, else the config file.",
)
@click.version_option(package_name="dsr")
@click.pass_context
def cli(
    ctx: click.Context,
    catalog: str | None,
    database_url: str | None,
    key_file: str | None,
    config: str | None,
    verbose: int,
    quiet: int,
    log_format: str | None,
) -> None:
    """dsr: GDPR data-subject rights over the SQL databases a catalog describes."""
    app = AppContext(
        catalog_path=catalog, database_url=database_url, key_file=key_file, config_path=config
    )
    ctx.obj = app
    _configure_logging(app, verbose, quiet, log_format)


def _configure_logging(app: AppContext, verbose: int, quiet: int, fmt: str | None) -> None:
    import os

    from dsr import log
    from dsr.config import FileSettings

    if verbose and quiet:
        raise click.UsageError("-v and -q contradict each other")
    try:
        settings = app.settings
    except DSRError:
        settings = FileSettings()  # reported by the command that needs the file
    if verbose:
        level = "debug"
    elif quiet:
        level = "warning" if quiet == 1 else "error"
    else:
        level = (os.environ.get("DSR_LOG_LEVEL") or settings.log_level or "info").lower()
        if level not in log.LEVELS:
            raise click.UsageError(
                f"DSR_LOG_LEVEL must be one of {', '.join(log.LEVELS)}, not {level!r}"
            )
    log.configure(level, (fmt or settings.log_format or "text").lower())


def _register() -> None:
    from dsr.cli import commands

    for command in commands.ALL:
        cli.add_command(command)


_register()


#: Young-generation threshold of the CLI's own process (CPython's default is 700). Reading
#: a person's 100,000 log rows builds as many small dicts, and at the default the collector
#: rescans them over and over (0.35 s of a 0.85 s lookup); they form no cycles. The library
#: itself never touches the collector: an embedding process tunes its own.
GC_THRESHOLD = (50_000, 20, 100)


@contextmanager
def _command_process() -> Iterator[None]:
    """What the CLI sets for its process while a command runs, restored afterwards."""
    previous = gc.get_threshold()
    gc.freeze()  # what import left behind is never garbage
    gc.set_threshold(*GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dsr`` console script; returns the exit code."""
    with _command_process():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:
        result = cli.main(args=argv, prog_name="dsr", standalone_mode=False)
    except DSRError as exc:
        _error(str(exc))
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("dsr: aborted", err=True)
        return 1
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if not is_database_error(exc):
            raise
        from dsr.db import describe_database_error

        # never the SQL's bound parameters or the driver's quote of a row: see db.py
        _error(describe_database_error(exc))
        return 1
    return int(result) if isinstance(result, int) else 0


def _error(message: str) -> None:
    """The one error line on stderr: plain text, or a JSON log record with --log-format json."""
    from dsr import log

    if log.active_format() == "json":
        log.get("cli").error(message, extra={"step": "error"})
    else:
        click.echo(f"dsr: error: {message}", err=True)


def run() -> None:
    sys.exit(main())
