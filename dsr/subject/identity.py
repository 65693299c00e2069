"""Identities a data subject is looked up by: ``TYPE=VALUE`` (``email=jane@example.com``).

A value is normalised once, when it is given (:func:`normalise`), and compared with values as
they are stored (:func:`stored_forms`): an e-mail address case-insensitively, a telephone
number by libphonenumber in E.164 against the stored number with its formatting stripped, so
``+1 (650) 644-3358`` in the database matches ``phone=+16506443358``, ``phone=650-644-3358``
(with the catalog's region US) or ``phone=001 650 644 3358``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dsr.catalog.model import BUILTIN_IDENTITY_TYPES, IdentityType, Text
from dsr.errors import SubjectError

if TYPE_CHECKING:
    from dsr.catalog.model import Catalog

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Characters people type into numbers and identifiers that carry no meaning; the same set is
#: stripped from stored values in SQL (:func:`dsr.subject.graph.stripped`).
FORMATTING = (" ", "-", "(", ")", ".", "/")
_FORMATTING = re.compile(r"[\s\-().\/]")
#: What erasure writes into a cleared text column: never an identity of anyone.
_PLACEHOLDER = re.compile(r"^erased(-\d+)?$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Identity:
    """One way of finding a person, with its value normalised for comparison."""

    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}=<{self.type}>"  # never the value: identities are personal data

    @property
    def spec(self) -> str:
        """``TYPE=VALUE`` as given on the command line (personal data: not for logs)."""
        return f"{self.type}={self.value}"


def normalise(itype: str, raw: str, kind: IdentityType | None = None, region: str = "DE") -> str:
    """Canonical form of an identity value: what stored values are compared with."""
    kind = kind or BUILTIN_IDENTITY_TYPES.get(itype) or IdentityType(itype, _label(itype))
    value = raw.strip()
    where = f"identity {itype}"
    if not value:
        raise SubjectError("empty value", where=where)
    if _PLACEHOLDER.match(value):
        raise SubjectError("this is the placeholder erasure leaves behind, no one's", where=where)
    if kind.match == "email":
        if not _EMAIL.match(value):
            raise SubjectError("not an e-mail address", where=where)
        value = value.lower()
    elif kind.match == "phone":
        value = _phone(value, region, where)
    elif kind.match == "ip":
        value = _ip(value, where)
    elif kind.match == "casefold":
        value = value.casefold()
    elif kind.match == "digits":
        value = _FORMATTING.sub("", value)
    if kind.pattern and not re.fullmatch(kind.pattern, value):
        raise SubjectError(f"not a valid {itype} (the catalog's pattern)", where=where)
    return value


def _phone(value: str, region: str, where: str) -> str:
    import phonenumbers  # only people given by telephone number pay for its metadata

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise SubjectError("not a telephone number", where=where) from None
    if not phonenumbers.is_possible_number(number):
        raise SubjectError("not a possible telephone number", where=where)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _ip(value: str, where: str) -> str:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise SubjectError("not an IPv4 or IPv6 address", where=where) from None
    if addr.is_unspecified:
        raise SubjectError("the unspecified address identifies no one", where=where)
    return addr.compressed


def is_anonymised_ip(value: str) -> bool:
    """True for what IP truncation leaves behind: an IPv4 /24 or IPv6 /48 network address.

    Such a value is shared by every visitor of that network, so it never names one person
    (it would make ``dsr access ip=198.51.100.0`` return everybody's truncated log lines).
    """
    addr = ipaddress.ip_address(value)
    bits = 8 if addr.version == 4 else 80
    return int(addr) & ((1 << bits) - 1) == 0


def stored_forms(kind: IdentityType, value: str, region: str) -> list[str]:
    """The values, as compared in SQL, that a stored value equal to ``value`` may take.

    For telephone numbers the stored value is compared with its formatting stripped, so the
    forms are those of one number written with or without its country code, with ``+`` or
    the international prefix ``00``, with or without the trunk prefix (``+49 0711 ...``
    written as people do), and in national form where the number belongs to ``region``.
    """
    if kind.match != "phone":
        return [value]
    import phonenumbers

    number = phonenumbers.parse(value, None)
    cc = str(number.country_code)
    nsn = phonenumbers.national_significant_number(number)
    own = phonenumbers.region_code_for_number(number)
    meta = phonenumbers.PhoneMetadata.metadata_for_region(own or "", None)
    trunk = (meta.national_prefix or "") if meta else ""
    forms = [f"+{cc}{nsn}", f"00{cc}{nsn}", f"{cc}{nsn}"]
    if trunk:
        forms += [f"+{cc}{trunk}{nsn}", f"00{cc}{trunk}{nsn}"]
    home = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
    if home is not None and home.country_code == number.country_code:
        forms += [nsn] + ([f"{trunk}{nsn}"] if trunk else [])
    intl = home.international_prefix if home is not None else None
    if intl and intl.isdigit() and intl != "00":
        forms.append(f"{intl}{cc}{nsn}")
    return list(dict.fromkeys(forms))


def _label(itype: str) -> Text:
    return Text({"en": itype.replace("_", " ")})


def parse_identity(
    text: str, catalog: Catalog | None = None, types: Mapping[str, IdentityType] | None = None
) -> Identity:
    """Parse ``TYPE=VALUE``; a bare value containing ``@`` is an e-mail address.

    The types are the catalog's (built-in ones and those it declares under ``identity_types``).
    """
    known = (
        types
        if types is not None
        else (catalog.identity_types if catalog is not None else BUILTIN_IDENTITY_TYPES)
    )
    region = catalog.phone_region if catalog is not None else "DE"
    if "=" in text:
        itype, _, raw = text.partition("=")
        itype = itype.strip().lower()
    elif "@" in text:
        itype, raw = "email", text
    else:
        raise SubjectError(
            f"identity must be TYPE=VALUE with TYPE one of {', '.join(known)}", where="identity"
        )
    if itype not in known:
        raise SubjectError(
            f"unknown identity type {itype!r}; known: {', '.join(known)}", where="identity"
        )
    return Identity(itype, normalise(itype, raw, known[itype], region))


def parse_identities(
    texts: Iterable[str | Identity], catalog: Catalog | None = None
) -> tuple[Identity, ...]:
    """Parse and de-duplicate identities, keeping them sorted (a stable subject key).

    One identity given as a plain string (``"jane@example.com"``) is taken as one identity,
    not as a sequence of characters.
    """
    if isinstance(texts, str | Identity):
        texts = [texts]
    if texts is None or not isinstance(texts, Iterable):
        raise SubjectError(
            "give the person's identities as a list, e.g. ['email=jane@example.com']",
            where="identity",
        )
    out = {t if isinstance(t, Identity) else parse_identity(t, catalog) for t in texts}
    if not out:
        raise SubjectError(
            "give at least one identity, e.g. email=jane@example.com", where="identity"
        )
    return tuple(sorted(out))
