"""Real yearly carpool trips per EPCI (ministry's "tableau de bord des mobilités durables").

Writes `covoit_trajets` and `covoit_trajets_pour_1000_hab` at EPCI level, period 2024, nature
`reel`, source `mobilites_durables`, as published (68,886 for Bordeaux Métropole); the four
island communes outside any EPCI published with 0 trips are kept at commune level. Not summed
to départements or régions: the publisher's counting rule is not documented (a trip between two
EPCI may count in both), so a sum could double count. The indicators are declared by the
`covoiturage` mart (same ids, measured here).
"""

from __future__ import annotations

import polars as pl

from etl.indicators import long_rows
from etl.levels import ratio
from etl.marts.base import BuildContext, Mart, MartResult
from etl.sources.base import Parsed

SOURCE = "mobilites_durables"


class CovoiturageAnnuel(Mart):
    name = "covoiturage_annuel"
    title = "Trajets de covoiturage 2024 par EPCI (tableau de bord des mobilités durables)"
    sources = (SOURCE,)
    requires = ("territoires",)

    def build(self, ctx: BuildContext, parsed: dict[str, Parsed]) -> MartResult:
        territoires = ctx.read("territoires.parquet").select("niveau", "code", pl.col("population").cast(pl.Float64))
        totals = parsed[SOURCE].frame
        known = totals.join(territoires, on=["niveau", "code"], how="inner")
        rejected = {}
        if known.height < totals.height:
            rejected["territoire absent du référentiel (COG 2026)"] = totals.height - known.height
        known = known.with_columns(pour_1000=ratio("trajets", "population", 1000))
        rows = [
            long_rows(known.filter(pl.col("annee") == year), {"trajets": "covoit_trajets",
                                                             "pour_1000": "covoit_trajets_pour_1000_hab"},
                      periode=year, nature="reel", source=SOURCE)
            for year in sorted(known["annee"].unique().to_list())
        ]
        return MartResult(tables={}, indicateurs=pl.concat(rows), rejected=rejected,
                          notes=[f"{known.height} territoires, total publié {int(known['trajets'].sum())}"])


MART = CovoiturageAnnuel()
