"""Files that travel with dsr: the example catalog (policies/) and the report templates (reports/).

In a wheel they are installed as ``dsr/policies`` and ``dsr/reports``; in a source checkout they
are the top-level ``policies/`` and ``reports/`` folders.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder ``policies`` or ``reports``, installed or in the checkout."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    try:
        from importlib import resources

        found = Path(str(resources.files(f"dsr.{name}")))
        if found.is_dir():
            return found
    except (ModuleNotFoundError, TypeError):
        pass
    raise FileNotFoundError(f"dsr resource folder {name!r} is missing from the installation")


def resource_path(name: str, *parts: str) -> Path:
    return resource_dir(name).joinpath(*parts)
