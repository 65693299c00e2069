"""Load test of ``dsr serve`` on loopback: many clients submitting, verifying and polling.

A server process (uvicorn, the portal app on the test suite's seed system with a ledger, mail
into an outbox folder, rate limits raised: every client comes from 127.0.0.1) and, in this
process, ``--clients`` concurrent clients for ``--seconds``. Each client loops: load the form,
submit a request under an address of its own, open the code page, read its code from the
outbox, confirm it, then poll the code page ``--polls`` times. Reports requests per second,
latency (min/p50/p95/max per kind of step, each client's first round left out: it meets a
cold server all at once), every error, and checks that no submission was
lost: every confirmed request is in the register, verified. Not part of CI::

    python bench/load_portal.py --clients 50 --seconds 60
    python bench/load_portal.py --url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(url: str, port: int, outbox: str) -> None:
    """The server process."""
    import uvicorn

    from dsr.catalog.loader import load_catalog
    from dsr.crypto.keys import StaticKeys
    from dsr.toolkit import Toolkit
    from dsr.web import Limits, create_app
    from dsr.web.mail import OutboxMailer

    tk = Toolkit(url, load_catalog(), StaticKeys(b"L" * 32))
    app = create_app(
        tk,
        OutboxMailer(outbox),
        base_url=f"http://127.0.0.1:{port}",
        limits=Limits(10**9, 10**9, 10**9, 10**9),
        threads=int(os.environ.get("DSR_LOAD_THREADS", "8")),
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


def _prepare(url: str | None, folder: Path) -> str:
    from _rights_seed import seed

    from dsr.db import connect
    from dsr.ledger.migrate import create_ledger

    if url is None:
        url = f"sqlite:///{folder}/load.db"
    elif not url.startswith("sqlite"):
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        name = f"dsr_load_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = make_url(url).set(database=name).render_as_string(hide_password=False)
    engine = connect(url)
    seed(engine)
    create_ledger(engine)
    engine.dispose()
    return url


class Codes:
    """Each client's code, read from the outbox by one background task (by the address the
    mail went to), so the clients' own timing is not spent scanning the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: set[str] = set()
        self.codes: dict[str, str] = {}

    def scan(self) -> None:
        if not self.folder.exists():
            return
        with os.scandir(self.folder) as entries:
            fresh = [e.path for e in entries if e.name.endswith(".eml") and e.name not in self.seen]
        for path in fresh:
            self.seen.add(os.path.basename(path))
            msg = email.message_from_bytes(Path(path).read_bytes(), policy=email.policy.default)
            body = msg.get_body(("plain",))
            found = re.search(r"^\s+(\d{6})\s*$", str(body.get_content()) if body else "", re.M)
            if found:
                self.codes[str(msg["To"])] = found.group(1)

    async def watch(self, until: float) -> None:
        while time.monotonic() < until + 5:
            self.scan()
            await asyncio.sleep(0.05)

    def get(self, address: str) -> str | None:
        return self.codes.pop(address, None)


async def client(
    n: int, base: str, until: float, polls: int, codes: Codes, stats: dict, done: list
) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        i = 0
        while time.monotonic() < until:
            i += 1
            address = f"load-{n}-{i}@example.org"

            counted = i > 1  # each client's first round meets a cold server all at once

            async def step(
                kind: str, method: str, path: str, counted: bool = counted, **kw: object
            ) -> httpx.Response:
                started = time.perf_counter()
                r = await http.request(method, path, **kw)  # type: ignore[arg-type]
                if counted:
                    stats.setdefault(kind, []).append(time.perf_counter() - started)
                if r.status_code >= 400:
                    stats.setdefault("errors", []).append(f"{kind} {r.status_code}")
                return r

            page = await step("form", "GET", "/")
            csrf = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
            await step(
                "submit",
                "POST",
                "/request",
                data={"csrf": csrf, "type": "access", "email": address},
            )
            await step("code page", "GET", "/verify")
            code = None
            for _ in range(250):
                code = codes.get(address)
                if code:
                    break
                await asyncio.sleep(0.02)
            if code is None:
                stats.setdefault("errors", []).append("no code mail")
                continue
            r = await step("verify", "POST", "/verify", data={"csrf": csrf, "code": code})
            found = re.search(r"R-(\d+)", r.text)
            if not found:
                stats.setdefault("errors", []).append("verify: no request number")
                continue
            done.append(int(found.group(1)))
            for _ in range(polls):
                await step("status poll", "GET", "/verify")


def _summary(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    p95 = values[max(0, int(round(0.95 * len(values))) - 1)]
    return {
        "n": len(values),
        "min_ms": round(values[0] * 1000, 1),
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "max_ms": round(values[-1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--polls", type=int, default=3)
    parser.add_argument("--url", help="a server database to build in (default: a SQLite file)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dsr-load-"))
    url = _prepare(args.url, folder)
    port = _free_port()
    outbox = folder / "outbox"
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, str(port), str(outbox)],
        env={**os.environ, "DSR_LOG_LEVEL": "warning"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        stats: dict = {}
        done: list[int] = []
        codes = Codes(outbox)
        started = time.monotonic()
        until = started + args.seconds

        async def run() -> None:
            watcher = asyncio.create_task(codes.watch(until))
            await asyncio.gather(
                *(
                    client(n, base, until, args.polls, codes, stats, done)
                    for n in range(args.clients)
                )
            )
            watcher.cancel()

        asyncio.run(run())
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(10)

    from sqlalchemy import select

    from dsr.db import connect
    from dsr.ledger.tables import requests

    engine = connect(url)
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(requests.c.id, requests.c.verified_at))}
    lost = [i for i in done if i not in rows or rows[i].verified_at is None]
    errors = stats.pop("errors", [])
    total = sum(len(v) for v in stats.values())
    print(
        json.dumps(
            {
                "engine": engine.dialect.name,
                "clients": args.clients,
                "seconds": round(elapsed, 1),
                "http_requests": total,
                "requests_per_second": round(total / elapsed, 1),
                "confirmed_submissions": len(done),
                "in_register": len(rows),
                "lost": len(lost),
                "errors": len(errors),
                "error_kinds": sorted(set(errors))[:10],
                "latency": {k: _summary(v) for k, v in stats.items()},
                "all": _summary([x for v in stats.values() for x in v]),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
