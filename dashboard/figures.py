"""Key figures of a domain page: a territory's value beside similar territories, its parent and France.

Pure functions over the marts (`indicateurs`, `catalogue`, `territoires`) so that tests check
exactly what the pages show. A comparison uses the same period, nature and source as the
territory's own value: an estimate is compared with estimates, a 2019 count with 2019 counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from dashboard import compare, fmt
from dashboard.territory import Territory, parents


def with_unit(value: float | None, unit: str, decimals: int) -> str:
    """`fmt.with_unit`, with a counted unit in the singular below 2, as French writes it: "0 lieu", "1 équipement"."""
    if not fmt.is_missing(value) and abs(value) < 2 and unit.endswith(("s", "x")) and " " not in unit:
        unit = unit[:-1]
    return fmt.with_unit(value, unit, decimals)


@dataclass(frozen=True)
class KeyFigure:
    """One big number and what gives it meaning."""

    indicateur: str
    libelle: str
    unite: str
    decimales: int
    definition: str
    valeur: float | None
    periode: str | None
    nature: str | None
    source: str | None
    #: (label, value) pairs: comparable territories (median), nearest parent, France
    comparaisons: list[tuple[str, float | None]] = field(default_factory=list)

    def text(self) -> str:
        """The value in French for a big number: "9 lieux", "1 lieu", "47,3 %", "0,78" (a rate's unit is in its label)."""
        unit = "" if self.unite.startswith("pour ") else self.unite
        return with_unit(self.valeur, unit, self.decimales)

    def caption(self) -> str:
        """The period, then "Communes comparables (médiane de 10) : 0,4 · Gironde : 0,6 · France : 0,2"."""
        parts = [f"{label} : {with_unit(v, self.unite, self.decimales)}" for label, v in self.comparaisons]
        when = fmt.period(self.periode) if self.periode else ""
        label = fmt.nature_label(self.nature or "")
        head = f"{when}" + (f" ({label})" if label else "")
        return " · ".join([p for p in [head, *parts] if p])


def key_figures(
    indicateurs: pl.DataFrame,
    catalogue: pl.DataFrame,
    territoires: pl.DataFrame,
    t: Territory,
    ids: list[str],
    *,
    peers: int = 10,
) -> list[KeyFigure]:
    """For each indicator of `ids`, the territory's latest value and its comparisons."""
    mine = compare.latest(indicateurs, [t.key], ids)
    chain = parents(territoires, t)
    nearest = next((p for p in chain if p.niveau != "france"), None)
    france = next((p for p in chain if p.niveau == "france"), None)
    similar = compare.comparables(territoires, t, k=peers) if t.niveau != "france" else territoires.head(0)
    peer_keys = list(zip(similar["niveau"], similar["code"], strict=True))
    peer_label = {"commune": "communes", "arrondissement": "communes", "epci": "intercommunalités",
                  "departement": "départements", "region": "régions"}.get(t.niveau, "territoires")
    meta = {r["indicateur"]: r for r in catalogue.filter(pl.col("indicateur").is_in(ids)).iter_rows(named=True)}
    out = []
    for ind in ids:
        m = meta.get(ind)
        if m is None:
            continue
        row = mine.filter(pl.col("indicateur") == ind)
        if row.height == 0:
            out.append(KeyFigure(ind, m["libelle"], m["unite"], m["decimales"], m["definition"], None, None, None,
                                 None))
            continue
        r = row.row(0, named=True)
        same = indicateurs.filter((pl.col("indicateur") == ind) & (pl.col("periode") == r["periode"])
                                  & (pl.col("source") == r["source"]) & (pl.col("nature") == r["nature"]))
        comparisons: list[tuple[str, float | None]] = []
        if peer_keys:
            peer_values = same.join(similar.select("niveau", "code"), on=["niveau", "code"], how="semi")["valeur"]
            if peer_values.len():
                comparisons.append((f"{peer_label.capitalize()} comparables (médiane de {peer_values.len()})",
                                    peer_values.median()))
        for p in (nearest, france):
            if p is None or p.key == t.key:
                continue
            v = same.filter((pl.col("niveau") == p.niveau) & (pl.col("code") == p.code))["valeur"]
            comparisons.append((p.nom, v[0] if v.len() else None))
        out.append(KeyFigure(ind, m["libelle"], m["unite"], m["decimales"], m["definition"], r["valeur"],
                             r["periode"], r["nature"], r["source"], comparisons))
    return out
