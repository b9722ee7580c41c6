"""The task families: one folder each, declared in its ``__init__`` as ``FAMILY = Family(...)``.

``FAMILY_NAMES`` is the table of built-in families, one line each; adding a family is one folder
and one line here. ``all_families()`` imports the declarations (cheap: a declaration names its
tasks', datasets' and metrics' modules without importing them).
"""

from __future__ import annotations

import importlib
from functools import cache

from matscibench.errors import RegistryError
from matscibench.families.base import CostColumn, Family, Glance

__all__ = ["FAMILY_NAMES", "Family", "CostColumn", "Glance", "all_families", "get_family", "family_title"]

#: the built-in families, in report order
FAMILY_NAMES: tuple[str, ...] = (
    "properties",
    "molecules",
    "potentials",
    "phonons",
    "generation",
    "xrd",
)


@cache
def all_families() -> dict[str, Family]:
    """name -> declaration of every built-in family, in report order."""
    out: dict[str, Family] = {}
    for name in FAMILY_NAMES:
        fam = importlib.import_module(f"matscibench.families.{name}").FAMILY
        if fam.name != name:
            raise RegistryError(f"matscibench.families.{name} declares FAMILY.name = {fam.name!r}; it must be {name!r}")
        out[name] = fam
    return out


def get_family(name: str) -> Family:
    try:
        return all_families()[name]
    except KeyError:
        raise RegistryError(f"unknown family {name!r}; known: {', '.join(FAMILY_NAMES)}") from None


def family_title(name: str) -> str:
    """The heading of a family in the reports (a family not built in shows its own name)."""
    fam = all_families().get(name)
    return fam.title if fam is not None else f"Family: {name}"
