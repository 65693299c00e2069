"""Data portability (Art. 20 GDPR): export packages and their secure delivery.

:func:`export_package` writes the ZIP (data.json, one CSV per table, schema.json, README.txt,
manifest.json); :func:`deliver` stores it sealed with a single-use download token,
:func:`download` redeems the token, :func:`purge_expired_packages` deletes what expired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsr._lazy import lazy_names

if TYPE_CHECKING:
    from dsr.portability.delivery import (
        Delivery,
        Download,
        deliver,
        download,
        make_token,
        parse_duration,
        purge_expired_packages,
        read_token,
    )
    from dsr.portability.export import build_schema, export_package, record_export
    from dsr.portability.scope import ExportResult, NotPortable, TableExport
    from dsr.portability.storage import DirectoryStorage, PackageStorage, default_export_dir

__all__, __getattr__, __dir__ = lazy_names(
    __name__,
    {
        "dsr.portability.delivery": (
            "Delivery",
            "Download",
            "deliver",
            "download",
            "make_token",
            "parse_duration",
            "purge_expired_packages",
            "read_token",
        ),
        "dsr.portability.export": ("build_schema", "export_package", "record_export"),
        "dsr.portability.scope": ("ExportResult", "NotPortable", "TableExport"),
        "dsr.portability.storage": ("DirectoryStorage", "PackageStorage", "default_export_dir"),
    },
)
