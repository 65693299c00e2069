"""HTML reports from the Jinja2 templates in ``reports/`` (autoescaped, strict undefined)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from dsr._resources import resource_dir, resource_path


@lru_cache(maxsize=1)
def template_environment() -> Environment:
    """The template environment: autoescape on, undefined names are errors."""
    return Environment(
        loader=FileSystemLoader(str(resource_dir("reports"))),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def print_css() -> str:
    """The print stylesheet, embedded in every report so nothing is ever fetched."""
    return resource_path("reports", "print.css").read_text(encoding="utf-8")


def render_html(report: Any, *, template: str = "access.html", mode: str = "html") -> str:
    """Render ``report`` (a view model with ``t`` texts) to a self-contained HTML page.

    ``mode`` is ``"html"`` or ``"pdf"``; the PDF mode says long tables are attached.
    """
    env = template_environment()
    # The stylesheet is our own file, not data: mark it safe so quotes stay CSS quotes.
    return env.get_template(template).render(
        r=report,
        t=report.t,
        mode=mode,
        css=Markup(print_css()),  # noqa: S704
    )
