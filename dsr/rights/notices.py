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
from dsr.errors import ConfigError

#: Fixed texts of the printable letter (``reports/art19_notice.html``).
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Notification under Art. 19 GDPR",
        "to": "To",
        "from": "From",
        "date": "Date",
        "request": "Request",
        "about": "Concerning the data subject identified by",
        "intro_rectify": "We have rectified personal data that we previously disclosed to you. "
        "Under Art. 19 GDPR we inform you of the rectification and ask you to apply it to "
        "the data you hold.",
        "intro_erase": "We have erased personal data that we previously disclosed to you. "
        "Under Art. 19 GDPR we inform you of the erasure and ask you to erase the data "
        "concerned as far as you hold it.",
        "table": "Record type",
        "field": "Field",
        "record": "Record",
        "rows": "Records",
        "old": "Previous value",
        "new": "Corrected value",
        "kind": "How",
        "kind_rectified": "rectified",
        "kind_supplemented": "supplementary statement (the record is kept as evidence)",
        "kind_deleted": "erased (record deleted)",
        "kind_anonymised": "erased (personal fields anonymised)",
        "empty": "(empty)",
        "closing": "Please confirm that you have carried out the change.",
        "dpo": "Data protection officer",
        "confidential": "Confidential: contains personal data.",
    },
    "de": {
        "title": "Mitteilung nach Art. 19 DSGVO",
        "to": "An",
        "from": "Von",
        "date": "Datum",
        "request": "Antrag",
        "about": "Betrifft die betroffene Person mit",
        "intro_rectify": "Wir haben personenbezogene Daten berichtigt, die wir Ihnen zuvor "
        "offengelegt haben. Nach Art. 19 DSGVO teilen wir Ihnen die Berichtigung mit und bitten "
        "Sie, sie in Ihren Daten nachzuvollziehen.",
        "intro_erase": "Wir haben personenbezogene Daten gelöscht, die wir Ihnen zuvor "
        "offengelegt haben. Nach Art. 19 DSGVO teilen wir Ihnen die Löschung mit und bitten Sie, "
        "die betroffenen Daten zu löschen, soweit Sie sie gespeichert haben.",
        "table": "Datenart",
        "field": "Feld",
        "record": "Datensatz",
        "rows": "Datensätze",
        "old": "Bisheriger Wert",
        "new": "Berichtigter Wert",
        "kind": "Art",
        "kind_rectified": "berichtigt",
        "kind_supplemented": "ergänzende Erklärung (der Datensatz bleibt als Nachweis erhalten)",
        "kind_deleted": "gelöscht (Datensatz entfernt)",
        "kind_anonymised": "gelöscht (personenbezogene Felder anonymisiert)",
        "empty": "(leer)",
        "closing": "Bitte bestätigen Sie uns die Umsetzung.",
        "dpo": "Datenschutzbeauftragter",
        "confidential": "Vertraulich: enthält personenbezogene Daten.",
    },
}


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

    if lang not in TEXTS:
        raise ConfigError(f"unsupported language {lang!r}; use en or de", where="--lang")
    recipient = catalog.recipients[notice.recipient]
    local = at.astimezone(ZoneInfo(catalog.timezone)) if at.tzinfo else at
    date_text = local.strftime("%d.%m.%Y") if lang == "de" else local.strftime("%d %B %Y")
    items = []
    for item in notice.items:
        t = catalog.tables[item["table"]]
        f = t.fields.get(item.get("field") or "")
        items.append(
            {
                **item,
                "table_title": t.title.get(lang),
                "field_label": f.label_text(lang) if f else "",
                "old_text": _text(item.get("old")),
                "new_text": _text(item.get("new")),
            }
        )
    return (
        template_environment()
        .get_template("art19_notice.html")
        .render(
            t=TEXTS[lang],
            lang=lang,
            notice=notice,
            recipient_name=recipient.name.get(lang),
            controller=catalog.controller,
            dpo_email=catalog.dpo.email,
            date_text=date_text,
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


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


__all__ = ["TEXTS", "Notice", "build_notices", "render_notice_html", "write_notices"]
