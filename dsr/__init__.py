"""dsr: a GDPR data-subject-rights toolkit over SQL databases.

Declare once, in a catalog, which tables and columns hold personal data, about whom, why, on
which legal basis, for whom and for how long; every data-subject right is then a method of a
:class:`Toolkit` bound to that catalog and a database. The command line (``dsr``) is a thin
shell over the same methods: ``dsr access`` is :meth:`Toolkit.access`, ``dsr erase`` is
:meth:`Toolkit.erase`, ``dsr request open`` is ``toolkit.ledger.open_request``, and so on.

    import dsr
    tk = dsr.Toolkit("sqlite:///crm.db", "policies/", key_file="secret.key")
    report = tk.access(["jane@example.com"])
    dsr.render_pdf(report)                 # or render_html / render_json
    plan = tk.erase(["jane@example.com"], dry_run=True)

Names are imported on first use, so ``import dsr`` costs next to nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsr._lazy import lazy_names

if TYPE_CHECKING:
    from dsr.catalog import Catalog, CheckReport, load_catalog
    from dsr.clock import Clock, FixedClock, SystemClock
    from dsr.crypto.keys import FileKeys, KeyProvider, StaticKeys, key_provider
    from dsr.db import connect
    from dsr.errors import DSRError
    from dsr.ledger.audit import AuditVerdict
    from dsr.ledger.requests import Request
    from dsr.portability.delivery import Delivery, Download
    from dsr.portability.scope import ExportResult
    from dsr.render import render_html, render_json, render_pdf
    from dsr.retention.purge import PurgeReport, StopFlag
    from dsr.rights.access import AccessReport
    from dsr.rights.erase import ErasurePlan
    from dsr.rights.rectify import RectificationPlan
    from dsr.rights.restrict import RestrictionResult
    from dsr.subject.graph import SubjectRecord
    from dsr.subject.identity import Identity, parse_identity
    from dsr.toolkit import Ledger, Toolkit

__version__ = "0.1.0"

__all__, __getattr__, __dir__ = lazy_names(
    __name__,
    {
        "dsr.catalog": ("Catalog", "CheckReport", "load_catalog"),
        "dsr.clock": ("Clock", "FixedClock", "SystemClock"),
        "dsr.db": ("connect",),
        "dsr.errors": ("DSRError",),
        "dsr.ledger.audit": ("AuditVerdict",),
        "dsr.crypto.keys": ("FileKeys", "KeyProvider", "StaticKeys", "key_provider"),
        "dsr.ledger.requests": ("Request",),
        "dsr.portability.delivery": ("Delivery", "Download"),
        "dsr.portability.scope": ("ExportResult",),
        "dsr.render": ("render_html", "render_json", "render_pdf"),
        "dsr.retention.purge": ("PurgeReport", "StopFlag"),
        "dsr.rights.access": ("AccessReport",),
        "dsr.rights.erase": ("ErasurePlan",),
        "dsr.rights.rectify": ("RectificationPlan",),
        "dsr.rights.restrict": ("RestrictionResult",),
        "dsr.subject.graph": ("SubjectRecord",),
        "dsr.subject.identity": ("Identity", "parse_identity"),
        "dsr.toolkit": ("Ledger", "Toolkit", "is_suppressed"),
    },
)
