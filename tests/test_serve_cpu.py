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
