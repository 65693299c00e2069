"""Benchmark: the command line's own cost, process start to exit, against the library call.

Runs in fresh processes, alternating, several pairs (min/median/max):

* ``dsr --help``;
* ``dsr access EMAIL --format json`` on the demo database (a typical person);
* the same work from ``import dsr`` in a fresh process, reporting how long the library call
  itself took (``Toolkit.access``, first call: binding the catalog to the schema, the lookup
  and the audit entry) and a second, warm call (the lookup alone).

The CLI's overhead is the command's wall time minus the first library call. With
``--baseline DIR`` (a checkout of an older dsr, put first on PYTHONPATH) each command is also
timed for that version, pairs alternating, and the ratio new/old given pair by pair. Byte code
is written and reused, as an installed package has it. Not part of CI. Usage::

    python bench/bench_cli.py [--pairs 9] [--baseline /tmp/oldtree]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LIBRARY = """
import sys, time
t0 = time.perf_counter()
import dsr
tk = dsr.Toolkit("sqlite:///demo.db", None, key_file="secret.key")
t1 = time.perf_counter()
tk.access([sys.argv[1]], output_format="json")
t2 = time.perf_counter()
tk.access([sys.argv[1]], output_format="json")
t3 = time.perf_counter()
print(f'{{"import": {t1 - t0}, "first": {t2 - t1}, "warm": {t3 - t2}}}')
"""


def _env(pythonpath: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["DSR_LOG_LEVEL"] = "error"
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def _wall(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def _stats(values: list[float]) -> str:
    return f"min {min(values):.3f}  median {statistics.median(values):.3f}  max {max(values):.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=9)
    ap.add_argument("--baseline", help="checkout of an older dsr to compare with")
    ap.add_argument("--dir", help="demo directory (default: a new one in /tmp)")
    args = ap.parse_args()
    python = sys.executable
    demo = Path(args.dir or tempfile.mkdtemp(prefix="dsr-bench-cli-"))
    if not (demo / "demo.db").exists():
        subprocess.run(
            [python, "-m", "dsr", "-q", "demo", "--dir", str(demo)],
            check=True,
            env=_env(str(ROOT)),
            stdout=subprocess.DEVNULL,
        )
    with sqlite3.connect(demo / "demo.db") as db:
        (email,) = db.execute(
            "SELECT email FROM user_accounts ORDER BY id LIMIT 1 OFFSET 5"
        ).fetchone()
    commands = {
        "dsr --help": [python, "-m", "dsr", "--help"],
        "dsr access --format json": [python, "-m", "dsr", "access", email, "--format", "json"],
    }
    new_env = _env(str(ROOT))
    old_env = _env(args.baseline) if args.baseline else None
    for cmd in commands.values():  # warm-up: byte code written, file cache filled
        _wall(cmd, demo, new_env)
        if old_env:
            _wall(cmd, demo, old_env)
    print(f"{args.pairs} runs each, alternating; seconds, process start to exit")
    for name, cmd in commands.items():
        new, old, ratios = [], [], []
        for i in range(args.pairs):
            order = (
                [(new, new_env), (old, old_env)] if i % 2 == 0 else [(old, old_env), (new, new_env)]
            )
            times: dict[int, float] = {}
            for bucket, env in order:
                if env is None:
                    continue
                t = _wall(cmd, demo, env)
                bucket.append(t)
                times[id(bucket)] = t
            if old_env:
                ratios.append(times[id(new)] / times[id(old)])
        print(f"  {name:<26} now      {_stats(new)}")
        if old_env:
            print(f"  {'':<26} baseline {_stats(old)}")
            print(f"  {'':<26} ratio    {_stats(ratios)}")
    phases: dict[str, list[float]] = {"import": [], "first": [], "warm": []}
    for _ in range(args.pairs):
        out = subprocess.run(
            [python, "-c", LIBRARY, email],
            cwd=demo,
            env=new_env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for k, v in json.loads(out.strip().splitlines()[-1]).items():
            phases[k].append(v)
    print("library, fresh process (import dsr + Toolkit, then Toolkit.access twice):")
    for k, v in phases.items():
        print(f"  {k:<26} {_stats(v)}")
    cli = [_wall(commands["dsr access --format json"], demo, new_env) for _ in range(args.pairs)]
    overhead = statistics.median(cli) - statistics.median(phases["first"])
    print(
        f"CLI overhead of dsr access (median wall minus median first library call): "
        f"{overhead:.3f} s"
    )


if __name__ == "__main__":
    main()
