"""The removal core: what erasure (Art. 17) and retention purges (Art. 5(1)(e)) share.

- :mod:`dsr.removal.periods`: one period arithmetic (when a rule has run out, "kept until");
- :mod:`dsr.removal.references`: who points at whom (database foreign keys and catalog
  links), in which order tables are emptied, and unlinking or tombstoning references;
- :mod:`dsr.removal.protection`: one definition of "protected": a legal hold, an Art. 18
  restriction (one an erasure made ends with its retention period), a statutory period.

``dsr erase`` and ``dsr purge`` are front-ends over these: they find rows differently (the
person's, or the expired ones) and decide the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsr._lazy import lazy_names

if TYPE_CHECKING:
    from dsr.removal.periods import expired_condition, expires_at, last_day_kept
    from dsr.removal.references import Reference, detach, references

__all__, __getattr__, __dir__ = lazy_names(
    __name__,
    {
        "dsr.removal.periods": ("expired_condition", "expires_at", "last_day_kept"),
        "dsr.removal.references": ("Reference", "detach", "references"),
    },
)
