"""Load catalog YAML files into a :class:`~dsr.catalog.model.Catalog`, or fail with file and line.

Loading happens in three steps, each stopping at the first error it meets, so that nothing ever
runs on a catalog that failed to load:

1. YAML is parsed into plain data while remembering the line of every key;
2. the data is checked against the published JSON Schema (``catalog.schema.json``);
3. references between entries (purposes, categories, parties, links, rules) are resolved.

Checks against a live database are in :mod:`dsr.catalog.check`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from dsr.catalog.model import (
    BUILTIN_IDENTITY_TYPES,
    LEGAL_BASES,
    Anchor,
    Catalog,
    Condition,
    Contact,
    Controller,
    Field,
    IdentityType,
    Link,
    Location,
    Party,
    Period,
    PointedBy,
    Purpose,
    Recipient,
    RegisterRetention,
    RetentionRule,
    Table,
    Text,
    Via,
)
from dsr.errors import CatalogError

Path_ = tuple[str, ...]


class _Lines:
    """The file and line of every key path seen while parsing."""

    def __init__(self) -> None:
        self.where: dict[Path_, tuple[str, int]] = {}
        self.other_file: dict[Path_, tuple[str, int]] = {}

    def at(self, path: Iterable[Any]) -> tuple[str | None, int | None]:
        p = tuple(str(x) for x in path)
        while p:
            if p in self.where:
                return self.where[p]
            p = p[:-1]
        return self.where.get((), (None, None))

    def error(self, path: Iterable[Any], message: str) -> CatalogError:
        path = [str(x) for x in path]
        file, line = self.at(path)
        # a key the file got wrong may be any length: the error quotes an excerpt of it
        shown = [x if len(x) <= EXCERPT else excerpt(x) for x in path]
        return CatalogError(message, file=file, line=line, key=".".join(shown) or None)

    def location(self, path: Iterable[Any]) -> Location:
        path = [str(x) for x in path]
        file, line = self.at(path)
        return Location(file or "?", line or 0, ".".join(path))


#: Bounds on what one catalog may expand to: YAML aliases can make a small file name an
#: exponential amount of data ("billion laughs"), and nesting can exhaust the stack.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_VALUES = 200_000
MAX_DEPTH = 64
#: An error quotes at most this much of a value.
EXCERPT = 60


class _Budget:
    def __init__(self) -> None:
        self.values = 0


def _to_data(
    node: yaml.Node, file: str, path: Path_, lines: _Lines, budget: _Budget, depth: int = 0
) -> Any:
    budget.values += 1
    line = node.start_mark.line + 1
    if budget.values > MAX_VALUES:
        raise CatalogError(
            f"the catalog expands to more than {MAX_VALUES:,} values (YAML aliases?); "
            "refusing to read further",
            file=file,
            line=line,
        )
    if depth > MAX_DEPTH:
        raise CatalogError(f"nested deeper than {MAX_DEPTH} levels", file=file, line=line)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise CatalogError(
                    "a key must be a plain name, not a list or mapping",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    key=".".join(path) or None,
                )
            key = str(key_node.value)
            sub = (*path, key)
            if key in out:
                raise CatalogError(
                    "duplicate key", file=file, line=key_node.start_mark.line + 1, key=".".join(sub)
                )
            if sub in lines.where and lines.where[sub][0] != file:
                lines.other_file[sub] = lines.where[sub]
            lines.where[sub] = (file, key_node.start_mark.line + 1)
            out[key] = _to_data(value_node, file, sub, lines, budget, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines.where[(*path, str(i))] = (file, item.start_mark.line + 1)
            items.append(_to_data(item, file, (*path, str(i)), lines, budget, depth + 1))
        return items
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, OverflowError):
        # a tag the safe loader does not know, or a value its tag cannot read (!!int abc)
        tag = str(node.tag).rsplit(":", 1)[-1]
        raise CatalogError(
            f"value {excerpt(node.value)} cannot be read as {tag}",
            file=file,
            line=line,
            key=".".join(path) or None,
        ) from None


def excerpt(value: Any) -> str:
    """A value as an error may quote it: at most :data:`EXCERPT` characters, printable."""
    text = repr(value) if isinstance(value, str) else repr(str(value))
    return text if len(text) <= EXCERPT else text[: EXCERPT - 4] + "...'"


_CONSTRUCTOR = yaml.SafeLoader("")
#: libyaml's parser where PyYAML was built with it (ten times faster than the Python one);
#: both give the same nodes, marks and errors
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _line_of_offset(data: bytes | str, offset: int) -> int:
    newline: Any = b"\n" if isinstance(data, bytes) else "\n"
    return data[:offset].count(newline) + 1


def _parse_file(path: Path, lines: _Lines) -> dict[str, Any]:
    file = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CatalogError(
                f"catalog file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB", file=file
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read catalog file ({exc.strerror})", file=file) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(
            f"catalog file is not UTF-8 (byte {exc.start})",
            file=file,
            line=_line_of_offset(raw, exc.start),
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        node = yaml.compose(text, Loader=SAFE_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = f"malformed YAML: {exc.problem or exc}"
        if exc.context and exc.context_mark and exc.context_mark.line + 1 != line:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise CatalogError(message, file=file, line=line) from None
    except yaml.reader.ReaderError as exc:
        raise CatalogError(
            f"malformed YAML: character #x{exc.character:04x} is not allowed in YAML"
            if isinstance(exc.character, int)
            else "malformed YAML: a character that is not allowed in YAML",
            file=file,
            line=_line_of_offset(text, exc.position),
        ) from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"malformed YAML: {str(exc)[:200]}", file=file) from None
    except RecursionError:
        raise CatalogError(f"nested deeper than {MAX_DEPTH} levels", file=file) from None
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise CatalogError("a catalog file must be a mapping at the top level", file=file, line=1)
    lines.where.setdefault((), (file, 1))
    data = _to_data(node, file, (), lines, _Budget())
    for key in data:
        lines.where.setdefault((key,), (file, 1))
    return data


def catalog_files(path: str | Path) -> list[Path]:
    """The YAML files of a catalog given as a file or a folder."""
    p = Path(path)
    if p.is_dir():
        files = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
        if not files:
            raise CatalogError("folder holds no *.yaml catalog files", file=str(p))
        return files
    if not p.exists():
        raise CatalogError("catalog file does not exist", file=str(p))
    return [p]


def _merge(parts: list[dict[str, Any]], lines: _Lines) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key not in merged:
                merged[key] = value
            elif isinstance(value, dict) and isinstance(merged[key], dict):
                for sub, subval in value.items():
                    if sub in merged[key]:
                        first = lines.other_file.get((key, sub))
                        also = f" (also at {first[0]}:{first[1]})" if first else ""
                        raise lines.error(
                            (key, sub), f"defined in more than one catalog file{also}"
                        )
                    merged[key][sub] = subval
            elif merged[key] != value:
                raise lines.error((key,), "defined differently in more than one catalog file")
    return merged


@cache
@cache
def _schema_text() -> str:
    return resources.files("dsr.catalog").joinpath("catalog.schema.json").read_text("utf-8")


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of the catalog format."""
    return dict(json.loads(_schema_text()))


#: Digests of catalog contents that passed the JSON Schema, so that the next process loading
#: the same catalog skips importing jsonschema and validating (a tenth of a CLI command's
#: start-up). Only valid contents are remembered; anything else is validated every time.
VALIDATED_FILE = "validated-catalogs"
_VALIDATED_KEEP = 32


def _validated_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dsr" / VALIDATED_FILE


def _digest(data: dict[str, Any]) -> str:
    h = hashlib.sha256(_schema_text().encode("utf-8"))
    h.update(json.dumps(data, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def _known_valid(digest: str) -> bool:
    try:
        return digest in _validated_path().read_text("ascii").split()
    except (OSError, UnicodeDecodeError):
        return False


def _remember_valid(digest: str) -> None:
    """Best effort: a read-only or missing home directory just means validating again."""
    path = _validated_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            known = path.read_text("ascii").split()
        except (OSError, UnicodeDecodeError):
            known = []
        known = [d for d in known if d != digest][-(_VALIDATED_KEEP - 1) :] + [digest]
        part = path.with_name(f"{path.name}.{os.getpid()}.part")
        part.write_text("\n".join(known) + "\n", "ascii")
        os.replace(part, path)
    except OSError:
        pass


_PATTERN_MESSAGES = {
    "period": "is not a period of the form '<number> days|weeks|months|years'",
    "country": "is not a two-letter country code in capitals (ISO 3166-1, such as DE or US)",
}


def _validate_schema(data: dict[str, Any], lines: _Lines) -> None:
    digest = _digest(data)
    if _known_valid(digest):
        return
    import jsonschema

    validator = jsonschema.Draft202012Validator(json_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), e.message))
    if not errors:
        _remember_valid(digest)
        return
    _explain(errors[0], lines)


def _explain(err: Any, lines: _Lines) -> None:
    """Raise the catalog error a person can act on for one schema error: for a choice of
    forms (oneOf), the complaint of the form the value was meant to have (an object with a
    misspelt key, rather than "is not of type 'array'")."""
    path = [str(p) for p in err.absolute_path]
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        if extra:
            raise lines.error([*path, extra[0]], f"unknown key {excerpt(extra[0])}")
    if err.validator == "required":
        raise lines.error(
            path, _shorten(err.message.replace("is a required property", "is required"))
        )
    if err.validator == "pattern" and path and path[-1] in _PATTERN_MESSAGES:
        raise lines.error(path, f"{excerpt(err.instance)} {_PATTERN_MESSAGES[path[-1]]}")
    if err.validator in ("oneOf", "anyOf") and err.context:
        meant = [e for e in err.context if e.validator != "type" or e.relative_path]
        if meant:
            _explain(min(meant, key=lambda e: (-len(e.absolute_path), len(e.message))), lines)
        best = min(err.context, key=lambda e: len(e.message))
        raise lines.error(path, _shorten(best.message))
    raise lines.error(path, _shorten(err.message))


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _shorten(message: str) -> str:
    """The message with every quoted value cut to an excerpt (a catalog may hold long texts)."""

    def cut(m: re.Match[str]) -> str:
        q = m.group(0)
        return q if len(q) <= EXCERPT else q[: EXCERPT - 4] + "..." + q[0]

    return _QUOTED.sub(cut, message)[:400]


def _text(value: Any) -> Text:
    return Text({"en": value} if isinstance(value, str) else dict(value))


def _opt_text(value: Any) -> Text | None:
    return None if value is None else _text(value)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _build(data: dict[str, Any], lines: _Lines, files: tuple[str, ...]) -> Catalog:
    for required in ("controller", "dpo", "supervisory_authority", "purposes", "tables"):
        if required not in data:
            raise lines.error((), f"{required!r} is required (Art. 13/15 information)")

    tz = data.get("timezone", "Europe/Berlin")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise lines.error(("timezone",), f"unknown time zone {excerpt(tz)}") from None
    hol = data.get("holidays", {"country": "DE", "subdivision": "SN"})

    identity_types = dict(BUILTIN_IDENTITY_TYPES)
    for name, it in data.get("identity_types", {}).items():
        where_it = ("identity_types", name)
        pattern = it.get("pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise lines.error(
                    (*where_it, "pattern"), f"not a regular expression: {exc}"
                ) from None
        base = identity_types.get(name)
        identity_types[name] = IdentityType(
            name=name,
            label=_text(it["label"]),
            match=it.get("match", base.match if base else "exact"),
            pattern=pattern,
            one_person=it.get("one_person", base.one_person if base else True),
        )

    purposes: dict[str, Purpose] = {}
    for pid, p in data.get("purposes", {}).items():
        if p["legal_basis"] not in LEGAL_BASES:
            raise lines.error(
                ("purposes", pid, "legal_basis"),
                f"unknown legal basis {p['legal_basis']!r}; use one of 6(1)(a)-(f) or 9(2)(a)-(j)",
            )
        purposes[pid] = Purpose(
            id=pid,
            title=_text(p["title"]),
            legal_basis=p["legal_basis"],
            legitimate_interest=_opt_text(p.get("legitimate_interest")),
            legal_obligation=p.get("legal_obligation"),
            note=p.get("note"),
        )

    categories = {k: _text(v) for k, v in data.get("categories", {}).items()}
    sources = {k: _text(v) for k, v in data.get("sources", {}).items()}
    sources.setdefault(
        "data_subject", Text({"en": "Collected from you", "de": "Bei Ihnen erhoben"})
    )
    recipients = {
        rid: Recipient(
            id=rid,
            name=_text(r["name"]),
            role=r["role"],
            country=r.get("country"),
            safeguard=_opt_text(r.get("safeguard")),
            description=_opt_text(r.get("description")),
        )
        for rid, r in data.get("recipients", {}).items()
    }

    rules: dict[str, RetentionRule] = {}
    for rid, r in data.get("retention", {}).items():
        where = ("retention", rid)
        a = r["anchor"]
        referenced_by = a.get("while_referenced_by")
        if referenced_by is not None:
            # kept while referenced: the rule ends with the last reference, not after a period
            if "period" in r:
                raise lines.error(
                    (*where, "period"),
                    "a rule kept while_referenced_by has no period: it ends when the last "
                    "referring row is gone",
                )
            if set(a) != {"while_referenced_by"}:
                raise lines.error(
                    (*where, "anchor"), "while_referenced_by takes no column, link or newest_of"
                )
            period = Period(0, "days")
        else:
            if "period" not in r:
                raise lines.error(where, "a retention rule needs a 'period'")
            if "column" not in a:
                raise lines.error((*where, "anchor"), "an anchor needs a 'column'")
            try:
                period = Period.parse(r["period"])
            except ValueError as exc:
                raise lines.error((*where, "period"), str(exc)) from None
        anonymise = dict(r.get("anonymise", {}))
        if r["action"] == "anonymise" and not anonymise:
            raise lines.error(where, "an 'anonymise' rule must list the fields under 'anonymise'")
        if r["action"] == "delete" and anonymise:
            raise lines.error((*where, "anonymise"), "a 'delete' rule takes no 'anonymise' fields")
        related = a.get("newest_of") or a.get("oldest_of") or referenced_by
        if a.get("newest_of") and a.get("oldest_of"):
            raise lines.error((*where, "anchor"), "give newest_of or oldest_of, not both")
        if related and a.get("link"):
            raise lines.error((*where, "anchor"), "an anchor takes link or newest_of/oldest_of")
        rules[rid] = RetentionRule(
            id=rid,
            period=period,
            anchor=Anchor(
                column=a.get("column", ""),
                link=a.get("link"),
                end_of_year=a.get("end_of_year", False),
                related_table=related["table"] if related else None,
                related_link=related["link"] if related else None,
                newest="oldest_of" not in a,
                none_expired=bool(related) and related.get("if_none") == "expired",
                while_referenced=referenced_by is not None,
            ),
            action=r["action"],
            legal_reference=_text(r["legal_reference"]),
            anonymise=anonymise,
            statutory=r.get("statutory", False),
            description=_opt_text(r.get("description")),
            location=lines.location(where),
            when=_conditions(r.get("when")),
        )

    tables: dict[str, Table] = {}
    raw_tables: dict[str, Any] = data["tables"]
    for tname, t in raw_tables.items():
        tables[tname] = _build_table(
            tname, t, lines, purposes, categories, sources, recipients, rules, identity_types
        )

    for table in tables.values():
        _resolve_links(table, tables, lines, rules)
    _check_party_cycles(tables, lines)

    return Catalog(
        controller=Controller(
            **{**data["controller"], "address": _text(data["controller"]["address"])}
        ),
        dpo=_contact(data["dpo"]),
        supervisory_authority=_contact(data["supervisory_authority"]),
        purposes=purposes,
        categories=categories,
        sources=sources,
        recipients=recipients,
        retention=rules,
        tables=tables,
        timezone=tz,
        holidays_country=hol["country"],
        holidays_subdivision=hol.get("subdivision"),
        files=files,
        identity_types=identity_types,
        phone_region=data.get("phone_region", hol["country"]),
        request_register=RegisterRetention(
            period=Period.parse(data["request_register"]["period"]),
            legal_reference=_text(data["request_register"]["legal_reference"]),
        )
        if "request_register" in data
        else None,
    )


def _contact(d: Mapping[str, Any]) -> Contact:
    return Contact(
        name=_text(d["name"]),
        email=d.get("email"),
        address=_opt_text(d.get("address")),
        website=d.get("website"),
    )


def _build_table(
    tname: str,
    t: dict[str, Any],
    lines: _Lines,
    purposes: dict[str, Purpose],
    categories: dict[str, Text],
    sources: dict[str, Text],
    recipients: dict[str, Recipient],
    rules: dict[str, RetentionRule],
    identity_types: dict[str, IdentityType],
) -> Table:
    where: Path_ = ("tables", tname)
    personal = t.get("personal", True)
    purpose = t.get("purpose")
    if purpose is not None and purpose not in purposes:
        raise lines.error((*where, "purpose"), f"unknown purpose {purpose!r}")
    retention = _as_tuple(t.get("retention"))
    for i, rid in enumerate(retention):
        if rid not in rules:
            key = (
                (*where, "retention", str(i))
                if isinstance(t.get("retention"), list)
                else (*where, "retention")
            )
            raise lines.error(key, f"unknown retention rule {rid!r}")
    table_recipients = _as_tuple(t.get("recipients"))
    for i, rec in enumerate(table_recipients):
        if rec not in recipients:
            raise lines.error((*where, "recipients", str(i)), f"unknown recipient {rec!r}")

    links = {
        name: Link(
            name=name,
            column=lk["column"],
            table=lk["table"],
            to=lk.get("to"),
            on_remove=lk.get("on_remove", "restrict"),
        )
        for name, lk in t.get("links", {}).items()
    }
    parties: dict[str, Party] = {}
    for pname, p in t.get("parties", {}).items():
        pwhere = (*where, "parties", pname)
        identities = {k: _as_tuple(v) for k, v in p.get("identities", {}).items()}
        for itype in identities:
            if itype not in identity_types:
                raise lines.error(
                    (*pwhere, "identities", itype),
                    f"unknown identity type {itype!r}; known: {', '.join(identity_types)} "
                    "(declare others under 'identity_types')",
                )
        raw_via = p.get("via")
        via_list = [raw_via] if isinstance(raw_via, dict) else list(raw_via or ())
        via = tuple(Via(link=v["link"], party=v["party"]) for v in via_list)
        pointed_by = tuple(
            PointedBy(table=b["table"], link=b["link"], party=b["party"])
            for b in p.get("pointed_by", ())
        )
        if not identities and not via and not pointed_by:
            raise lines.error(
                pwhere, "a party needs 'identities', 'via' or 'pointed_by' to be found"
            )
        for i, lname in enumerate(p.get("unattributed", ())):
            if lname not in links:
                raise lines.error(
                    (*pwhere, "unattributed", str(i)), f"unknown link {lname!r} of table {tname!r}"
                )
        for i, v in enumerate(via):
            if v.link not in links:
                key = (
                    (*pwhere, "via", "link")
                    if isinstance(raw_via, dict)
                    else (*pwhere, "via", str(i), "link")
                )
                raise lines.error(key, f"unknown link {v.link!r} of table {tname!r}")
        party_recipients = _as_tuple(p["recipients"]) if "recipients" in p else None
        for i, rec in enumerate(party_recipients or ()):
            if rec not in recipients:
                raise lines.error((*pwhere, "recipients", str(i)), f"unknown recipient {rec!r}")
        parties[pname] = Party(
            name=pname,
            title=_text(p["title"]),
            identities=identities,
            via=via,
            pointed_by=pointed_by,
            erase=p.get("erase", "delete_row"),
            unattributed=tuple(p.get("unattributed", ())),
            recipients=party_recipients,
            one_row=p.get("one_row", False),
            location=lines.location(pwhere),
        )
    if personal and not parties:
        raise lines.error(
            where, "a personal table needs at least one party (whom its rows are about)"
        )

    fields: dict[str, Field] = {}
    for fname, f in t.get("fields", {}).items():
        fwhere = (*where, "fields", fname)
        fparties = _as_tuple(f["party"])
        for party in fparties:
            if party not in parties:
                raise lines.error((*fwhere, "party"), f"unknown party {party!r} of table {tname!r}")
        if f["category"] not in categories:
            raise lines.error((*fwhere, "category"), f"unknown data category {f['category']!r}")
        fpurpose = f.get("purpose", purpose)
        if fpurpose is None:
            raise lines.error(fwhere, "no purpose: give the field or its table a 'purpose'")
        if fpurpose not in purposes:
            raise lines.error((*fwhere, "purpose"), f"unknown purpose {fpurpose!r}")
        source = f.get("source", "data_subject")
        if source not in sources:
            raise lines.error((*fwhere, "source"), f"unknown source {source!r}")
        basis_portable = purposes[fpurpose].portable_basis
        portable = f.get("portable", basis_portable and source == "data_subject")
        if portable and not basis_portable:
            raise lines.error(
                (*fwhere, "portable"),
                f"purpose {fpurpose!r} rests on Art. {purposes[fpurpose].legal_basis}; "
                "Art. 20 covers only data processed on consent or contract",
            )
        if f.get("access") == "redact" and portable:
            raise lines.error((*fwhere, "portable"), "a redacted field cannot be portable")
        fields[fname] = Field(
            name=fname,
            parties=fparties,
            category=f["category"],
            purpose=fpurpose,
            source=source,
            label=_opt_text(f.get("label")),
            access=f.get("access", "show"),
            portable=portable,
            erase=f.get("erase", "null"),
            format=f.get("format", "text"),
            currency=f.get("currency"),
            location=lines.location(fwhere),
        )
    for pname, found in parties.items():
        for itype, columns in found.identities.items():
            for column in columns:
                if column not in fields:
                    raise lines.error(
                        (*where, "parties", pname, "identities", itype),
                        f"identity column {column!r} is not a catalogued field of {tname!r}",
                    )
    display = t.get("display")
    return Table(
        name=tname,
        title=_text(t["title"]),
        key=_as_tuple(t.get("primary_key")),
        display=display,
        key_location=lines.location((*where, "primary_key")) if "primary_key" in t else None,
        personal=personal,
        description=t.get("description"),
        purpose=purpose,
        retention=retention,
        recipients=table_recipients,
        links=links,
        parties=parties,
        fields=fields,
        evidence=t.get("evidence", False),
        summarise_after=t.get("summarise_after"),
        location=lines.location(where),
    )


def _resolve_links(
    table: Table, tables: dict[str, Table], lines: _Lines, rules: dict[str, RetentionRule]
) -> None:
    where: Path_ = ("tables", table.name)
    for name, link in table.links.items():
        if link.table not in tables:
            raise lines.error(
                (*where, "links", name, "table"), f"link to {link.table!r}, which is not catalogued"
            )
    for pname, party in table.parties.items():
        pwhere = (*where, "parties", pname)
        for i, v in enumerate(party.via):
            target = tables[table.links[v.link].table]
            if v.party not in target.parties:
                key = (*pwhere, "via", "party")
                if key not in lines.where:
                    key = (*pwhere, "via", str(i), "party")
                raise lines.error(key, f"table {target.name!r} has no party {v.party!r}")
        for i, b in enumerate(party.pointed_by):
            bwhere = (*pwhere, "pointed_by", str(i))
            source = tables.get(b.table)
            if source is None:
                raise lines.error((*bwhere, "table"), f"table {b.table!r} is not catalogued")
            if b.link not in source.links:
                raise lines.error(
                    (*bwhere, "link"), f"unknown link {b.link!r} of table {b.table!r}"
                )
            if source.links[b.link].table != table.name:
                raise lines.error(
                    (*bwhere, "link"),
                    f"link {b.table}.{b.link} points at {source.links[b.link].table!r}, "
                    f"not at {table.name!r}",
                )
            if b.party not in source.parties:
                message = f"table {b.table!r} has no party {b.party!r}"
                raise lines.error((*bwhere, "party"), message)
    for rid in table.retention:
        rule = rules[rid]
        if rule.anchor.link and rule.anchor.link not in table.links:
            raise lines.error(
                (*where, "retention"),
                f"rule {rid!r} anchors on link {rule.anchor.link!r}, "
                f"which table {table.name!r} lacks",
            )
        if rule.anchor.related_table:
            which = (
                "while_referenced_by"
                if rule.anchor.while_referenced
                else ("newest_of" if rule.anchor.newest else "oldest_of")
            )
            rwhere = ("retention", rid, "anchor", which)
            related = tables.get(rule.anchor.related_table)
            if related is None:
                raise lines.error(
                    (*rwhere, "table"), f"table {rule.anchor.related_table!r} is not catalogued"
                )
            rlink = related.links.get(rule.anchor.related_link or "")
            if rlink is None or rlink.table != table.name:
                raise lines.error(
                    (*rwhere, "link"),
                    f"table {related.name!r} has no link {rule.anchor.related_link!r} "
                    f"to table {table.name!r}",
                )
        elif not rule.anchor.link and rule.anchor.column not in table.fields:
            if rule.anchor.column not in table.key:
                raise lines.error(
                    (*where, "retention"),
                    f"rule {rid!r} anchors on column {rule.anchor.column!r}, "
                    f"which is not a catalogued field of {table.name!r}",
                )
        for fname in rule.anonymise:
            if fname not in table.fields:
                raise lines.error(
                    ("retention", rid, "anonymise", fname),
                    f"field {fname!r} is not a catalogued field of table {table.name!r}",
                )


def _conditions(raw: Any) -> tuple[Condition, ...]:
    """A rule's ``when``: one ``{column: c, <op>: value}`` or a list of them (all must hold)."""
    if raw is None:
        return ()
    out = []
    for item in [raw] if isinstance(raw, dict) else raw:
        op = next(k for k in item if k != "column")
        value = item[op]
        out.append(
            Condition(
                column=item["column"], op=op, value=tuple(value) if op.endswith("in") else value
            )
        )
    return tuple(out)


def _check_party_cycles(tables: dict[str, Table], lines: _Lines) -> None:
    """Refuse parties that can only be found through themselves (a via/pointed_by loop)."""
    deps: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for t in tables.values():
        for pname, p in t.parties.items():
            edges = [(t.links[v.link].table, v.party) for v in p.via]
            edges += [(b.table, b.party) for b in p.pointed_by]
            deps[(t.name, pname)] = edges
    state: dict[tuple[str, str], int] = {}

    def visit(node: tuple[str, str], trail: list[tuple[str, str]]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            loop = trail[trail.index(node) :] + [node]
            text = " -> ".join(f"{t}.{p}" for t, p in loop)
            raise lines.error(
                ("tables", node[0], "parties", node[1]),
                f"parties are found through each other in a loop ({text})",
            )
        state[node] = 1
        for nxt in deps.get(node, ()):
            visit(nxt, [*trail, node])
        state[node] = 2

    for node in deps:
        visit(node, [])


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate a catalog from a YAML file or a folder of YAML files.

    ``None`` loads the example catalog of the COMPAREX Cloud Center that ships with dsr.
    Raises :class:`~dsr.errors.CatalogError` naming file, line and key.
    """
    files = catalog_files(path) if path is not None else [example_catalog_path()]
    lines = _Lines()
    parts = [_parse_file(f, lines) for f in files]
    data = _merge(parts, lines)
    lines.where[()] = (str(files[0]), 1)
    _validate_schema(data, lines)
    return _build(data, lines, tuple(str(f) for f in files))


def key_locator(files: Iterable[str | Path]) -> Callable[[Iterable[Any]], Location]:
    """Where each key of a loaded catalog stands, for findings made after loading.

    ``key_locator(catalog.files)(("tables", "customers", "links"))`` is the file, line and key
    of that entry (or of its nearest ancestor), as the loader's own errors name them.
    """
    lines = _Lines()
    for f in files:
        _parse_file(Path(f), lines)
    return lines.location


def example_catalog_path() -> Path:
    """The example catalog that ships with dsr (policies/comparex.yaml)."""
    from dsr._resources import resource_path

    return resource_path("policies", "comparex.yaml")
