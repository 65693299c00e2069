"""``dsr purge``: apply the catalog's retention rules (Art. 5(1)(e) GDPR)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import click

from dsr.cli._common import AppContext, emit, json_option, pass_app, progress_enabled
from dsr.errors import ConfigError

EXIT_WITHHELD = 3
EXIT_STOPPED = 143


@click.command("purge", short_help="Art. 5(1)(e): delete or anonymise what has expired.")
@click.option("--dry-run", is_flag=True, help="Print the plan (counts, withheld rows) only.")
@click.option(
    "--as-of",
    "as_of",
    metavar="TIMESTAMP",
    help="Evaluate as of this ISO time (naive: catalog time zone).",
)
@click.option("--vacuum", is_flag=True, help="Reclaim the space of purged rows afterwards.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    metavar="N",
    help="Primary-key span of a batch (default: adaptive, ~1 s each).",
)
@json_option
@pass_app
def purge_command(
    app: AppContext,
    dry_run: bool,
    as_of: str | None,
    vacuum: bool,
    batch_size: int | None,
    as_json: bool,
) -> int:
    """Delete or anonymise what has outlived its retention rule; holds and restrictions win.

    Expired or downloaded export packages in the export directory (DSR_EXPORT_DIR) go too.

    Exit codes: 0 done; 3 done, but expired rows were withheld (listed); 75 another purge or
    erasure holds the lock, nothing done; 143 stopped by SIGTERM after a whole batch (rerun
    to finish).
    """
    from dsr.retention.purge import StopFlag

    moment = _parse_as_of(as_of, app.catalog.timezone) if as_of else None
    stop = StopFlag()
    with _on_sigterm(stop):
        progress = _progress if progress_enabled() else None
        report = app.toolkit().purge(
            as_of=moment,
            dry_run=dry_run,
            vacuum=vacuum,
            batch_size=batch_size,
            stop=stop,
            progress=progress,
        )
    emit(report.to_json(), as_json, _human)
    if report.stopped:
        return EXIT_STOPPED
    return EXIT_WITHHELD if report.withheld else 0


@contextmanager
def _on_sigterm(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """SIGTERM calls ``handler`` for the block (the process is the CLI's, not the library's)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (an embedding caller)
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _parse_as_of(value: str, tz: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"not an ISO timestamp: {value!r}", where="--as-of") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(tz))


def _progress(step: Any, n: int) -> None:
    click.echo(
        f"\r{step.rule.id} on {step.table}: {step.done:,} of {step.rows:,} rows",
        err=True,
        nl=step.done >= step.rows,
    )


def _human(data: dict[str, Any]) -> str:
    verb = "would " if data["dry_run"] else ""
    lines = [f"Retention purge as of {data['as_of']}" + (" (dry run)" if data["dry_run"] else "")]
    for r in data["rules"]:
        lines.append(
            f"  {r['rule']:<26} {r['table']:<26} {verb}{r['action']} {r['rows']:>9,}"
            f"  withheld {r['withheld']:,}"
        )
        for w in r["withheld_reasons"]:
            lines.append(f"      {w['rows']:,} {w['reason']}")
        for d in r.get("references_detached", []):
            verb_d = d["action"].replace("unlinked", "unlink").replace("tombstoned", "tombstone")
            done = f"would {verb_d}" if data["dry_run"] else d["action"]
            lines.append(f"      {done} {d['rows']:,} reference(s) in {d['table']}.{d['column']}")
    if data["stopped"]:
        lines.append("Stopped after a whole batch (SIGTERM); run again to finish.")
    return "\n".join(lines)
