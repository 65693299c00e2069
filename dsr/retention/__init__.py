"""Retention purges (Art. 5(1)(e) GDPR): rules from the catalog, planned, then executed in
batches under a lock, with holds and restrictions protecting exactly what they cover."""

from dsr.retention.plan import PurgePlan, PurgeStep, Withheld, plan_purge
from dsr.retention.purge import PurgeReport, StopFlag, purge
from dsr.retention.rules import cutoff, expired_condition

__all__ = [
    "PurgePlan",
    "PurgeReport",
    "PurgeStep",
    "StopFlag",
    "Withheld",
    "cutoff",
    "expired_condition",
    "plan_purge",
    "purge",
]
