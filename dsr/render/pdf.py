"""PDF reports: the HTML report laid out by WeasyPrint with the print stylesheet.

The renderer never fetches anything: the stylesheet is embedded and :class:`RefusingFetcher`
refuses every URL (local files, network, data URLs), so neither a template nor a catalog text
can make the report read ``/etc/passwd`` or call a server. Long tables are summarised in the
pages and the complete JSON report is attached to the PDF.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from dsr.errors import MissingExtra

try:
    from weasyprint import HTML, Attachment
    from weasyprint.urls import URLFetcher
except ImportError:  # pragma: no cover - exercised by the extras test in a bare environment
    raise MissingExtra("pdf", "WeasyPrint", "PDF reports") from None

from dsr.render.html import render_html
from dsr.render.jsonout import render_json

ATTACHMENT_NAME = "access-report.json"


class ResourceRefused(ValueError):
    """Raised for every URL WeasyPrint asks for; it logs a warning and leaves the resource out."""


class RefusingFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that refuses every URL and counts the attempts."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=(), allow_redirects=False)
        self.refused = 0

    def fetch(self, url: str, headers: Any = None) -> Any:
        self.refused += 1
        raise ResourceRefused("dsr reports do not load external resources")


def render_pdf(report: Any, *, attach_json: bool | None = None) -> bytes:
    """The report as a PDF (A4, running header, page x of y, contents with page numbers).

    The full JSON report is attached when a table was summarised (or when ``attach_json``).
    """
    html = render_html(report, mode="pdf")
    return html_to_pdf(
        html,
        attachments=[render_json(report)]
        if (attach_json if attach_json is not None else bool(report.summarised))
        else [],
        title=str(report.t["doc_title"]),
    )


def html_to_pdf(
    html: str,
    *,
    attachments: list[bytes] | None = None,
    title: str = "",
    fetcher: RefusingFetcher | None = None,
) -> bytes:
    """Lay out self-contained ``html`` without fetching any resource."""
    fetcher = fetcher or RefusingFetcher()
    files = [
        Attachment(
            file_obj=io.BytesIO(data), name=ATTACHMENT_NAME, description=title, url_fetcher=fetcher
        )
        for data in attachments or []
    ]
    # WeasyPrint logs refused resources with their URL; keep that out of the operator's log.
    logger = logging.getLogger("weasyprint")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        document = HTML(string=html, base_url=None, url_fetcher=fetcher)
        return bytes(document.write_pdf(attachments=files))
    finally:
        logger.setLevel(level)
