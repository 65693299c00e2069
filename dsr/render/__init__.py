"""Renderers of reports: JSON, HTML (Jinja2 templates in ``reports/``) and PDF (WeasyPrint).

Each takes a prepared view model (e.g. :class:`dsr.rights.access.AccessReport`) and returns
bytes or text; templates only loop and format, and autoescaping stays on.
"""

from __future__ import annotations

from dsr.render.html import render_html, template_environment
from dsr.render.jsonout import render_json
from dsr.render.pdf import RefusingFetcher, ResourceRefused, render_pdf

FORMATS = ("json", "html", "pdf")

__all__ = [
    "FORMATS",
    "RefusingFetcher",
    "ResourceRefused",
    "render_html",
    "render_json",
    "render_pdf",
    "template_environment",
]
