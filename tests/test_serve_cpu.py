"""Cheap views (issue #13, point 2): what a page now picks from a cache or builds a faster way equals
what it computed per view before, on the real marts (`data_dir`: the committed ones or OBSERVATOIRE_DATA)."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import polars as pl

from dashboard import charts, maps
from dashboard import locations as loc
from dashboard import vtc as v
from dashboard.territory import Territory


def french_before(fig: go.Figure) -> go.Figure:
    """`charts.french` as it was: plotly's axis selectors (about 4 ms a chart)."""
    fig.update_layout(separators=charts.SEPARATORS)
    fig.update_xaxes(**charts.AXES)
    fig.update_yaxes(**charts.AXES)
    return fig


def test_french_axes_same_figure(data_dir):
    aires = pl.read_parquet(data_dir / "vtc" / "aires_urbaines.parquet")
    top = v.top_aires(aires)
    # the twelve largest aires urbaines by 2018 count, as the page charts them
    assert top["nb_2018"].to_list() == sorted(aires.filter(pl.col("categorie") == "aire urbaine")["nb_2018"],
                                              reverse=True)[:12]
    built = v.aires_chart(top)
    assert built.layout.xaxis.exponentformat == "none" and built.layout.separators == charts.SEPARATORS

    def two_axes() -> go.Figure:  # a bar chart with a second y axis, as the carpool page's incentives chart
        fig = go.Figure([go.Bar(x=top["libelle"].to_list(), y=top["nb_2018"].to_list()),
                         go.Scatter(x=top["libelle"].to_list(), y=top["evolution_pct"].to_list(), yaxis="y2")])
        fig.update_layout(yaxis2={"overlaying": "y", "side": "right"})
        return fig

    for make in (lambda: go.Figure(built), two_axes):
        assert charts.french(make()).to_plotly_json() == french_before(make()).to_plotly_json()
    assert charts.french(two_axes()).layout.yaxis2.separatethousands is True


def test_frozen_deck_sends_the_same_json(data_dir):
    annonces = pl.read_parquet(data_dir / "locations" / "annonces.parquet")
    period = annonces["instantane"].max()
    bordeaux = Territory("commune", "33063", "Bordeaux")
    listings = loc.listings_of(annonces, bordeaux, pl.DataFrame(), period)
    assert listings.height == annonces.filter((pl.col("instantane") == period)
                                              & (pl.col("code_commune") == "33063")).height > 100
    live = loc.points_deck(listings)
    frozen = loc.points_deck(listings).freeze()
    assert frozen.to_json() == live.to_json()
    assert len(json.loads(frozen.to_json())["layers"][0]["data"]) == listings.height
    assert maps.payload_bytes(frozen) == maps.payload_bytes(live)


def test_value_map_equals_value_of(data_dir):
    ind = pl.concat([pl.read_parquet(f) for f in sorted((data_dir / "indicateurs").glob("*.parquet"))],
                    how="vertical_relaxed")
    str_rows = ind.filter(pl.col("indicateur").str.starts_with("str_"))
    period = str_rows.filter(pl.col("code") == "33063")["periode"].max()
    keys = [("commune", "33063"), ("epci", "243300316"), ("arrondissement", "69381"), ("commune", "00000")]
    # the page's subset of the long table gives the same rows as the whole table
    assert loc.values(str_rows, keys, period).equals(loc.values(ind, keys, period))
    rows = loc.values(str_rows, keys, period)
    lookup = loc.value_map(rows)
    for key in keys:
        for indicator in loc.TABLE_INDICATORS:
            assert lookup.get((*key, indicator)) == loc.value_of(rows, key, indicator)
    assert lookup[("commune", "33063", "str_annonces")] == ind.filter(
        (pl.col("niveau") == "commune") & (pl.col("code") == "33063") & (pl.col("indicateur") == "str_annonces")
        & (pl.col("periode") == period))["valeur"].item()


TERRITORIES = [("commune", "33063"), ("commune", "23076"), ("arrondissement", "69381"), ("epci", "243300316"),
               ("departement", "33"), ("france", "FR")]


def test_key_figures_from_the_index_equal_the_join(current, catalogue, territoires):
    from dashboard import figures, valeurs
    from dashboard import tiers_lieux as tl
    from dashboard.territory import resolve

    levels = valeurs.available(current)
    for niveau, code in TERRITORIES:
        t = resolve(territoires, niveau, code)
        for ids in (v.KEY_INDICATORS, tl.KEY_INDICATORS):
            picked = figures.key_figures(None, catalogue, territoires, t, ids, levels=levels)
            joined = figures.key_figures(current, catalogue, territoires, t, ids, levels=levels)
            assert picked == joined
    # a real figure: the Bordeaux value is its row of the current values
    bordeaux = figures.key_figures(None, catalogue, territoires, resolve(territoires, "commune", "33063"),
                                   v.KEY_INDICATORS, levels=levels)
    expected = current.filter((pl.col("niveau") == "commune") & (pl.col("code") == "33063")
                              & (pl.col("indicateur") == v.KEY_INDICATORS[0]))["valeur"].item()
    assert bordeaux[0].valeur == expected


def test_comparables_gathered_in_rank_order(data_dir, territoires):
    from dashboard import compare
    from dashboard.territory import resolve

    table = pl.read_parquet(data_dir / "comparables.parquet")
    for niveau, code in TERRITORIES[:-1]:
        t = resolve(territoires, niveau, code)
        rows = compare.peer_rows(table, niveau, code).filter(pl.col("code_pair").is_not_null()
                                                             & (pl.col("rang") <= 10))
        joined = territoires.join(rows.select(pl.col("niveau_pair").alias("niveau"),
                                              pl.col("code_pair").alias("code"), "rang"),
                                  on=["niveau", "code"]).sort("rang").drop("rang")
        gathered = compare.comparables(territoires, t, table=table)
        assert gathered.equals(joined)
        assert gathered.height == rows.height == 10


def test_ranked_communes_equal_the_ranking_per_view(data_dir, current, territoires):
    from dashboard.territory import resolve

    ind = pl.concat([pl.read_parquet(f) for f in sorted((data_dir / "indicateurs").glob("*.parquet"))],
                    how="vertical_relaxed")
    for niveau, code in TERRITORIES:
        t = resolve(territoires, niveau, code)
        communes = v.communes_of(territoires, t)
        keys = list(zip(communes["niveau"], communes["code"], strict=True))
        mine = current.join(pl.DataFrame(keys, schema=["niveau", "code"], orient="row"), on=["niveau", "code"],
                            how="semi").filter(pl.col("indicateur").is_in(["vtc_equipements", "vtc_pour_10000_hab"]))
        per_view = v.ranking(ind, communes, n=20, current=mine)
        assert v.ranked_communes(territoires, t).equals(per_view), (niveau, code)
    # France: the first commune has the most taxi-VTC equipments of all communes
    top = v.ranked_communes(territoires, resolve(territoires, "france", "FR"))
    most = current.filter((pl.col("niveau") == "commune") & (pl.col("indicateur") == "vtc_equipements"))["valeur"].max()
    assert top["vtc"][0] == most


def test_carpool_sums_picked_equal_the_sums_per_view(data_dir, territoires):
    from dashboard import compare
    from dashboard import covoiturage as cov
    from dashboard.territory import parents, resolve

    mensuel = pl.read_parquet(data_dir / "covoiturage" / "mensuel.parquet")
    months = sorted(mensuel["mois"].unique().to_list())
    options = cov.periods(months)
    for period in (cov.default_period(months), options["mois"][-1], options["trimestre"][0]):
        sums = cov.all_period_sums(mensuel, territoires, period)
        for niveau, code in TERRITORIES:
            t = resolve(territoires, niveau, code)
            assert cov.figures(mensuel, territoires, t, period, sums=sums) == cov.figures(mensuel, territoires, t,
                                                                                          period)
            chain, peers = parents(territoires, t), compare.comparables(territoires, t)
            assert cov.comparison(mensuel, territoires, t, chain, peers, period, sums=sums).equals(
                cov.comparison(mensuel, territoires, t, chain, peers, period))
            assert cov.top_communes(mensuel, territoires, t, period, sums=sums).equals(
                cov.top_communes(mensuel, territoires, t, period))
    # a real sum: Bordeaux's journeys over the default period, summed here from the monthly rows
    period = cov.default_period(months)
    bordeaux = cov.figures(mensuel, territoires, resolve(territoires, "commune", "33063"), period,
                           sums=cov.all_period_sums(mensuel, territoires, period))
    assert bordeaux["trajets"] == mensuel.filter((pl.col("niveau") == "commune") & (pl.col("code") == "33063")
                                                 & pl.col("mois").is_in(list(period.months)))["trajets"].sum()


def test_carpool_slices_equal_the_filters(data_dir, territoires):
    from dashboard import covoiturage as cov
    from dashboard import data
    from dashboard.territory import resolve

    mensuel = pl.read_parquet(data_dir / "covoiturage" / "mensuel.parquet")
    months = sorted(mensuel["mois"].unique().to_list())
    assert cov.available_months() == months  # "2024-01" … : text order is calendar order for months
    period = cov.default_period(months)
    for niveau, code in TERRITORIES:
        t = resolve(territoires, niveau, code)
        assert cov.monthly_series(cov.territory_rows("covoiturage/mensuel.parquet", t), t, months).equals(
            cov.monthly_series(mensuel, t, months))
        for name, column in (("heures", "heure"), ("distances", "classe_distance")):
            whole = data.table(f"covoiturage/{name}.parquet")
            sliced, note = cov.distribution(cov.territory_rows(f"covoiturage/{name}.parquet", t), t, period, column)
            filtered, note_filtered = cov.distribution(whole, t, period, column)
            assert sliced.equals(filtered) and note == note_filtered, (niveau, code, name)


def test_source_note_written_once_equals_the_filter(catalogue):
    from dashboard import layout

    ids = ["covoit_trajets", "covoit_aires"]
    direct = layout._write_source_note(catalogue, ids, True)
    assert layout.source_note(ids) == direct == layout.source_note(ids, catalogue)
    sources = catalogue.filter(pl.col("indicateur").is_in(ids))["source"].unique().to_list()
    assert all(s in direct for s in sources) and direct.startswith("Source : ")
    assert layout.source_note(ids, link=False) == layout._write_source_note(catalogue, ids, False)


def test_equilibre_served_tables_equal_the_computation(data_dir, territoires):
    from dashboard import equilibre
    from dashboard.territory import resolve

    ranks = pl.read_parquet(data_dir / "equilibre" / "rangs.parquet")
    stored = pl.read_parquet(data_dir / "equilibre" / "indices.parquet")
    natures = ranks.filter(pl.col("rang").is_not_null()).group_by("composante").agg(pl.col("nature").unique().sort())
    assert equilibre.served_component_natures() == {c: [n for n in ns if n != "reel"] for c, ns in natures.iter_rows()}
    some = sorted(ranks["composante"].unique().to_list())[:1]
    for niveau, code in TERRITORIES:
        assert resolve(territoires, niveau, code) is not None
        assert equilibre.territory_ranks(niveau, code).equals(
            ranks.filter((pl.col("niveau") == niveau) & (pl.col("code") == code)))
        row = territoires.filter((pl.col("niveau") == niveau) & (pl.col("code") == code)).row(0, named=True)
        scope = equilibre.scope_options(territoires, niveau, row)[0]
        for excluded in (frozenset(), frozenset(some)):
            wide = equilibre.indices(stored, ranks, scope.niveau, excluded)
            assert equilibre.served_indices(scope.niveau, excluded).equals(wide)
            assert equilibre.served_table(scope, excluded).equals(equilibre.table(territoires, wide, ranks, scope))
    # France's départements: one row per département of the territories mart
    france = equilibre.scope_options(territoires, "france", resolve(territoires, "france", "FR").__dict__)[0]
    assert equilibre.served_table(france).height == territoires.filter(pl.col("niveau") == france.niveau).height
