"""The destructive-run lock: exclusive per database, released on exit and when the holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from dsr.db import connect
from dsr.errors import LockBusy
from dsr.ledger.lock import exclusive


def test_second_holder_is_refused_and_lock_is_released(db_url: str) -> None:
    a = connect(db_url)
    b = connect(db_url)
    try:
        with exclusive(a):
            with pytest.raises(LockBusy) as info, exclusive(b):
                pass
            assert info.value.exit_code == 75
        with exclusive(b):  # released on exit
            pass
    finally:
        a.dispose()
        b.dispose()


def test_other_names_do_not_conflict(db_url: str) -> None:
    a = connect(db_url)
    b = connect(db_url)
    try:
        with exclusive(a, "one"), exclusive(b, "two"):
            pass
    finally:
        a.dispose()
        b.dispose()


def test_in_memory_sqlite_uses_a_process_lock() -> None:
    engine = connect("sqlite://")
    with exclusive(engine):
        with pytest.raises(LockBusy), exclusive(engine):
            pass
    with exclusive(engine):
        pass


def test_a_killed_holder_leaves_no_stale_lock(db_url: str) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from dsr.db import connect
        from dsr.ledger.lock import exclusive
        with exclusive(connect({db_url!r})):
            print("held", flush=True)
            time.sleep(120)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        engine = connect(db_url)
        with pytest.raises(LockBusy), exclusive(engine):
            pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while True:  # the server notices the dropped session within moments
            try:
                with exclusive(engine):
                    break
            except LockBusy:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        engine.dispose()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
