"""Finds every source and mart module by itself (as csv-detective collects its formats).

Adding a source is adding a file to `etl/sources/` that exposes `SOURCE` (or `SOURCES`);
adding a mart is adding a file to `etl/marts/` that exposes `MART`. Nothing else to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from etl.indicators import Indicator
from etl.marts.base import Mart
from etl.sources.base import Source


def _modules(package: str):
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        yield importlib.import_module(f"{package}.{info.name}")


@cache
def sources() -> dict[str, Source]:
    found: dict[str, Source] = {}
    for module in _modules("etl.sources"):
        items = list(getattr(module, "SOURCES", ()))
        if hasattr(module, "SOURCE"):
            items.append(module.SOURCE)
        for src in items:
            if src.name in found:
                raise ValueError(f"source déclarée deux fois : {src.name}")
            found[src.name] = src
    return found


@cache
def marts() -> dict[str, Mart]:
    found: dict[str, Mart] = {}
    for module in _modules("etl.marts"):
        if hasattr(module, "MART"):
            mart = module.MART
            if mart.name in found:
                raise ValueError(f"mart déclaré deux fois : {mart.name}")
            found[mart.name] = mart
    known = sources()
    for mart in found.values():
        for s in (*mart.sources, *mart.optional_sources):
            if s not in known:
                raise ValueError(f"le mart {mart.name} lit une source inconnue : {s}")
        for r in mart.requires:
            if r not in found:
                raise ValueError(f"le mart {mart.name} requiert un mart inconnu : {r}")
    return found


def requires_of(name: str) -> tuple[str, ...]:
    """The marts that `name` needs built before it."""
    all_marts = marts()
    mart = all_marts[name]
    if mart.requires_all_marts:
        return tuple(sorted(m for m in all_marts if m != name and not all_marts[m].requires_all_marts))
    return tuple(mart.requires)


def all_indicators() -> list[Indicator]:
    return [ind for mart in marts().values() for ind in mart.indicators]


def build_order(names: set[str]) -> list[str]:
    """The marts in `names` plus every mart that depends on them, in dependency order."""
    all_marts = marts()
    wanted = set(names)
    changed = True
    while changed:  # add dependants: a mart built on a rebuilt mart must be rebuilt too
        changed = False
        for m in all_marts.values():
            if m.name not in wanted and any(r in wanted for r in requires_of(m.name)):
                wanted.add(m.name)
                changed = True
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ValueError(f"dépendance circulaire autour du mart {name}")
        visiting.add(name)
        for r in sorted(requires_of(name)):
            if r in wanted:
                visit(r)
        visiting.discard(name)
        order.append(name)

    for name in sorted(wanted):
        visit(name)
    return order
