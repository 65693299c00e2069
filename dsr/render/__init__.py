"""Renderers of reports: JSON, HTML (Jinja2 templates in ``reports/``) and PDF (WeasyPrint).

Each takes a prepared view model (e.g. :class:`dsr.rights.access.AccessReport`) and returns
bytes or text; templates only loop and format, and autoescaping stays on. The PDF names are
loaded on first use, so JSON and HTML output do not pay for importing WeasyPrint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsr.render.html import render_html, template_environment
from dsr.render.jsonout import render_json

if TYPE_CHECKING:
    from dsr.render.pdf import RefusingFetcher, ResourceRefused, render_pdf

FORMATS = ("json", "html", "pdf")
_PDF_NAMES = ("RefusingFetcher", "ResourceRefused", "render_pdf")


def __getattr__(name: str) -> Any:
    if name in _PDF_NAMES:
        from dsr.render import pdf

        return getattr(pdf, name)
    raise AttributeError(f"module 'dsr.render' has no attribute {name!r}")


__all__ = [
    "FORMATS",
    "RefusingFetcher",
    "ResourceRefused",
    "render_html",
    "render_json",
    "render_pdf",
    "template_environment",
]
