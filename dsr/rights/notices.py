"""Art. 19 GDPR notices: telling each recipient about a rectification or erasure.

The controller communicates any rectification (Art. 16) or erasure (Art. 17(1)) to each
recipient to whom the data were disclosed. The recipients of a table come from the catalog
(``Table.recipients``). A rectification notice lists table, field, old and new value, so it is
personal data by nature: it goes to stdout or to the files the user asks for
(:func:`write_notices`, one printable HTML letter per recipient, named by recipient id and
time only), never into logs or the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dsr.catalog.model import Catalog
from dsr.i18n import country_name, date_text, texts, value_text


@dataclass
class Notice:
    """What one recipient must be told (Art. 19): ``kind`` is ``rectification`` or ``erasure``.

    Each item has ``table`` and ``field`` (rectification: also ``row``, ``old``, ``new`` and
    ``action``; erasure: ``rows`` and ``action``).
    """

    kind: str
    recipient: str
    name: str
    role: str
    country: str | None
    items: list[dict[str, Any]] = field(default_factory=list)
    about: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "recipient": self.recipient,
            "name": self.name,
            "role": self.role,
            "country": self.country,
            "about": list(self.about),
            "items": [dict(i) for i in self.items],
        }


def build_notices(
    catalog: Catalog, kind: str, items: Iterable[dict[str, Any]], about: Iterable[str] = ()
) -> list[Notice]:
    """One notice per recipient of the tables the ``items`` name, in catalog order.

    ``about`` names the person (identity specs such as ``email=...``) so the recipient can find
    the data; like the items, it is personal data and stays out of logs and the audit trail.
    """
    about = list(about)
    by_recipient: dict[str, Notice] = {}
    for item in items:
        for rid in catalog.tables[item["table"]].recipients:
            r = catalog.recipients[rid]
            notice = by_recipient.get(rid)
            if notice is None:
                notice = by_recipient[rid] = Notice(
                    kind=kind,
                    recipient=rid,
                    name=str(r.name),
                    role=r.role,
                    country=r.country,
                    about=about,
                )
            notice.items.append(item)
    order = {rid: i for i, rid in enumerate(catalog.recipients)}
    return sorted(by_recipient.values(), key=lambda n: order.get(n.recipient, len(order)))


def render_notice_html(
    catalog: Catalog,
    notice: Notice,
    *,
    lang: str = "en",
    at: datetime,
    request_id: int | None = None,
) -> str:
    """The printable letter for one recipient (``reports/art19_notice.html``, autoescaped)."""
    from dsr.render.html import template_environment

    t = texts(lang)["notice"]  # ConfigError naming --lang for a language we do not write
    recipient = catalog.recipients[notice.recipient]
    local = at.astimezone(ZoneInfo(catalog.timezone)) if at.tzinfo else at
    items = []
    for item in notice.items:
        table = catalog.tables[item["table"]]
        f = table.fields.get(item.get("field") or "")
        items.append(
            {
                **item,
                "table_title": table.title.get(lang),
                "field_label": f.label_text(lang) if f else "",
                "old_text": value_text(item.get("old"), lang),
                "new_text": value_text(item.get("new"), lang),
            }
        )
    return (
        template_environment()
        .get_template("art19_notice.html")
        .render(
            t=t,
            lang=lang,
            notice=notice,
            recipient_name=recipient.name.get(lang),
            country=country_name(notice.country, lang) if notice.country else None,
            controller=catalog.controller,
            dpo_email=catalog.dpo.email,
            date_text=date_text(local, lang),
            request_id=request_id,
            items=items,
        )
    )


def write_notices(
    catalog: Catalog,
    notices: Iterable[Notice],
    directory: str | Path,
    *,
    lang: str = "en",
    at: datetime,
    request_id: int | None = None,
) -> list[Path]:
    """Write one HTML letter per recipient into ``directory``; file names carry no personal data."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    stamp = at.strftime("%Y%m%dT%H%M%S")
    paths = []
    for notice in notices:
        suffix = f"-request{request_id}" if request_id is not None else ""
        path = out / f"art19-{notice.kind}-{notice.recipient}-{stamp}{suffix}.html"
        html = render_notice_html(catalog, notice, lang=lang, at=at, request_id=request_id)
        path.write_text(html, encoding="utf-8")
        paths.append(path)
    return paths


__all__ = ["Notice", "build_notices", "render_notice_html", "write_notices"]
