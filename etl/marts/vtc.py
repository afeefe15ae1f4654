"""Taxis and VTC: real taxi counts 2009 and 2013, the taxi-VTC boom 2013-2018, the current figure.

Indicators:
- `taxis_bpe` (2009, 2013, real): the BPE equipment "Taxi" per commune, before VTC existed,
  brought from the geography of each year to today's communes (former codes summed into the
  commune that holds them today; Paris, Lyon and Marseille summed from their arrondissements).
- `vtc_equipements`, `vtc_pour_10000_hab`: the taxi-VTC equipment (E101). Real when a live run
  loaded the current BPE (`bpe`, the default) or the Sirene alternative (`sirene_vtc`); in the
  embedded data, which has neither, an **estimate** for 2018 (`nature = estime`), below.

- `vtc_hausse_depuis_2013`, `vtc_hausse_pour_10000_hab`: current E101 minus the 2013 taxis, the
  VTC firms that appeared since (and the taxis' own change): the platform component of the
  balance index, because a level of taxis is not platform penetration (rural communes have
  many taxis conventionnés for medical transport). Measured only when the live BPE is loaded
  (same publisher, same equipment code); never estimated, never from Sirene (another count).

The estimate (see docs/tiers-lieux-vtc.md): INSEE published E101 for 2013 and 2018 per aire
urbaine, not per commune, and no commune-to-aire-urbaine table is at hand. The boom was almost
all in the Paris area (aire urbaine de Paris x2.89, rest of France x1.32), so one national
factor (x1.95) would overstate every small town and understate Paris. Two zones instead:
Île-de-France stands for the aire urbaine de Paris (their 2013 counts agree: 13,742 taxis in the
région, 14,015 E101 in the aire urbaine), the rest of France for the other aires and rural
rows. A commune's estimate = its real 2013 taxi count x the real 2013-2018 E101 growth of its
zone. Tables `vtc/estimation.parquet` (the model's real inputs and factors) and
`vtc/aires_urbaines.parquet` (the national context) go with it.
"""

from __future__ import annotations

import functools
import operator
from collections import Counter

import polars as pl

from etl.cog import current_passage, harmonise_communes
from etl.indicators import Indicator, long_rows
from etl.levels import ratio, roll_up
from etl.marts.base import BuildContext, Mart, MartResult
from etl.sources.base import Parsed

LICENCE = "Licence Ouverte 2.0"
PARIS_AU = "001"
ILE_DE_FRANCE = "11"
ESTIMATE_PERIOD = "2018"
ZONES = {
    "ile_de_france": ("Île-de-France", "aire urbaine de Paris (2010)"),
    "reste": ("reste de la France", "France hors aire urbaine de Paris"),
}

INDICATORS = (
    Indicator("taxis_bpe", "Taxis (BPE, avant les VTC)", "équipements",
              "Nombre d'équipements « Taxi » de la Base permanente des équipements (éditions 2009 et 2013, avant "
              "l'essor des VTC), ramenés aux communes d'aujourd'hui ; somme des communes.", "contexte", "vtc",
              "Insee, Base permanente des équipements 2009 et 2013", LICENCE, sens=0, decimales=0),
    Indicator("vtc_equipements", "Taxis et VTC", "équipements",
              "Nombre d'équipements « Taxi - VTC » (E101) de la Base permanente des équipements : des "
              "établissements (entreprises de taxi ou de VTC), pas des chauffeurs. Avec la BPE en ligne : valeur "
              "mesurée. Sinon (données embarquées) : estimation 2018 = taxis 2013 de la commune × croissance réelle "
              "2013-2018 de l'équipement E101 dans sa zone (aire urbaine de Paris pour l'Île-de-France : × 2,89 ; "
              "reste de la France : × 1,32). Somme des communes.", "plateforme", "vtc",
              "Insee, Base permanente des équipements (E101) ; estimation d'après la BPE 2013-2018", LICENCE,
              sens=1, decimales=0),
    Indicator("vtc_hausse_depuis_2013", "Hausse des taxis et VTC depuis 2013", "équipements",
              "Équipements « Taxi - VTC » (E101) de la Base permanente des équipements courante moins équipements "
              "« Taxi » de la BPE 2013 (avant les VTC), dans les communes présentes dans les deux : surtout les "
              "entreprises de VTC apparues depuis. Mesurée seulement quand la BPE en ligne est chargée ; jamais "
              "estimée. Somme des communes.", "plateforme", "vtc",
              "Insee, Base permanente des équipements 2013 et courante", LICENCE, sens=1, decimales=0),
    Indicator("vtc_hausse_pour_10000_hab", "Hausse des taxis et VTC depuis 2013 pour 10 000 habitants",
              "pour 10 000 hab.",
              "Hausse des équipements taxi-VTC depuis 2013 (voir vtc_hausse_depuis_2013) / population municipale "
              "(2023) × 10 000, recalculée à chaque niveau à partir des sommes. Composante « VTC » de l'indice de "
              "pénétration des plateformes (le niveau de taxis n'en est pas une).", "plateforme", "vtc",
              "Insee, Base permanente des équipements 2013 et courante", LICENCE, sens=1, decimales=1),
    Indicator("vtc_pour_10000_hab", "Taxis et VTC pour 10 000 habitants", "pour 10 000 hab.",
              "Équipements « Taxi - VTC » (E101, mesurés ou estimés, voir vtc_equipements) / population municipale "
              "(2023) × 10 000, recalculé à chaque niveau à partir des sommes.", "plateforme", "vtc",
              "Insee, Base permanente des équipements (E101) ; estimation d'après la BPE 2013-2018", LICENCE,
              sens=1, decimales=1),
)


def _zone(code_region: pl.Expr) -> pl.Expr:
    """The estimate's zone of a commune: Île-de-France (for the aire urbaine de Paris) or the rest."""
    return pl.when(code_region == ILE_DE_FRANCE).then(pl.lit("ile_de_france")).otherwise(pl.lit("reste"))


def estimate_factors(aires_urbaines: pl.DataFrame, taxis_2013: pl.DataFrame) -> pl.DataFrame:
    """The estimate's model: one row per zone with its real inputs and its growth factor.

    `aires_urbaines`: E101 per aire urbaine (`id_au`, `nb_2013`, `nb_2018`, source
    `bpe_historique`); `taxis_2013`: real 2013 taxis per current commune (`code_region`,
    `taxis_2013`). Factor of a zone = its E101 in 2018 / its E101 in 2013.
    """
    paris = aires_urbaines.filter(pl.col("id_au") == PARIS_AU)
    if paris.height != 1:
        raise ValueError("aire urbaine de Paris (001) absente du fichier des aires urbaines")
    national = aires_urbaines.select(pl.col("nb_2013").sum(), pl.col("nb_2018").sum()).row(0)
    p2013, p2018 = paris.select("nb_2013", "nb_2018").row(0)
    taxis = taxis_2013.group_by(_zone(pl.col("code_region")).alias("zone")).agg(pl.col("taxis_2013").sum())
    return (
        pl.DataFrame({
            "zone": list(ZONES),
            "libelle": [v[0] for v in ZONES.values()],
            "perimetre_e101": [v[1] for v in ZONES.values()],
            "e101_2013": [p2013, national[0] - p2013],
            "e101_2018": [p2018, national[1] - p2018],
        })
        .with_columns(facteur=pl.col("e101_2018") / pl.col("e101_2013"))
        .join(taxis, on="zone", how="left")
        .with_columns(estimation_2018=pl.col("taxis_2013") * pl.col("facteur"))
    )


def _levels_with_rate(values: pl.DataFrame, arr_values: pl.DataFrame | None, communes: pl.DataFrame,
                      arrondissements: pl.DataFrame, count: str, *, complete_only: bool = False,
                      factors: dict[str, float] | None = None) -> pl.DataFrame:
    """Sum `count` and population up the levels, with the rate per 10,000 inhabitants.

    `complete_only`: keep only the territories whose communes all have a value (a Sirene run
    limited to some départements must not show a région's partial sum as its total).
    `factors`: the estimate's growth per zone; `values` then holds one whole-number column per
    zone (`<zone>`), summed up the levels, and `count` = sum of zone x factor: summing integers
    and multiplying once keeps every level exactly equal to the model, in any row order.
    """
    pops = communes.select(pl.col("code").alias("code_commune"), "population")
    value_cols = list(factors) if factors else [count]
    base = pops.join(values, on="code_commune", how="left").with_columns(
        _couvert=pl.col(value_cols[0]).is_not_null().cast(pl.Int64), _communes=pl.lit(1, pl.Int64))
    sums = [*value_cols, "population", "_couvert", "_communes"]
    arr = None
    if arr_values is not None and arr_values.height:
        arr = arrondissements.select(pl.col("code").alias("code_arrondissement"), "population").join(
            arr_values, on="code_arrondissement", how="inner").with_columns(
            _couvert=pl.lit(1, pl.Int64), _communes=pl.lit(1, pl.Int64))
    out = roll_up(base, communes, sums, arrondissements=arr)
    if factors:
        # a plain sum, so that a territory without any value stays null (sum_horizontal would give 0)
        terms = [pl.col(z) * f for z, f in factors.items()]
        out = out.with_columns(functools.reduce(operator.add, terms).alias(count)).drop(list(factors))
    if complete_only:
        out = out.filter(pl.col("_couvert") == pl.col("_communes"))
    return out.filter(pl.col(count).is_not_null()).with_columns(
        ratio(count, "population", 10_000).alias("pour_10000_hab")).drop("_couvert", "_communes")


class Vtc(Mart):
    name = "vtc"
    title = "Taxis et VTC : taxis 2009-2013, essor des VTC 2013-2018, équipement actuel"
    sources = ("bpe_historique", "cog_passage")
    optional_sources = ("bpe", "sirene_vtc")
    requires = ("territoires",)
    indicators = INDICATORS

    def build(self, ctx: BuildContext, parsed: dict[str, Parsed]) -> MartResult:
        territoires = ctx.read("territoires.parquet")
        communes = territoires.filter(pl.col("niveau") == "commune")
        arrondissements = territoires.filter(pl.col("niveau") == "arrondissement")
        passage = current_passage(parsed["cog_passage"].frame, communes)
        rejected: Counter = Counter()
        notes: list[str] = []

        def harmonise(df: pl.DataFrame, code_col: str, cols: list[str], mode: str, what: str):
            h = harmonise_communes(df, code_col=code_col, sum_cols=cols, passage=passage, communes=communes["code"],
                                   arrondissements=arrondissements.select("code", "code_commune"),
                                   arrondissement_mode=mode)
            rejected.update({f"{what} : {k}": v for k, v in h.rejected.items()})
            notes.extend(f"{what} : {k} : {v}" for k, v in h.remapped.items())
            return h

        # -- taxis 2009 and 2013, today's geography ------------------------------------------
        hist = parsed["bpe_historique"]
        taxis = harmonise(hist.frame, "code_commune", ["taxis_2009", "taxis_2013"], "rollup", "taxis 2009-2013")
        for year in ("2009", "2013"):
            missing = communes.height - taxis.communes.filter(pl.col(f"taxis_{year}").is_not_null()).height
            notes.append(f"taxis {year} : {missing} communes d'aujourd'hui sans ligne dans le fichier (pas de donnée)")
        frames = []
        for year in ("2009", "2013"):
            col = f"taxis_{year}"
            lv = _levels_with_rate(taxis.communes.select("code_commune", col).drop_nulls(col),
                                   taxis.arrondissements.select("code_arrondissement", col).drop_nulls(col),
                                   communes, arrondissements, col)
            frames.append(long_rows(lv, {col: "taxis_bpe"}, periode=year, nature="reel", source="bpe_historique"))

        # -- the estimate: taxis 2013 x real E101 growth of the zone -----------------------------
        aires = hist.tables["aires_urbaines"]
        com_2013 = taxis.communes.select("code_commune", "taxis_2013").drop_nulls("taxis_2013").join(
            communes.select(pl.col("code").alias("code_commune"), "code_region"), on="code_commune")
        model = estimate_factors(aires, com_2013)
        factor = dict(model.select("zone", "facteur").iter_rows())
        by_zone = [pl.when(_zone(pl.col("code_region")) == z).then(pl.col("taxis_2013")).otherwise(0).alias(z)
                   for z in factor]
        est = com_2013.select("code_commune", *by_zone)
        arr_est = taxis.arrondissements.drop_nulls("taxis_2013").join(
            arrondissements.select(pl.col("code").alias("code_arrondissement"), "code_region"),
            on="code_arrondissement").select("code_arrondissement", *by_zone)
        lv = _levels_with_rate(est, arr_est, communes, arrondissements, "vtc", factors=factor)
        frames.append(long_rows(lv, {"vtc": "vtc_equipements", "pour_10000_hab": "vtc_pour_10000_hab"},
                                periode=ESTIMATE_PERIOD, nature="estime", source="bpe_historique"))
        notes.append("estimation 2018 : " + " ; ".join(
            f"{r['libelle']} : {r['taxis_2013']} taxis 2013 × {r['facteur']:.4f} = {r['estimation_2018']:.0f}"
            for r in model.iter_rows(named=True)))

        # -- real counts, when a live run loaded them ------------------------------------------
        choice = ctx.options.get("vtc_source") or "bpe"
        live = [s for s in (("bpe", "sirene_vtc") if choice == "bpe" else ("sirene_vtc", "bpe")) if s in parsed]
        if live:
            frames.extend(self._real(live[0], parsed[live[0]], communes, arrondissements, harmonise, taxis))
            notes.append(f"comptages réels : source {live[0]}")
        else:
            notes.append("pas de comptage réel des taxis-VTC (BPE ou Sirene) : seule l'estimation est disponible")

        return MartResult(
            tables={
                "vtc/estimation.parquet": model,
                "vtc/aires_urbaines.parquet": aires.with_columns(
                    evolution_pct=ratio("nb_2018", "nb_2013", 100) - 100).sort("nb_2018", "id_au",
                                                                               descending=[True, False]),
            },
            indicateurs=pl.concat(frames),
            rejected=rejected,
            notes=notes,
        )

    def _real(self, name: str, parsed: Parsed, communes: pl.DataFrame, arrondissements: pl.DataFrame,
              harmonise, taxis) -> list[pl.DataFrame]:
        """Indicator rows of the measured counts (BPE per year, or the Sirene stock of one month).

        With the BPE, also the growth since 2013 (`taxis`: the harmonised 2013 taxi counts).
        """
        frames = []
        if name == "bpe":
            rows = parsed.frame
            for period in sorted(rows["periode"].unique().to_list()):
                year = rows.filter(pl.col("periode") == period)
                com = harmonise(year.filter(pl.col("niveau") == "commune").select("code", vtc="equipements"), "code",
                                ["vtc"], "separate", f"BPE {period}")
                # the BPE is exhaustive: a commune absent from it has no taxi-VTC equipment
                values = communes.select(pl.col("code").alias("code_commune")).join(
                    com.communes, on="code_commune", how="left").with_columns(pl.col("vtc").fill_null(0))
                arr_rows = year.filter(pl.col("niveau") == "arrondissement")
                arr = None
                if arr_rows.height:
                    arr = arrondissements.select(pl.col("code").alias("code_arrondissement")).join(
                        arr_rows.select(pl.col("code").alias("code_arrondissement"), vtc="equipements"),
                        on="code_arrondissement", how="left").with_columns(pl.col("vtc").fill_null(0))
                lv = _levels_with_rate(values, arr, communes, arrondissements, "vtc")
                frames.append(long_rows(lv, {"vtc": "vtc_equipements", "pour_10000_hab": "vtc_pour_10000_hab"},
                                        periode=period, nature="reel", source="bpe"))
                frames.append(self._growth(values, arr, taxis, communes, arrondissements, period))
            return frames
        covered = parsed.tables["couverture"]
        period = covered["periode"][0]
        deps = covered["departement"].to_list()
        h = harmonise(parsed.frame.rename({"etablissements": "vtc"}), "code_commune", ["vtc"], "rollup", "Sirene")
        # 0 for the communes of the départements read; the others stay "no data"
        values = communes.filter(pl.col("code_departement").is_in(deps)).select(pl.col("code").alias("code_commune")
                                                                                ).join(h.communes, on="code_commune",
                                                                                       how="left").with_columns(
            pl.col("vtc").fill_null(0))
        arr = arrondissements.filter(pl.col("code_departement").is_in(deps)).select(
            pl.col("code").alias("code_arrondissement")).join(h.arrondissements, on="code_arrondissement",
                                                              how="left").with_columns(pl.col("vtc").fill_null(0))
        lv = _levels_with_rate(values, arr, communes, arrondissements, "vtc", complete_only=True)
        frames.append(long_rows(lv, {"vtc": "vtc_equipements", "pour_10000_hab": "vtc_pour_10000_hab"},
                                periode=period, nature="reel", source="sirene_vtc"))
        return frames

    @staticmethod
    def _growth(values: pl.DataFrame, arr: pl.DataFrame | None, taxis, communes: pl.DataFrame,
                arrondissements: pl.DataFrame, period: str) -> pl.DataFrame:
        """Current E101 minus 2013 taxis, in the communes (and arrondissements) that have both."""
        com = values.join(taxis.communes.select("code_commune", "taxis_2013").drop_nulls("taxis_2013"),
                          on="code_commune", how="inner").select(
            "code_commune", hausse=pl.col("vtc").cast(pl.Float64) - pl.col("taxis_2013"))
        arr_growth = None
        if arr is not None:
            arr_growth = arr.join(taxis.arrondissements.select("code_arrondissement", "taxis_2013").drop_nulls(
                "taxis_2013"), on="code_arrondissement", how="inner").select(
                "code_arrondissement", hausse=pl.col("vtc").cast(pl.Float64) - pl.col("taxis_2013"))
        lv = _levels_with_rate(com, arr_growth, communes, arrondissements, "hausse")
        return long_rows(lv, {"hausse": "vtc_hausse_depuis_2013", "pour_10000_hab": "vtc_hausse_pour_10000_hab"},
                         periode=period, nature="reel", source="bpe")


MART = Vtc()
