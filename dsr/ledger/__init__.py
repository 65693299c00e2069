"""The ledger: the toolkit's own records, kept beside the data they govern.

* the request register (:mod:`dsr.ledger.requests`) with Art. 12(3) deadlines
  (:mod:`dsr.ledger.deadlines`);
* the audit trail (:mod:`dsr.ledger.audit`), hash-chained and pseudonymous;
* holds, restrictions, purge checkpoints, locks and export packages (:mod:`dsr.ledger.tables`);

:func:`init_ledger` (:mod:`dsr.ledger.setup`) is what ``dsr init`` runs. Names are imported on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsr._lazy import lazy_names

if TYPE_CHECKING:
    from dsr.ledger.audit import AuditVerdict, verify
    from dsr.ledger.deadlines import due_date, extended_due_date, holiday_calendar
    from dsr.ledger.migrate import (
        LEDGER_VERSION,
        LedgerState,
        Migration,
        create_ledger,
        ledger_state,
        require_ledger,
        upgrade_ledger,
    )
    from dsr.ledger.requests import (
        REQUEST_TYPES,
        Request,
        close_request,
        extend_request,
        get_request,
        list_requests,
        open_request,
        record_outcome,
    )
    from dsr.ledger.setup import LedgerInit, bind_key, init_ledger

__all__, __getattr__, __dir__ = lazy_names(
    __name__,
    {
        "dsr.ledger.audit": ("AuditVerdict", "verify"),
        "dsr.ledger.deadlines": ("due_date", "extended_due_date", "holiday_calendar"),
        "dsr.ledger.migrate": (
            "LEDGER_VERSION",
            "LedgerState",
            "Migration",
            "create_ledger",
            "ledger_state",
            "require_ledger",
            "upgrade_ledger",
        ),
        "dsr.ledger.requests": (
            "REQUEST_TYPES",
            "Request",
            "close_request",
            "extend_request",
            "get_request",
            "list_requests",
            "open_request",
            "record_outcome",
        ),
        "dsr.ledger.setup": ("LedgerInit", "bind_key", "init_ledger"),
    },
)
