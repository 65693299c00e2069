"""Which catalogued tables the identities a person gave can reach at all (Art. 11(2), 12(2)).

A party whose rows name people only by an identifier the person did not give (the visitors of
a web log, by IP address) is never searched for them: the answer must say so,
and which identifier would make it possible, instead of silently reporting nothing. This is
the catalog's knowledge only (parties, their identities, their links); nothing is queried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dsr.catalog.model import Catalog, Table

Node = tuple[str, str]


def reachable(catalog: Catalog, types: Iterable[str]) -> set[Node]:
    """The (table, party) pairs a lookup by identities of ``types`` reaches: directly by an
    identity column, or through a link from (or to) a party it reaches."""
    given = set(types)
    tables = catalog.tables
    parties = {
        (t.name, name): p for t in catalog.personal_tables() for name, p in t.parties.items()
    }
    found = {node for node, p in parties.items() if given & set(p.identities)}
    grew = True
    while grew:
        grew = False
        for node, p in parties.items():
            if node in found:
                continue
            t = tables[node[0]]
            sources = [(t.links[v.link].table, v.party) for v in p.via]
            sources += [(b.table, b.party) for b in p.pointed_by]
            if any(s in found for s in sources):
                found.add(node)
                grew = True
    return found


@dataclass(frozen=True)
class Unsearched:
    """A party of a table the given identities cannot reach (the people a web log names by IP
    address only), and the identity types of which any one would reach it."""

    table: Table
    party: str
    would_reach: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "table": self.table.name,
            "party": self.party,
            "would_reach": list(self.would_reach),
        }


def unsearched(catalog: Catalog, types: Iterable[str]) -> list[Unsearched]:
    """The parties of personal tables that ``types`` do not reach but another identifier
    would, in catalog order."""
    given = set(types)
    found = reachable(catalog, given)
    missing = [
        (t, name)
        for t in catalog.personal_tables()
        for name in t.parties
        if (t.name, name) not in found
    ]
    if not missing:
        return []
    more = {
        name: reachable(catalog, given | {name})
        for name in catalog.identity_types
        if name not in given
    }
    out = []
    for t, party in missing:
        ways = tuple(name for name, reach in more.items() if (t.name, party) in reach)
        if ways:
            out.append(Unsearched(t, party, ways))
    return out


@dataclass(frozen=True)
class NotSearched:
    """:class:`Unsearched` as the person is told: the table and the people in it by their
    titles, the identifiers that would lead to them by their labels."""

    table: str
    party: str
    table_title: str
    party_title: str
    identifiers: tuple[str, ...]
    labels: tuple[str, ...]
    #: an identifier many people share (an IP address): the time of use is needed too
    shared: bool

    def to_json(self) -> dict[str, object]:
        return {"table": self.table, "party": self.party, "would_reach": list(self.identifiers)}

    def text(self, lang: str) -> str:
        """One sentence: who in which table, known only by which identifier(s)."""
        from dsr.i18n import texts

        t = texts(lang)["not_searched"]
        party = self.party_title
        if lang == "en":  # "entries about visitor of the website"; German nouns keep theirs
            party = party[:1].lower() + party[1:]
        line = t["item"].format(
            party=party,
            table=self.table_title,
            identifiers=f" {t['or']} ".join(self.labels),
        )
        return f"{line} {t['shared']}" if self.shared else line


def not_searched(catalog: Catalog, types: Iterable[str], lang: str) -> list[NotSearched]:
    """:func:`unsearched` in the words of ``lang``."""
    kinds = catalog.identity_types
    out = []
    for u in unsearched(catalog, types):
        known = [kinds[n] for n in u.would_reach if n in kinds]
        out.append(
            NotSearched(
                table=u.table.name,
                party=u.party,
                table_title=str(u.table.title.get(lang)),
                party_title=str(u.table.parties[u.party].title.get(lang)),
                identifiers=u.would_reach,
                labels=tuple(str(k.label.get(lang)) for k in known),
                shared=any(not k.one_person for k in known),
            )
        )
    return out
