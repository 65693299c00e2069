"""Renderers of reports: JSON, HTML (Jinja2 templates in ``reports/``) and PDF (WeasyPrint).

Each takes a prepared view model (e.g. :class:`dsr.rights.access.AccessReport`) and returns
bytes or text; templates only loop and format, and autoescaping stays on. Names are loaded on
first use, so JSON output pays for neither Jinja2 nor WeasyPrint, and HTML not for WeasyPrint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsr._lazy import lazy_names

if TYPE_CHECKING:
    from dsr.render.html import render_html, template_environment
    from dsr.render.jsonout import render_json
    from dsr.render.pdf import RefusingFetcher, ResourceRefused, render_pdf

FORMATS = ("json", "html", "pdf")

_all, __getattr__, __dir__ = lazy_names(
    __name__,
    {
        "dsr.render.html": ("render_html", "template_environment"),
        "dsr.render.jsonout": ("render_json",),
        "dsr.render.pdf": ("RefusingFetcher", "ResourceRefused", "render_pdf"),
    },
)
__all__ = sorted(["FORMATS", *_all])
