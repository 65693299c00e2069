"""Retention purges (Art. 5(1)(e) GDPR): rules from the catalog, planned, then executed in
batches under a lock, with holds and restrictions protecting exactly what they cover.

The purge itself is :func:`dsr.retention.purge.purge` (the name ``purge`` here is its module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsr._lazy import lazy_names

if TYPE_CHECKING:
    from dsr.retention.plan import PurgePlan, PurgeStep, Withheld, plan_purge
    from dsr.retention.purge import PurgeReport, StopFlag
    from dsr.retention.rules import cutoff, expired_condition

__all__, __getattr__, __dir__ = lazy_names(
    __name__,
    {
        "dsr.retention.plan": ("PurgePlan", "PurgeStep", "Withheld", "plan_purge"),
        "dsr.retention.purge": ("PurgeReport", "StopFlag"),
        "dsr.retention.rules": ("cutoff", "expired_condition"),
    },
)
