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
