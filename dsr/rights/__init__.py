"""The data subject's rights (Art. 15-21 GDPR) over the catalogued data.

Each right is a module (:mod:`~dsr.rights.access`, :mod:`~dsr.rights.erase`,
:mod:`~dsr.rights.rectify`, :mod:`~dsr.rights.restrict`) and a method of
:class:`dsr.Toolkit`; this package itself imports nothing heavy.
"""

#: The rights a request can invoke: Art. 15, 20, 16, 17, 18, 21.
REQUEST_TYPES = ("access", "portability", "rectification", "erasure", "restriction", "objection")
#: Request statuses: ``open`` until a service acts on it, ``in_progress`` after, ``closed``
#: when answered.
STATUSES = ("open", "in_progress", "closed")
#: The letters to the person of a request (:mod:`dsr.letters`).
LETTER_KINDS = (
    "acknowledgement",
    "extension",
    "identification",
    "refusal",
    "negative",
    "completion",
)
#: Preset grounds of a refusal letter, each with its article (texts in reports/i18n).
REFUSAL_GROUNDS = (
    "manifestly_unfounded",
    "excessive",
    "identity_not_verified",
    "portability_not_applicable",
    "legal_obligation",
    "legal_claims",
)
