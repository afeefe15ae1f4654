"""Comparable territories, chosen once per data version: `comparables.parquet`.

The territory mart writes the table; `dashboard.compare.comparables` only reads it, so no view
searches 35,000 communes for neighbours (issue #12). One row per (territory, peer), `rang` 1 to
`K`, the nearest first, and the French sentence (`methode`) saying how the peers were chosen; a
territory without any peer gets one row with no peer and a sentence saying why, so that a page
never writes "sur 0 comparables".

Rules (docs/donnees.md, "Comparable territories"), nearest in population (|log(1 + pop)|
difference, then code) inside a group:

- a commune: communes of the same population band and density class; island communes apart;
- an island commune (see `island_communes`): the other island communes, whatever their size:
  Ouessant is compared with Sein, Yeu with the communes of Ré and Oléron, not with a mainland
  town of its size;
- an arrondissement municipal (Paris, Lyon, Marseille): the other arrondissements and the dense
  communes of the métropoles, the communes "inside large cities" (never its own city): Lyon 3e
  is compared with Villeurbanne and Paris 15e, no longer with Issoire;
- a commune of unknown density (no polygon yet): communes of its population band, said so;
- a commune without inhabitant: none, said so;
- an EPCI: same type (CC, CA, CU, métropole) and population band;
- départements, régions: their level.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import shapely

#: Peers kept per territory.
K = 10
#: An island: a group of communes whose polygons touch one another but no other commune, of fewer
#: than this many communes...
ISLAND_MAX_COMMUNES = 12
#: ... and holding less than this share of its département's communes (Grande-Terre holds 10 of the
#: 32 communes of Guadeloupe: it is the département, not an island off it).
ISLAND_MAX_SHARE = 0.2
#: Density class of the communes compared with arrondissements (`etl.marts.territoires.DENSITY_LABELS`).
DENSE = "dense"
METROPOLE = "métropole"

SCHEMA = {"niveau": pl.String, "code": pl.String, "rang": pl.Int8, "niveau_pair": pl.String,
          "code_pair": pl.String, "methode": pl.String}


def island_communes(codes: list[str], departements: list[str | None], shapes: np.ndarray) -> set[str]:
    """The communes on an island off their département's mainland, from their polygons.

    Communes whose polygons touch form connected groups: the mainland (34,340 communes), Corsica,
    each overseas island, and each coastal island (Ré: 10 communes; Oléron: 8; Belle-Île: 4;
    Ouessant, Sein, Bréhat, Yeu: 1). A group is an island when it is small (fewer than
    `ISLAND_MAX_COMMUNES`) and a minor part of its département (`ISLAND_MAX_SHARE`).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(codes)
    if n == 0:
        return set()
    tree = shapely.STRtree(shapes)
    a, b = tree.query(shapes, predicate="intersects")
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    df = pl.DataFrame({"code": codes, "dep": departements, "groupe": labels})
    sizes = df.group_by("groupe").agg(taille=pl.len(), dep=pl.col("dep").mode().first())
    per_dep = df.group_by("dep").agg(communes_dep=pl.len())
    islands = sizes.join(per_dep, on="dep", how="left").filter(
        (pl.col("taille") < ISLAND_MAX_COMMUNES) & (pl.col("taille") < ISLAND_MAX_SHARE * pl.col("communes_dep")))
    return set(df.join(islands.select("groupe"), on="groupe", how="semi")["code"].to_list())


def _lp() -> pl.Expr:
    return (pl.col("population").cast(pl.Float64).fill_null(0) + 1).log()


def _nearest_within(members: pl.DataFrame, k: int) -> pl.DataFrame:
    """For each member, the `k` others of its `groupe` nearest in log population (ties: code).

    Sorted by log population, a member's k nearest lie within k places on either side: each
    member is compared with 2k candidates, never with its whole group. The 2k pairs of every
    member (700,000 for the communes) carry numbers only (row, group and code ranks, log
    population); names are attached to the k kept: with the codes and group texts in the pairs,
    the communes' step alone took 300 MB.
    """
    ranked = (members.with_columns(_lp=_lp(), _c=pl.col("code").rank("dense").cast(pl.Int64),
                                   _g=pl.col("groupe").rank("dense").cast(pl.Int64))
              .sort("groupe", "_lp", "code").with_columns(_i=pl.int_range(pl.len(), dtype=pl.Int64)))
    # `_i` runs over all groups; a candidate must also be of the seeker's group
    offsets = pl.DataFrame({"_o": [o for o in range(-k, k + 1) if o]}, schema={"_o": pl.Int64})
    other = ranked.select(pl.col("_i").alias("_j"), pl.col("_g").alias("_gp"), pl.col("_lp").alias("_lp_pair"),
                          pl.col("_c").alias("_cp"))
    pairs = (ranked.select("_g", "_lp", "_i").join(offsets, how="cross")
             .with_columns(_j=pl.col("_i") + pl.col("_o"))
             .join(other, on="_j").filter(pl.col("_gp") == pl.col("_g")))
    nearest = _rank_nearest(pairs, k).select("_i", "_j", "rang")
    names = ranked.select("_i", "niveau", "code")
    return (nearest.join(names, on="_i", how="left", maintain_order="left")
            .join(names.select(pl.col("_i").alias("_j"), pl.col("niveau").alias("niveau_pair"),
                               pl.col("code").alias("code_pair")), on="_j", how="left", maintain_order="left")
            .select("niveau", "code", pl.col("rang").cast(pl.Int8), "niveau_pair", "code_pair"))


def _nearest_in_pool(seekers: pl.DataFrame, pool: pl.DataFrame, k: int) -> pl.DataFrame:
    """For each seeker, the `k` territories of `pool` (another set) nearest in log population."""
    cand = pool.select(pl.col("niveau").alias("niveau_pair"), pl.col("code").alias("code_pair"),
                       _lp().alias("_lp_pair"), pl.col("_exclu").alias("_exclu_pair"),
                       pl.col("code").rank("dense").cast(pl.Int64).alias("_cp"))
    pairs = (seekers.with_columns(_lp=_lp(), _i=pl.int_range(pl.len(), dtype=pl.Int64))
             .select("niveau", "code", "_lp", "_ville", "_i").join(cand, how="cross")
             .filter((pl.col("code_pair") != pl.col("code"))
                     & (pl.col("_exclu_pair").is_null() | (pl.col("_exclu_pair") != pl.col("_ville")))))
    return _keep_nearest(pairs, k)


def _rank_nearest(pairs: pl.DataFrame, k: int) -> pl.DataFrame:
    """The `k` nearest of each seeker (`_i`), by |log population| difference then code (`_cp`, its rank)."""
    return (pairs.with_columns(_d=(pl.col("_lp") - pl.col("_lp_pair")).abs())
            .sort("_i", "_d", "_cp")
            # the rank within each seeker's run of rows (sorted by `_i`): row number minus its run's first
            .with_columns(_n=pl.int_range(pl.len(), dtype=pl.Int64))
            .with_columns(rang=pl.col("_n") - pl.when(pl.col("_i") != pl.col("_i").shift(1, fill_value=-1))
                          .then(pl.col("_n")).forward_fill() + 1)
            .filter(pl.col("rang") <= k))


def _keep_nearest(pairs: pl.DataFrame, k: int) -> pl.DataFrame:
    """`_rank_nearest`, with the names the pairs carry."""
    return _rank_nearest(pairs, k).select("niveau", "code", pl.col("rang").cast(pl.Int8), "niveau_pair", "code_pair")


def _count_phrase(n: int, singular: str, plural: str) -> str:
    from dashboard import fmt

    return f"{fmt.number(n)} {singular if n == 1 else plural}"


def peer_table(territoires: pl.DataFrame, islands: set[str] | frozenset[str] = frozenset(), k: int = K) -> pl.DataFrame:
    """Every territory's peers (`SCHEMA`), nearest first, with the sentence saying how they were chosen.

    `territoires`: the reference (`niveau`, `code`, `code_commune`, `code_epci`, `population`,
    `tranche_population`, `classe_densite`, `type_epci`); `islands`: `island_communes`.
    """
    t = territoires
    com = t.filter(pl.col("niveau") == "commune").with_columns(
        _ile=pl.col("code").is_in(list(islands)), _habitee=pl.col("population").fill_null(0) > 0)
    parts: list[pl.DataFrame] = []
    methods: list[pl.DataFrame] = []

    def method(rows: pl.DataFrame, sentence: pl.Expr | str) -> None:
        expr = pl.lit(sentence) if isinstance(sentence, str) else sentence
        methods.append(rows.select("niveau", "code", expr.alias("methode")))

    # -- communes on the mainland, of known density: band and density class ---------------------------
    mainland = com.filter(~pl.col("_ile") & pl.col("_habitee") & pl.col("classe_densite").is_not_null())
    parts.append(_nearest_within(mainland.with_columns(
        groupe=pl.concat_str("tranche_population", pl.lit("|"), "classe_densite")), k))
    method(mainland, pl.format("Communes de la même tranche de population ({}) et de la même classe de densité "
                               "({}), hors communes des îles, les plus proches en population.",
                               "tranche_population", "classe_densite"))
    # -- communes of unknown density: their band only -------------------------------------------------
    no_density = com.filter(~pl.col("_ile") & pl.col("_habitee") & pl.col("classe_densite").is_null())
    if no_density.height:
        pool = com.filter(~pl.col("_ile") & pl.col("_habitee") & pl.col("tranche_population").is_in(
            no_density["tranche_population"].unique().implode()))
        found = _nearest_within(pool.with_columns(groupe=pl.col("tranche_population")), k)
        parts.append(found.join(no_density.select("niveau", "code"), on=["niveau", "code"], how="semi"))
        method(no_density, pl.format("Superficie inconnue (commune sans contour), donc pas de classe de densité : "
                                     "communes de la même tranche de population ({}) seulement, les plus proches "
                                     "en population.", "tranche_population"))
    # -- island communes: the other island communes ---------------------------------------------------
    isl = com.filter(pl.col("_ile") & pl.col("_habitee"))
    if isl.height:
        parts.append(_nearest_within(isl.with_columns(groupe=pl.lit("îles")), k))
        n_isl = isl.height
        text = (f"Commune d'une île : comparée aux autres communes des îles ({_count_phrase(n_isl, 'commune', 'communes')}"
                " : îles du littoral, petites îles d'outre-mer), les plus proches en population, et non aux communes "
                "du continent de même taille.")
        method(isl, pl.when(pl.col("code_epci").is_null()).then(pl.lit(
            text + " Île d'une seule commune, sans intercommunalité (la loi l'en dispense) : les chiffres d'une "
                   "intercommunalité, comme une campagne d'incitation au covoiturage, ne la concernent pas."))
            .otherwise(pl.lit(text)))
    # -- communes without inhabitant ------------------------------------------------------------------
    method(com.filter(~pl.col("_habitee")), "Commune sans habitant : pas de territoire comparable.")

    # -- arrondissements: arrondissements and dense communes of the métropoles -------------------------
    arr = t.filter(pl.col("niveau") == "arrondissement")
    if arr.height:
        metro_epci = t.filter((pl.col("niveau") == "epci") & (pl.col("type_epci") == METROPOLE))["code"]
        inner = com.filter(pl.col("code_epci").is_in(metro_epci.implode()) & (pl.col("classe_densite") == DENSE)
                           & pl.col("_habitee") & ~pl.col("_ile"))
        pool = pl.concat([
            arr.select("niveau", "code", "population", pl.lit(None, pl.String).alias("_exclu")),
            inner.select("niveau", "code", "population", pl.col("code").alias("_exclu")),  # a city is not its own peer
        ])
        parts.append(_nearest_in_pool(arr.with_columns(_ville=pl.col("code_commune")), pool, k))
        method(arr, "Arrondissements municipaux (Paris, Lyon, Marseille) et communes denses des métropoles, les "
                    "plus proches en population ; jamais sa propre ville.")

    # -- EPCI: type and band ----------------------------------------------------------------------------
    epci = t.filter(pl.col("niveau") == "epci")
    typed = epci.filter(pl.col("type_epci").is_not_null())
    parts.append(_nearest_within(typed.with_columns(
        groupe=pl.concat_str("type_epci", pl.lit("|"), "tranche_population")), k))
    method(typed, pl.format("Intercommunalités de même nature ({}) et de même tranche de population ({}), les plus "
                            "proches en population.", "type_epci", "tranche_population"))
    untyped = epci.filter(pl.col("type_epci").is_null())
    if untyped.height:
        parts.append(_nearest_within(epci.with_columns(groupe=pl.col("tranche_population")), k).join(
            untyped.select("niveau", "code"), on=["niveau", "code"], how="semi"))
        method(untyped, pl.format("Nature de l'intercommunalité inconnue : intercommunalités de même tranche de "
                                  "population ({}), les plus proches en population.", "tranche_population"))

    # -- départements, régions -------------------------------------------------------------------------
    for level, sentence in (("departement", "Départements les plus proches en population."),
                            ("region", "Régions les plus proches en population.")):
        rows = t.filter(pl.col("niveau") == level)
        parts.append(_nearest_within(rows.with_columns(groupe=pl.lit(level)), k))
        method(rows, sentence)

    peers = pl.concat(parts)
    # a group of one: no peer, and the sentence says so (decided per territory, before the sentence is
    # repeated on each of its peers' rows)
    with_peer = peers.select("niveau", "code").unique().with_columns(_pair=pl.lit(True))
    sentences = pl.concat(methods).join(with_peer, on=["niveau", "code"], how="left", maintain_order="left")
    alone = pl.col("_pair").is_null() & ~pl.col("methode").str.starts_with("Commune sans habitant")
    sentences = sentences.with_columns(methode=pl.when(alone).then(pl.concat_str(
        pl.col("methode"), pl.lit(" Aucun autre territoire dans ce groupe : pas de comparaison."))).otherwise(
        pl.col("methode"))).drop("_pair")
    out = sentences.join(peers, on=["niveau", "code"], how="left")
    level_order = {lv: i for i, lv in enumerate(["france", "region", "departement", "epci", "commune", "arrondissement"])}
    return (out.with_columns(_o=pl.col("niveau").replace_strict(level_order, return_dtype=pl.Int8))
            .sort("_o", "code", "rang", nulls_last=True).drop("_o")
            .select([pl.col(c).cast(dtype) for c, dtype in SCHEMA.items()]))
