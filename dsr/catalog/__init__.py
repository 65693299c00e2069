"""The catalog: what personal data is held, about whom, why, for whom and for how long."""

from dsr.catalog.check import CheckReport, check_catalog
from dsr.catalog.loader import example_catalog_path, json_schema, load_catalog
from dsr.catalog.model import Catalog

__all__ = [
    "Catalog",
    "CheckReport",
    "check_catalog",
    "example_catalog_path",
    "json_schema",
    "load_catalog",
]
