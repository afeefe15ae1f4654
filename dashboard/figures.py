"""Key figures of a domain page: a territory's value beside similar territories, its parent and France.

Pure functions over the current values (`dashboard.valeurs`: one answer per territory and
indicator, computed once by the ETL), `catalogue` and `territoires`, so that tests check exactly
what the pages show. Every number is that territory's own figure; the median of comparable
territories only takes those whose figure has the same period, nature and source as the
territory's, and a parent whose figure is of another period says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from dashboard import compare, fmt, valeurs
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
    #: why there is no value, in plain French (from `dashboard.valeurs`)
    raison: str | None = None

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
        if self.valeur is None and self.raison:
            head = self.raison[:1].upper() + self.raison[1:]
        return " · ".join([p for p in [head, *parts] if p])


def key_figures(
    current: pl.DataFrame | None,
    catalogue: pl.DataFrame,
    territoires: pl.DataFrame,
    t: Territory,
    ids: list[str],
    *,
    peers: int = 10,
    levels: set[tuple[str, str]] | None = None,
) -> list[KeyFigure]:
    """For each indicator of `ids`, the territory's figure (`dashboard.valeurs.answer`) and its comparisons.

    `current`: the current values (all of them, or at least those of the territory, its parents
    and comparable territories), or None for the cached ones of `dashboard.valeurs`, read through
    their per-territory index (a join over all of them cost about 0.1 s per view); `levels`:
    `valeurs.available` of all of them.
    """
    chain = parents(territoires, t)
    nearest = next((p for p in chain if p.niveau != "france"), None)
    france = next((p for p in chain if p.niveau == "france"), None)
    similar = compare.comparables(territoires, t, k=peers) if t.niveau != "france" else territoires.head(0)
    peer_keys = list(zip(similar["niveau"], similar["code"], strict=True))
    peer_label = {"commune": "communes", "arrondissement": "territoires", "epci": "intercommunalités",
                  "departement": "départements", "region": "régions"}.get(t.niveau, "territoires")
    known = {r["indicateur"] for r in catalogue.filter(pl.col("indicateur").is_in(ids)).iter_rows(named=True)}
    keys = [t.key, *[p.key for p in (nearest, france) if p is not None], *peer_keys]
    if current is None:  # the cached current values: each territory's rows are a slice of them
        rows = valeurs.rows_for(keys).filter(pl.col("indicateur").is_in(ids))
    else:
        rows = current.join(pl.DataFrame({"niveau": [k[0] for k in keys], "code": [k[1] for k in keys]},
                                         schema={"niveau": pl.String, "code": pl.String}), on=["niveau", "code"],
                            how="semi").filter(pl.col("indicateur").is_in(ids))
    levels = levels if levels is not None else valeurs.levels() if current is None else valeurs.available(current)
    out = []
    for ind in ids:
        if ind not in known:
            continue
        v = valeurs.answer(rows, catalogue, t.niveau, t.code, ind, levels)
        comparisons: list[tuple[str, float | None]] = []
        if v.valeur is not None:
            same = rows.filter((pl.col("indicateur") == ind) & (pl.col("periode") == v.periode)
                               & (pl.col("source") == v.source) & (pl.col("nature") == v.nature))
            if peer_keys:
                peer_values = same.join(similar.select("niveau", "code"), on=["niveau", "code"], how="semi")["valeur"]
                if peer_values.len():
                    n = peer_values.len()  # "(une seule valeur)" rather than "(médiane de 1)"
                    comparisons.append((f"{peer_label.capitalize()} comparables "
                                        + ("(une seule valeur)" if n == 1 else f"(médiane de {fmt.number(n)})"),
                                        peer_values.median()))
        for p in (nearest, france):
            if p is None or p.key == t.key:
                continue
            pv = valeurs.answer(rows, catalogue, p.niveau, p.code, ind, levels)
            label = p.nom
            if pv.valeur is not None and (pv.periode != v.periode or pv.nature != v.nature):
                label += f" ({pv.quand()})" if pv.quand() else ""
            comparisons.append((label, pv.valeur))
        out.append(KeyFigure(ind, v.libelle, v.unite, v.decimales, _definition(catalogue, ind), v.valeur,
                             v.periode, v.nature, v.source, comparisons, v.raison))
    return out


def _definition(catalogue: pl.DataFrame, ind: str) -> str:
    row = catalogue.filter(pl.col("indicateur") == ind)
    return row["definition"][0] if row.height else ""
