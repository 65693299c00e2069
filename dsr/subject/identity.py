"""Identities a data subject is looked up by: ``TYPE=VALUE`` (``email=jane@example.com``)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from dsr.catalog.model import IDENTITY_TYPES
from dsr.errors import SubjectError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_STRIP = re.compile(r"[\s\-/().]")
_PHONE = re.compile(r"^\+?\d{4,20}$")


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


def normalise(itype: str, raw: str) -> str:
    """Canonical form of an identity value: what stored values are compared with."""
    value = raw.strip()
    if itype == "email":
        if not _EMAIL.match(value):
            raise SubjectError("not an e-mail address", where="identity email")
        return value.lower()
    if itype == "phone":
        value = _PHONE_STRIP.sub("", value)
        if value.startswith("00"):
            value = "+" + value[2:]
        if not _PHONE.match(value):
            raise SubjectError(
                "not a telephone number (digits, optionally with a leading +)",
                where="identity phone",
            )
        return value
    if itype == "ip":
        try:
            return ipaddress.ip_address(value).compressed
        except ValueError:
            raise SubjectError("not an IPv4 or IPv6 address", where="identity ip") from None
    if not value:
        raise SubjectError("empty value", where=f"identity {itype}")
    return value


def parse_identity(text: str) -> Identity:
    """Parse ``TYPE=VALUE``; a bare value containing ``@`` is an e-mail address."""
    if "=" in text:
        itype, _, raw = text.partition("=")
        itype = itype.strip().lower()
    elif "@" in text:
        itype, raw = "email", text
    else:
        raise SubjectError(
            f"identity must be TYPE=VALUE with TYPE one of {', '.join(IDENTITY_TYPES)}",
            where="identity",
        )
    if itype not in IDENTITY_TYPES:
        raise SubjectError(
            f"unknown identity type {itype!r}; known: {', '.join(IDENTITY_TYPES)}",
            where="identity",
        )
    return Identity(itype, normalise(itype, raw))


def parse_identities(texts: Iterable[str | Identity]) -> tuple[Identity, ...]:
    """Parse and de-duplicate identities, keeping them sorted (a stable subject key)."""
    out = {t if isinstance(t, Identity) else parse_identity(t) for t in texts}
    if not out:
        raise SubjectError(
            "give at least one identity, e.g. email=jane@example.com", where="identity"
        )
    return tuple(sorted(out))
