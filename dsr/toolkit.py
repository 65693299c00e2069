"""The one way in: a :class:`Toolkit` binds a catalog to a database and offers every right.

    import dsr
    tk = dsr.Toolkit("sqlite:///crm.db", "policies/", key_file="secret.key")
    report = tk.access(["jane@example.com"])          # Art. 15, audited
    plan = tk.erase(["jane@example.com"], request_id=7)  # Art. 17, locked, one transaction
    tk.ledger.open_request(type="access", identities=["email=jane@example.com"],
                           received=date(2026, 12, 1))

A toolkit is built once per process (a web worker, a scheduler, the CLI) and reused: the
catalog is bound to the live schema on first use (one reflection), and what services learn of
the schema beyond the catalogued tables (foreign keys, the ledger's version) is cached with it.
Build a new toolkit after a migration of the application's schema.

Every service records itself: destructive ones (erase, rectify, restrict, lift, purge) and
deliveries need the ledger (``dsr init``) and write an audit entry and, with ``request_id``, the
outcome on the request register in the same transaction; access reports and exports are
recorded whenever the ledger exists (or a request is named), and work without one.

The toolkit has no process-wide side effects: it installs no signal handler and leaves the
garbage collector alone. A long purge is stopped between batches by setting the
:class:`~dsr.retention.purge.StopFlag` passed to :meth:`Toolkit.purge` (the CLI sets it on
SIGTERM).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

from sqlalchemy import Connection, Engine

from dsr.catalog.model import Catalog
from dsr.clock import Clock, SystemClock
from dsr.subject.identity import Identity

if TYPE_CHECKING:
    from dsr.catalog.bind import LiveSchema
    from dsr.catalog.check import CheckReport
    from dsr.crypto.keys import KeyProvider
    from dsr.ledger import LedgerInit
    from dsr.ledger.audit import AuditVerdict
    from dsr.ledger.migrate import LedgerState, Migration
    from dsr.ledger.requests import Request
    from dsr.ledger.staff import StaffUser
    from dsr.letters import Letter
    from dsr.portability.delivery import Delivery, Download
    from dsr.portability.scope import ExportResult
    from dsr.portability.storage import PackageStorage
    from dsr.retention.purge import Progress, PurgeReport, StopFlag
    from dsr.rights.access import AccessReport
    from dsr.rights.erase import ErasurePlan, StepHook
    from dsr.rights.notices import Notice
    from dsr.rights.rectify import Assignment, RectificationPlan
    from dsr.rights.residue import ResidueReport
    from dsr.rights.restrict import RestrictionResult
    from dsr.subject.graph import SubjectGraph, SubjectRecord

Identities = Sequence[Identity | str]
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _translated(fn: F) -> F:
    """``fn`` raising :class:`~dsr.errors.DatabaseError` (a DSRError naming the step, never a
    value) where the database refused or failed, instead of SQLAlchemy's own exception."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            from dsr.errors import DatabaseError, is_database_error

            if not is_database_error(exc):
                raise
            from dsr.db import describe_database_error

            raise DatabaseError(describe_database_error(exc)) from exc

    return cast(F, call)


_FRAMES = {"destructive", "acting_as"}


def _database_errors(cls: type[T]) -> type[T]:
    """Every public method of ``cls`` translated by :func:`_translated`."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and name not in _FRAMES and inspect.isfunction(member):
            setattr(cls, name, _translated(member))
    return cls


@_database_errors
class Toolkit:
    """Every data-subject right over one database and one catalog.

    ``engine``: an SQLAlchemy engine or a database URL. ``catalog``: a loaded
    :class:`~dsr.catalog.model.Catalog`, a catalog file or directory, or None for the bundled
    example. ``keys``: a key provider (:class:`~dsr.crypto.keys.StaticKeys`,
    :class:`~dsr.crypto.keys.FileKeys`); without it the key comes from ``key_file``, else
    ``DSR_SECRET``, ``DSR_KEY_FILE`` or the default key file. ``storage``: where delivered
    Art. 20 packages are kept (a :class:`~dsr.portability.storage.PackageStorage` or a
    directory); None means the default export directory (``DSR_EXPORT_DIR``). ``clock``: what
    "now" is (tests pin it). Nothing is loaded, read or connected before a service needs it.
    """

    def __init__(
        self,
        engine: Engine | str,
        catalog: Catalog | str | Path | None = None,
        keys: KeyProvider | None = None,
        *,
        key_file: str | Path | None = None,
        clock: Clock | None = None,
        storage: PackageStorage | str | Path | None = None,
    ) -> None:
        self._engine_arg = engine
        self._catalog = catalog
        self.clock: Clock = clock or SystemClock()
        self._keys = keys
        self._key_file = key_file
        self._storage = storage
        #: what services learn of the live schema beyond the catalog (foreign keys, the
        #: ledger's version), shared by the graph and the ledger facade
        self.schema_cache: dict[str, Any] = {}

    # -- what the services share ---------------------------------------------------------

    @cached_property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (made from the URL on first use)."""
        if isinstance(self._engine_arg, str):
            from dsr.db import connect

            return connect(self._engine_arg)
        return self._engine_arg

    def acting_as(self, actor: str) -> AbstractContextManager[None]:
        """Name the staff member (or system) acting, for every audit entry written in the
        ``with`` block on this thread or task: ``with tk.acting_as("dpo:a.schmidt"): ...``.
        Without it the actor is ``DSR_ACTOR`` or the OS user."""
        from dsr.ledger.audit import acting_as

        return acting_as(actor)

    @cached_property
    def catalog(self) -> Catalog:
        """The catalog as written (loaded on first use); :attr:`bound_catalog` is the one
        settled against the live schema."""
        if isinstance(self._catalog, Catalog):
            return self._catalog
        from dsr.catalog.loader import load_catalog

        return load_catalog(self._catalog)

    @cached_property
    def keys(self) -> KeyProvider:
        """The toolkit secret's provider (resolved on first use; see the class)."""
        if self._keys is not None:
            return self._keys
        from dsr.crypto.keys import key_provider

        return key_provider(self._key_file)

    @cached_property
    def storage(self) -> PackageStorage:
        """Where delivered packages are kept, encrypted."""
        if self._storage is None or isinstance(self._storage, str | Path):
            from dsr.portability.storage import DirectoryStorage

            return DirectoryStorage(self._storage)
        return self._storage

    @cached_property
    def live(self) -> LiveSchema:
        """The live schema's tables, each reflected once, shared by the graph and the check."""
        from dsr.catalog.bind import LiveSchema

        return LiveSchema()

    @cached_property
    def graph(self) -> SubjectGraph:
        """The subject graph: the catalog bound to the live schema (reflected once)."""
        from dsr.subject.graph import SubjectGraph

        graph = SubjectGraph(self.catalog, self.engine, self.live)
        graph.schema_cache = self.schema_cache
        return graph

    @property
    def bound_catalog(self) -> Catalog:
        """The catalog with every table's key settled against the live schema."""
        return self.graph.catalog

    @cached_property
    def ledger(self) -> Ledger:
        """The request register, legal holds, the audit trail and the ledger's version."""
        return Ledger(self)

    def usable_keys(self) -> KeyProvider | None:
        """The key if it can be read, else None (reports then omit what needs it)."""
        from dsr.errors import KeyError_

        try:
            self.keys.secret()
        except KeyError_:
            return None
        return self.keys

    @contextmanager
    def destructive(self) -> Iterator[Connection]:
        """The frame of destructive work: current ledger, the destructive-work lock (shared
        by erasures, rectifications and purges; :class:`~dsr.errors.LockBusy` when taken) and
        one transaction, committed on success and rolled back, with nothing changed, on error.
        """
        from dsr.ledger.lock import destructive_transaction

        with destructive_transaction(self.engine, self.schema_cache) as conn:
            yield conn

    # -- the catalog ---------------------------------------------------------------------

    def check(self) -> CheckReport:
        """The catalog against the live schema and Art. 13/14 (``dsr catalog check``)."""
        from dsr.catalog.check import check_catalog

        return check_catalog(self.catalog, self.engine, self.live)

    def find(self, identities: Identities) -> SubjectRecord:
        """Every row about the person, as the subject graph finds it (nothing recorded)."""
        with self.engine.connect() as conn:
            return self.graph.resolve(conn, identities)

    # -- Art. 15 and 20 ------------------------------------------------------------------

    def access(
        self,
        identities: Identities,
        *,
        lang: str = "en",
        request_id: int | None = None,
        output_format: str = "json",
        record: bool | None = None,
    ) -> AccessReport:
        """The Art. 15 report (render it with :mod:`dsr.render`).

        Recorded in the audit trail (and on the request) in the same transaction when the
        ledger exists or ``request_id`` is given; ``record=False`` never records, ``True``
        requires the ledger. ``output_format`` is what the audit entry says was produced.
        """
        from dsr.rights.access import access_report, record_access

        graph = self.graph  # bound (reflected) before the transaction starts
        with self.engine.begin() as conn:
            ledger = self.ledger.present(conn)
            report = access_report(
                conn,
                self.catalog,
                graph,
                identities,
                lang=lang,
                clock=self.clock,
                request_id=request_id,
                keys=self.usable_keys() if ledger else None,
            )
            if _recorded(record, request_id, ledger):
                record_access(
                    conn, self.keys, report, clock=self.clock, output_format=output_format
                )
        return report

    def export(
        self,
        identities: Identities,
        out: BinaryIO | str | Path,
        *,
        request_id: int | None = None,
        record: bool | None = None,
    ) -> ExportResult:
        """The Art. 20 package (JSON + CSV in a ZIP) written to ``out``; recorded as access is."""
        from dsr.portability.export import export_package, record_export

        graph = self.graph
        with self.engine.begin() as conn:
            result = export_package(
                conn, self.catalog, graph, identities, out, clock=self.clock, request_id=request_id
            )
            if _recorded(record, request_id, self.ledger.present(conn)):
                record_export(conn, self.keys, result, clock=self.clock)
        return result

    def deliver(
        self,
        identities: Identities,
        *,
        expires: timedelta | None = None,
        request_id: int | None = None,
    ) -> Delivery:
        """Store the package encrypted in :attr:`storage`; the result carries the single-use
        download token (needs the ledger)."""
        from dsr.portability.delivery import DEFAULT_EXPIRY, deliver

        self.ledger.require()
        with self.engine.begin() as conn:
            return deliver(
                conn,
                self.catalog,
                self.graph,
                identities,
                self.storage,
                self.keys,
                clock=self.clock,
                expires=expires or DEFAULT_EXPIRY,
                request_id=request_id,
            )

    def download(self, token: str, out: str | Path) -> Download:
        """Redeem a download token: decrypt the package to ``out`` (recorded; single use)."""
        from dsr.portability.delivery import download

        return download(self.engine, self.storage, self.keys, token, out, clock=self.clock)

    # -- suppression (issue: erased people are not re-created) ---------------------------

    def suppressed(self, identities: Sequence[str | Identity]) -> list[Identity]:
        """Those of ``identities`` an erasure suppressed: an importer, CRM sync or sign-up
        flow refuses to re-create them (``dsr suppression check``). Normalised as the catalog
        normalises them (``Jane@Example.com`` is ``jane@example.com``)."""
        from dsr.ledger.suppression import suppressed
        from dsr.subject.identity import parse_identities

        ids = parse_identities(identities, self.catalog)
        self.ledger.require()
        with self.engine.connect() as conn:
            return suppressed(conn, self.keys, ids)

    def is_suppressed(self, *identities: str | Identity) -> bool:
        """Whether any of ``identities`` belongs to an erased person not to be re-created."""
        return bool(self.suppressed(identities))

    # -- residue (what an erasure may leave in files) -------------------------------------

    def residue_scan(
        self,
        identities: Sequence[str | Identity],
        *,
        values: Sequence[str] = (),
        paths: Sequence[str | Path] = (),
        request_id: int | None = None,
        receipt_id: int | None = None,
    ) -> ResidueReport:
        """Scan the files dsr can reach for the person's values (:mod:`dsr.rights.residue`)
        and record the result in the audit trail (counts and places, never a value)."""
        from dsr.crypto.keys import pseudonym
        from dsr.ledger.audit import append
        from dsr.rights.residue import residue_scan
        from dsr.subject.identity import parse_identities

        report = residue_scan(self, identities, values=values, paths=paths)
        if self.ledger.state().status == "current":
            ids = parse_identities(identities, self.catalog)
            with self.engine.begin() as conn:
                append(
                    conn,
                    self.keys,
                    "residue.scan",
                    details={
                        "clean": report.clean,
                        "findings": len(report.findings),
                        "files": len(report.scanned),
                        "receipt": receipt_id,
                    },
                    subject=pseudonym(self.keys, ids),
                    request_id=request_id,
                    at=self.clock.now(),
                )
        return report

    def compact(self, tables: Sequence[str]) -> str:
        """Rewrite storage so nothing erased stays in free space (VACUUM / OPTIMIZE TABLE)."""
        from dsr.rights.residue import compact

        return compact(self, tables)

    # -- Art. 16-18 ----------------------------------------------------------------------

    def erase(
        self,
        identities: Identities,
        *,
        dry_run: bool = False,
        request_id: int | None = None,
        after_step: StepHook | None = None,
    ) -> ErasurePlan:
        """Art. 17: erase as the catalog says, keep (restricted) what must stay; the person's
        delivered packages go too. Exit code 3 in the CLI when :attr:`ErasurePlan.withheld`."""
        from dsr.rights.erase import erase

        return erase(
            self.engine,
            self.catalog,
            self.keys,
            identities,
            dry_run=dry_run,
            request_id=request_id,
            clock=self.clock,
            graph=self.graph,
            after_step=after_step,
            storage=self.storage,
        )

    def rectify(
        self,
        identities: Identities,
        assignments: Sequence[Assignment | str],
        *,
        dry_run: bool = False,
        request_id: int | None = None,
    ) -> RectificationPlan:
        """Art. 16: apply ``TABLE.FIELD=VALUE`` corrections; evidence records get a
        supplementary statement instead. The plan's notices are the Art. 19 letters to send."""
        from dsr.rights.rectify import rectify

        return rectify(
            self.engine,
            self.catalog,
            self.keys,
            identities,
            assignments,
            dry_run=dry_run,
            request_id=request_id,
            clock=self.clock,
            graph=self.graph,
        )

    def restrict(
        self, identities: Identities, reason: str, *, request_id: int | None = None
    ) -> RestrictionResult:
        """Art. 18: restrict processing of every row about the person."""
        from dsr.rights.restrict import restrict

        return restrict(
            self.engine,
            self.catalog,
            self.keys,
            identities,
            reason,
            request_id=request_id,
            clock=self.clock,
            graph=self.graph,
        )

    def lift(
        self,
        identities: Identities,
        informed_at: date | datetime,
        *,
        request_id: int | None = None,
    ) -> RestrictionResult:
        """Lift the person's restriction; they must have been informed first (Art. 18(3))."""
        from dsr.rights.restrict import lift

        return lift(
            self.engine,
            self.catalog,
            self.keys,
            identities,
            informed_at,
            request_id=request_id,
            clock=self.clock,
            graph=self.graph,
        )

    def write_notices(
        self,
        notices: Sequence[Notice],
        directory: str | Path,
        *,
        lang: str = "en",
        request_id: int | None = None,
    ) -> list[Path]:
        """Art. 19 letters (HTML, one per recipient) for a rectification's or erasure's notices."""
        from dsr.rights.notices import write_notices

        return write_notices(
            self.catalog, notices, directory, lang=lang, at=self.clock.now(), request_id=request_id
        )

    # -- Art. 5(1)(e) --------------------------------------------------------------------

    def purge(
        self,
        *,
        as_of: datetime | None = None,
        dry_run: bool = False,
        vacuum: bool = False,
        batch_size: int | None = None,
        target_seconds: float | None = None,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> PurgeReport:
        """Apply every retention rule as of ``as_of`` (default: now), in resumable batches;
        expired or downloaded packages in :attr:`storage` go too. Set ``stop`` to end the run
        after the current batch (``report.stopped``)."""
        from dsr.retention.purge import purge

        return purge(
            self.engine,
            self.catalog,
            self.keys,
            as_of=as_of,
            dry_run=dry_run,
            vacuum=vacuum,
            batch_size=batch_size,
            target_seconds=target_seconds,
            clock=self.clock,
            progress=progress,
            stop=stop,
            storage=self.storage,
            graph=self.graph,
        )


def _recorded(record: bool | None, request_id: int | None, ledger_present: bool) -> bool:
    """Whether a reading service records itself: as asked, else when it can or must."""
    if record is not None:
        return record
    return ledger_present or request_id is not None


@_database_errors
class Ledger:
    """The toolkit's own records in the governed database: version, register, holds, audit.

    Reached as ``toolkit.ledger``. Every write is audited in its own transaction; reads need
    a current ledger (:meth:`require`), except :meth:`state` and :meth:`present`.
    """

    def __init__(self, toolkit: Toolkit) -> None:
        self._tk = toolkit

    @property
    def _engine(self) -> Engine:
        return self._tk.engine

    # -- version -------------------------------------------------------------------------

    def state(self) -> LedgerState:
        """Where the database's ledger stands (missing, unversioned, behind, current, newer)."""
        from dsr.ledger.migrate import ledger_state

        return ledger_state(self._engine)

    def present(self, conn: Connection | None = None) -> bool:
        """Whether the ledger's tables exist (``dsr init`` was run); cached once true."""
        cache = self._tk.schema_cache
        if cache.get("ledger.present"):
            return True
        from dsr.rights.access import ledger_present

        if conn is None:
            with self._engine.connect() as c:
                found = ledger_present(c)
        else:
            found = ledger_present(conn)
        if found:
            cache["ledger.present"] = True
        return found

    def require(self) -> None:
        """Raise :class:`~dsr.errors.LedgerError` naming the command to run unless current."""
        from dsr.ledger.migrate import require_ledger

        require_ledger(self._engine, self._tk.schema_cache)

    def init(self, *, upgrade: bool = False) -> LedgerInit:
        """``dsr init``: create the ledger and the key file (see :func:`dsr.ledger.init_ledger`).

        Uses the toolkit's ``key_file``; a toolkit built with a key provider needs no file.
        """
        from dsr.ledger import init_ledger

        return init_ledger(self._engine, self._tk._key_file, upgrade=upgrade, keys=self._tk._keys)

    def migrate(self) -> Migration:
        """``dsr migrate``: run the revisions between the database's version and this dsr's."""
        from dsr.ledger.migrate import upgrade_ledger

        return upgrade_ledger(self._engine)

    # -- the request register (Art. 12(3)) -----------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        self.require()
        with self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        self.require()
        with self._engine.connect() as conn:
            yield conn

    def today(self) -> date:
        """Today in the catalog's time zone (deadlines are counted in it)."""
        from dsr.ledger.requests import today_in

        return today_in(self._tk.clock, self._tk.catalog)

    def open_request(
        self,
        *,
        type: str,
        identities: Sequence[Identity | str],
        received: date,
        verified_by: str | None = None,
        message: str | None = None,
    ) -> Request:
        """Register a request; its due date follows Art. 12(3) (one month, holidays moved).
        ``message``: what the person wrote with it, kept sealed."""
        from dsr.ledger.requests import open_request

        with self._writing() as conn:
            return open_request(
                conn,
                self._tk.keys,
                self._tk.catalog,
                type=type,
                identities=identities,
                received=received,
                verified_by=verified_by,
                clock=self._tk.clock,
                message=message,
            )

    def request(self, request_id: int, *, with_identities: bool = False) -> Request:
        """One request; ``with_identities`` decrypts the identities it was opened with."""
        from dsr.ledger.requests import get_request

        with self._reading() as conn:
            return get_request(
                conn,
                self._tk.keys if with_identities else None,
                request_id,
                with_identities=with_identities,
            )

    def requests(
        self,
        *,
        overdue: bool = False,
        due_within: timedelta | None = None,
        status: str | None = None,
    ) -> list[Request]:
        """Requests by due date; ``overdue`` or ``due_within`` narrow to the urgent ones."""
        from dsr.ledger.requests import list_requests

        with self._reading() as conn:
            return list_requests(
                conn, overdue=overdue, due_within=due_within, status=status, today=self.today()
            )

    def receipt(self, receipt_id: int) -> dict[str, Any]:
        """An erasure's receipt (:mod:`dsr.ledger.receipts`) with its id and SHA-256."""
        from dsr.errors import RequestError
        from dsr.ledger.receipts import get_receipt

        with self._reading() as conn:
            found = get_receipt(conn, receipt_id)
        if found is None:
            raise RequestError(f"no receipt {receipt_id}", where="receipt")
        return found

    def lift_suppression(self, identities: Sequence[str | Identity], reason: str) -> int:
        """The person came back by their own choice: lift their suppression (audited);
        how many identities were lifted."""
        from dsr.ledger.suppression import lift
        from dsr.subject.identity import parse_identities

        ids = parse_identities(identities, self._tk.catalog)
        with self._writing() as conn:
            return lift(conn, self._tk.keys, ids, reason=reason, clock=self._tk.clock)

    def earlier_requests(self, request_id: int) -> list[Request]:
        """The same person's requests for the same right in the 12 months before this one:
        flagged for the DPO's review (Art. 12(5)), never refused or charged automatically."""
        from dsr.ledger.requests import earlier_requests

        with self._reading() as conn:
            return earlier_requests(
                conn,
                self._tk.keys,
                self.request(request_id),
                shared=self._tk.catalog.shared_identity_types,
            )

    def extend(self, request_id: int, months: int, reason: str) -> Request:
        """Extend the deadline by up to two months (Art. 12(3) sentence 2), with reasons."""
        from dsr.ledger.requests import extend_request

        with self._writing() as conn:
            return extend_request(
                conn,
                self._tk.keys,
                request_id,
                months,
                reason,
                self._tk.clock,
                catalog=self._tk.catalog,
            )

    def close(
        self, request_id: int, outcome: str | None = None, *, refused: bool = False
    ) -> Request:
        """Close a request with its outcome (``done``, ...); ``refused`` only once its refusal
        letter was produced (Art. 12(4): the person is told why, and of their remedies)."""
        from dsr.ledger.requests import close_request

        with self._writing() as conn:
            return close_request(
                conn,
                self._tk.keys,
                request_id,
                outcome,
                self._tk.clock,
                catalog=self._tk.catalog,
                refused=refused,
            )

    def letter(
        self,
        request_id: int,
        kind: str,
        *,
        lang: str = "en",
        fmt: str = "html",
        grounds: Sequence[str] = (),
        reasons: Sequence[str] = (),
        partial: bool = False,
        send: Callable[[Letter, bytes], None] | None = None,
    ) -> tuple[Letter, bytes]:
        """Write the letter ``kind`` to the person of a request (:mod:`dsr.letters`) and record
        on the request that it was produced; returns the letter and the document.

        ``send``: called with the letter and document before anything is recorded (mail it):
        a letter that could not go out is not recorded as sent, and its error propagates.
        """
        from dsr.letters import build_letter, record_letter, render_letter

        with self._reading() as conn:
            letter = build_letter(
                conn,
                self._tk.catalog,
                self._tk.keys,
                request_id,
                kind,
                lang=lang,
                clock=self._tk.clock,
                grounds=tuple(grounds),
                reasons=tuple(reasons),
                partial=partial,
                graph=self._tk.graph if kind == "negative" else None,
            )
        document = render_letter(letter, fmt)
        if send is not None:
            send(letter, document)
        with self._writing() as conn:
            record_letter(conn, self._tk.keys, letter, document, fmt, self._tk.clock)
        return letter, document

    # -- staff of the console (dsr serve) -----------------------------------------------

    def add_user(self, name: str, role: str, password: str) -> StaffUser:
        """A staff account of the console: ``support`` or ``dpo`` (:mod:`dsr.ledger.staff`)."""
        from dsr.ledger.staff import add_user

        with self._writing() as conn:
            return add_user(conn, self._tk.keys, name, role, password, clock=self._tk.clock)

    def users(self) -> list[dict[str, Any]]:
        """The staff accounts: name, role, created, disabled."""
        from dsr.ledger.staff import list_users

        with self._reading() as conn:
            return list_users(conn)

    def disable_user(self, name: str) -> None:
        """Disable a staff account; its sessions end at once."""
        from dsr.ledger.staff import disable_user

        with self._writing() as conn:
            disable_user(conn, self._tk.keys, name, clock=self._tk.clock)

    # -- legal holds ---------------------------------------------------------------------

    def hold(
        self,
        *,
        reason: str,
        table: str | None = None,
        row_keys: Sequence[Any] | None = None,
        identities: Sequence[Identity | str] | None = None,
        until: date | None = None,
    ) -> int:
        """Place a legal hold on a table, some of its rows, or a person; returns its id."""
        from dsr.ledger.holds import add_hold

        with self._writing() as conn:
            return add_hold(
                conn,
                self._tk.keys,
                self._tk.catalog,
                table=table,
                row_keys=row_keys,
                identities=identities,
                reason=reason,
                until=until,
                clock=self._tk.clock,
            )

    def release(self, hold_id: int) -> None:
        """Release a hold; its rows fall under their retention rules again."""
        from dsr.ledger.holds import release_hold

        with self._writing() as conn:
            release_hold(conn, self._tk.keys, hold_id, self._tk.clock)

    def holds(self, *, active_only: bool = True) -> list[dict[str, Any]]:
        """Holds, people by pseudonym only."""
        from dsr.ledger.holds import list_holds

        with self._reading() as conn:
            return list_holds(
                conn, active_only=active_only, at=self._tk.clock.now(), tz=self._tk.catalog.timezone
            )

    # -- the audit trail -----------------------------------------------------------------

    def verify(self, expect_head: str | None = None) -> AuditVerdict:
        """Check the audit trail's hash chain (and, given, its expected head)."""
        from dsr.ledger.audit import verify

        with self._reading() as conn:
            return verify(conn, self._tk.keys, expect_head=expect_head)

    def record(
        self,
        action: str,
        details: dict[str, Any],
        *,
        identities: Sequence[Identity | str] | None = None,
        request_id: int | None = None,
    ) -> None:
        """Append an entry of the embedder's own: ``action`` in a namespace of its own
        (``crm.sync``, not one of dsr's: ``access``, ``erase``, ...), ``details`` counts,
        ids and codes only (a value that looks like an e-mail address or repeats one of the
        given identities is refused: the trail keeps what it holds for good). The person, if
        any, is recorded by keyed pseudonym only; ``request_id`` must exist."""
        from dsr.crypto.keys import pseudonym
        from dsr.errors import ValidationError
        from dsr.ledger.audit import append
        from dsr.subject.identity import parse_identities

        if not _ACTION.fullmatch(action) or action.split(".")[0] in _OWN_ACTIONS:
            raise ValidationError(
                "an embedder's action is 'namespace.event' in lower case, in a namespace "
                f"other than dsr's own ({', '.join(sorted(_OWN_ACTIONS))})",
                where="action",
            )
        ids = parse_identities(identities, self._tk.catalog) if identities else ()
        values = {i.value.casefold() for i in ids}
        for key, value in details.items():
            if not isinstance(key, str) or not (value is None or isinstance(value, _SCALARS)):
                raise ValidationError(
                    "details are a flat map of texts, numbers, flags", where="details"
                )
            text = str(value).casefold()
            if isinstance(value, str) and (_EMAIL.search(text) or any(v in text for v in values)):
                raise ValidationError(
                    f"details[{key!r}] looks like personal data; record counts, ids or codes",
                    where="details",
                )
        subject = pseudonym(self._tk.keys, ids) if ids else None
        with self._writing() as conn:
            if request_id is not None:
                from dsr.ledger.requests import get_request

                get_request(conn, None, request_id)  # RequestError when there is none
            append(
                conn,
                self._tk.keys,
                action,
                details=details,
                subject=subject,
                request_id=request_id,
                at=self._tk.clock.now(),
            )


_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_OWN_ACTIONS = frozenset(
    {
        "access",
        "audit",
        "dsr",
        "erase",
        "export",
        "hold",
        "ledger",
        "migrate",
        "portal",
        "purge",
        "rectify",
        "request",
        "restrict",
        "staff",
    }
)
_SCALARS = (str, int, float, bool)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}")


__all__ = ["Ledger", "Toolkit"]


def is_suppressed(toolkit: Toolkit, *identities: str | Identity) -> bool:
    """``dsr.is_suppressed(tk, "email=jane@example.com")``: whether an importer must not
    re-create this person (see :meth:`Toolkit.is_suppressed`)."""
    return toolkit.is_suppressed(*identities)
