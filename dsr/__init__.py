"""dsr: a GDPR data-subject-rights toolkit over SQL databases.

Declare once, in a catalog, which tables and columns hold personal data, about whom, why, on
which legal basis, for whom and for how long; every data-subject right is then a function over
that catalog. The command line (``dsr``) is a thin shell over these functions, and its verbs
are theirs: ``dsr access`` is :func:`access`, ``dsr erase`` is :func:`erase`, ``dsr purge`` is
:func:`purge`, and so on.

    import dsr
    catalog = dsr.load_catalog("policies/")
    engine = dsr.connect("sqlite:///crm.db")
    graph = dsr.SubjectGraph(catalog, engine)
    with engine.begin() as conn:
        report = dsr.access(conn, catalog, graph, ["jane@example.com"], clock=dsr.SystemClock())
"""

from dsr.catalog import Catalog, CheckReport, check_catalog, load_catalog
from dsr.clock import Clock, FixedClock, SystemClock
from dsr.db import connect
from dsr.errors import DSRError
from dsr.ledger import init_ledger
from dsr.ledger.audit import verify as verify_audit
from dsr.ledger.holds import add_hold, release_hold
from dsr.ledger.keys import FileKeys, StaticKeys, key_provider
from dsr.ledger.requests import close_request, extend_request, open_request
from dsr.portability.delivery import deliver, download
from dsr.portability.export import export_package as export
from dsr.retention.purge import purge
from dsr.rights.access import access_report as access
from dsr.rights.erase import erase
from dsr.rights.rectify import rectify
from dsr.rights.restrict import lift, restrict
from dsr.subject.graph import SubjectGraph, SubjectRecord
from dsr.subject.identity import Identity, parse_identity

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "CheckReport",
    "Clock",
    "DSRError",
    "FileKeys",
    "FixedClock",
    "Identity",
    "StaticKeys",
    "SubjectGraph",
    "SubjectRecord",
    "SystemClock",
    "access",
    "add_hold",
    "check_catalog",
    "close_request",
    "connect",
    "deliver",
    "download",
    "erase",
    "export",
    "extend_request",
    "init_ledger",
    "key_provider",
    "lift",
    "load_catalog",
    "open_request",
    "parse_identity",
    "purge",
    "rectify",
    "release_hold",
    "restrict",
    "verify_audit",
]
