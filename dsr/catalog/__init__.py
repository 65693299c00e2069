"""The catalog: what personal data is held, about whom, why, for whom and for how long."""

from dsr.catalog.loader import example_catalog_path, json_schema, load_catalog
from dsr.catalog.model import Catalog

__all__ = ["Catalog", "example_catalog_path", "json_schema", "load_catalog"]
