"""The catalog: what personal data is held, about whom, why, for whom and for how long."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsr._lazy import lazy_names

if TYPE_CHECKING:
    from dsr.catalog.check import CheckReport, check_catalog
    from dsr.catalog.loader import example_catalog_path, json_schema, load_catalog
    from dsr.catalog.model import Catalog

__all__, __getattr__, __dir__ = lazy_names(
    __name__,
    {
        "dsr.catalog.check": ("CheckReport", "check_catalog"),
        "dsr.catalog.loader": ("example_catalog_path", "json_schema", "load_catalog"),
        "dsr.catalog.model": ("Catalog",),
    },
)
