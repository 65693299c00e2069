"""dsr: a GDPR data-subject-rights toolkit over SQL databases.

Declare once, in a catalog, which tables and columns hold personal data, about whom, why, on
which legal basis, for whom and for how long; every data-subject right is then a function over
that catalog. The command line (``dsr``) is a thin shell over these functions.
"""

from dsr.catalog import Catalog, load_catalog
from dsr.db import connect
from dsr.errors import DSRError
from dsr.subject.graph import SubjectGraph, SubjectRecord
from dsr.subject.identity import Identity, parse_identity

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "DSRError",
    "Identity",
    "SubjectGraph",
    "SubjectRecord",
    "connect",
    "load_catalog",
    "parse_identity",
]
