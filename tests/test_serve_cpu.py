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


def _carpool_layout_before(fig: go.Figure, title: str, y_title: str) -> go.Figure:
    """`dashboard.covoiturage._layout` as it was: three validated updates, then `french` as it was."""
    fig.update_layout(title=title, yaxis_title=y_title, height=340, margin=dict(l=10, r=10, t=50, b=10),
                      plot_bgcolor="white", font=dict(family="Marianne, Arial, sans-serif"), legend=dict(orientation="h"))
    fig.update_yaxes(gridcolor="#E5E5E5", tickformat=",d")
    return french_before(fig)


def test_carpool_charts_built_in_one_go_are_the_same(data_dir, territoires):
    from dashboard import covoiturage as cov
    from dashboard import fmt
    from dashboard.territory import resolve

    mensuel = pl.read_parquet(data_dir / "covoiturage" / "mensuel.parquet")
    heures = pl.read_parquet(data_dir / "covoiturage" / "heures.parquet")
    months = sorted(mensuel["mois"].unique().to_list())
    period = cov.default_period(months)
    for niveau, code in TERRITORIES:
        t = resolve(territoires, niveau, code)
        dist, _ = cov.distribution(heures, t, period, "heure")
        total = dist["trajets"].sum() or 0
        x = [f"{h} h" for h in dist["heure"].to_list()]
        hover = (dict(customdata=[v / total * 100 for v in dist["trajets"].to_list()],
                      hovertemplate="%{x} : %{y:,d} trajets (%{customdata:.1f}\u202f%)<extra></extra>")
                 if total >= cov.MIN_TRIPS_FOR_SHARE else
                 dict(hovertemplate=f"%{{x}} : %{{y:,d}} trajets ({cov.SMALL_LABEL})<extra></extra>"))
        before = go.Figure(go.Bar(x=x, y=dist["trajets"].to_list(), marker_color=cov.BLUE, **hover))
        before.update_xaxes(title="Heure")
        before = _carpool_layout_before(before, "Heure de départ", "Trajets")
        assert cov.bar_chart(dist, "heure", "Heure de départ", "Heure").to_plotly_json() == before.to_plotly_json()

        series = cov.monthly_series(mensuel, t, months)
        for campaign in (None, "Campagne d'incitation de Bordeaux Métropole"):
            labels = cov.short_months(series["mois"].to_list())
            before = go.Figure()
            before.add_bar(x=labels, y=series["trajets"].to_list(), name="Trajets",
                           marker_color=[cov.BLUE if m in period.months else cov.GREY for m in series["mois"]],
                           customdata=[fmt.month(m) for m in series["mois"]],
                           hovertemplate="%{customdata} : %{y:,d} trajets<extra></extra>")
            before.add_scatter(x=labels, y=series["part_incitation"].to_list(), yaxis="y2",
                               name="Part des trajets avec incitation (%)", mode="lines+markers",
                               line=dict(color=cov.RED), hovertemplate="%{y:.1f}\u202f% avec incitation<extra></extra>")
            before.update_layout(yaxis2=dict(overlaying="y", side="right", range=[0, 100], dtick=25,
                                             title="% avec incitation", showgrid=False, ticksuffix=fmt.NNBSP + "%"))
            if campaign:
                before.add_annotation(text=campaign, xref="paper", yref="paper", x=0, y=1.12, showarrow=False,
                                      align="left", font=dict(color=cov.RED, size=12))
            before = _carpool_layout_before(before, "", "Trajets par mois")
            assert cov.monthly_chart(series, period, campaign).to_plotly_json() == before.to_plotly_json()


def _bar_before(frame, x, y, *, colours="#000091", text=None, horizontal=False, height=300) -> go.Figure:
    """`dashboard.locations.bar_chart` as it was (validated updates after the constructor)."""
    cats, vals = frame[x].to_list(), frame[y].to_list()
    fig = go.Figure(go.Bar(x=vals if horizontal else cats, y=cats if horizontal else vals,
                           orientation="h" if horizontal else "v", marker_color=colours, text=text,
                           textposition="auto", hoverinfo="skip"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white",
                      yaxis=dict(autorange="reversed") if horizontal else None)
    if y == "part":
        (fig.update_xaxes if horizontal else fig.update_yaxes)(ticksuffix="\u202f%")
    return french_before(fig)


def test_locations_and_vtc_charts_built_in_one_go_are_the_same(data_dir, territoires):
    from dashboard import fmt
    from dashboard.territory import resolve

    detail = pl.read_parquet(data_dir / "locations" / "territoires.parquet")
    nuitees = pl.read_parquet(data_dir / "locations" / "nuitees.parquet")
    rotation = pl.read_parquet(data_dir / "locations" / "rotation.parquet")
    bordeaux = resolve(territoires, "commune", "33063")
    period = detail.filter(pl.col("code") == "33063")["instantane"].max()
    row = loc.detail_row(detail, bordeaux, period)
    rooms = loc.breakdown(row, loc.ROOM_TYPES).filter(pl.col("annonces") > 0)
    assert rooms["annonces"].sum() == sum(int(row[c] or 0) for c, _ in loc.ROOM_TYPES) == row["annonces"]
    hosts = loc.breakdown(row, loc.HOST_CLASSES)
    for frame, y, kwargs in ((rooms, "annonces", dict(horizontal=True, text=[str(n) for n in rooms["annonces"]])),
                             (hosts, "part", dict(colours=["#6A80DE", "#3042B2", "#000091", "#E1000F"])),
                             (hosts, "part", dict(horizontal=True))):
        assert loc.bar_chart(frame, "classe", y, **kwargs).to_plotly_json() == _bar_before(
            frame, "classe", y, **kwargs).to_plotly_json()

    nights = loc.nights_distribution(nuitees, bordeaux, period)
    assert nights.height
    before = _bar_before(nights, "classe", "annonces", colours=["#E1000F" if o >= 5 else "#000091"
                                                                for o in nights["ordre"]],
                         text=[fmt.number(n) for n in nights["annonces"]], height=320)
    before.update_layout(xaxis_title="Nuitées estimées sur 12 mois (estimation)", yaxis_title="Logements entiers")
    before.add_vline(x=4.5, line_dash="dash", line_color="#E1000F", annotation_text="120 nuits",
                     annotation_position="top")
    assert loc.nights_chart(nights).to_plotly_json() == before.to_plotly_json()

    flows = loc.turnover(rotation, bordeaux, period)
    assert flows.height
    before = go.Figure([go.Bar(name=label, x=flows["type_logement"].to_list(), y=flows[col].to_list(),
                               marker_color=colour, text=[fmt.number(v) for v in flows[col]], textposition="auto",
                               hoverinfo="skip")
                        for col, label, colour in (("restees", "présentes aux deux dates", "#000091"),
                                                   ("apparues", "apparues", "#18753C"),
                                                   ("disparues", "disparues", "#E1000F"))])
    before.update_layout(barmode="group", height=320, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                         legend=dict(orientation="h"))
    assert loc.turnover_chart(flows).to_plotly_json() == french_before(before).to_plotly_json()

    ind = pl.read_parquet(data_dir / "indicateurs" / "vtc.parquet")
    rows = v.series(ind, resolve(territoires, "commune", "06088"))
    assert rows.height >= 2
    colours = [v.GREY if n == "estime" else (v.BLUE if i == "taxis_bpe" else v.RED)
               for n, i in zip(rows["nature"], rows["indicateur"], strict=True)]
    before = go.Figure(go.Bar(
        x=rows["libelle"].to_list(), y=rows["valeur"].to_list(),
        marker={"color": colours, "pattern": {"shape": ["/" if n == "estime" else "" for n in rows["nature"]],
                                              "fillmode": "overlay", "fgcolor": "#FFFFFF"}},
        text=[fmt.number(x) for x in rows["valeur"]], textposition="outside",
        hovertemplate="%{x} : %{text} équipements<extra></extra>"))
    before.update_layout(height=340, margin={"l": 10, "r": 10, "t": 30, "b": 10}, yaxis_title="équipements",
                         showlegend=False)
    assert v.series_chart(rows).to_plotly_json() == french_before(before).to_plotly_json()


def test_listing_records_by_columns_equal_the_row_loop(data_dir):
    from dashboard import fmt

    annonces = pl.read_parquet(data_dir / "locations" / "annonces.parquet")
    period = annonces["instantane"].max()
    # a city's listings, plus rows without name, price or status (what the row loop handled one by one)
    listings = annonces.filter((pl.col("instantane") == period) & (pl.col("code_commune") == "33063"))
    odd = listings.head(3).with_columns(nom=pl.Series([None, "", "<b>x</b>"], dtype=pl.String),
                                        prix=pl.lit(None, listings.schema["prix"]),
                                        statut_numero=pl.Series([None, "valide", "autre"], dtype=pl.String))
    listings = pl.concat([listings, odd])
    before = [
        {"n": r["nom"] or "(sans titre)", "t": r["type_logement"],
         "p": fmt.with_unit(r["prix"], "€ par nuit", 0) if r["prix"] is not None else "prix non affiché",
         "r": loc.LICENCE_LABELS.get(r["statut_numero"], "inconnu"), "x": r["longitude"], "y": r["latitude"]}
        for r in listings.iter_rows(named=True)
    ]
    deck = json.loads(loc.points_deck(listings).to_json())
    records = next(layer["data"] for layer in deck["layers"] if layer["id"] == "annonces")
    assert records == json.loads(json.dumps(before))
    assert len(records) == listings.height and records[-3]["n"] == records[-2]["n"] == "(sans titre)"
    assert records[-1]["r"] == "inconnu" and records[-2]["r"] == loc.LICENCE_LABELS["valide"]


def test_script_runs_are_timed_when_asked(app, tmp_path, monkeypatch):
    from dashboard import guard

    runs = tmp_path / "runs.tsv"
    monkeypatch.setenv(guard.RUN_TIMES_ENV, str(runs))
    at = app("dashboard/pages/dictionnaire.py", niveau="departement", code="33")
    assert not at.exception
    lines = [line.split("\t") for line in runs.read_text(encoding="utf-8").splitlines()]
    # run_app runs the default page bare, then the dictionary: two finished runs, each timed
    assert [(page, status) for _, page, _, _, status in lines] == [("mon-territoire", "fini"),
                                                                   ("dictionnaire", "fini")]
    assert all(0 < float(wall) < 120 and float(cpu) >= 0 for _, _, wall, cpu, _ in lines)
    monkeypatch.delenv(guard.RUN_TIMES_ENV)
    app("dashboard/pages/dictionnaire.py")
    assert len(runs.read_text(encoding="utf-8").splitlines()) == 2  # unset: nothing written


def test_carpool_flows_from_the_period_sums_equal_the_flows(data_dir, territoires):
    from dashboard import covoiturage as cov
    from dashboard.territory import resolve

    flux = pl.read_parquet(data_dir / "covoiturage" / "flux.parquet")
    etranger = pl.read_parquet(data_dir / "covoiturage" / "etranger.parquet")
    months = sorted(flux["mois"].unique().to_list())
    options = cov.periods(months)
    for period in (cov.default_period(months), options["mois"][0]):
        sums = cov.pair_sums(flux, period)
        for niveau, code in TERRITORIES:
            t = resolve(territoires, niveau, code)
            limit = cov.FLOW_LIMITS[niveau]
            picked = cov.flows(flux, territoires, etranger, t, period, limit=limit, sums=sums)
            assert picked.equals(cov.flows(flux, territoires, etranger, t, period, limit=limit)), (niveau, period)
    # a real sum: France's largest EPCI pair over the default period, summed here from the monthly rows
    period = cov.default_period(months)
    top = cov.flows(flux, territoires, etranger, resolve(territoires, "france", "FR"), period, limit=1,
                    sums=cov.pair_sums(flux, period)).row(0, named=True)
    assert top["passagers"] == flux.filter((pl.col("niveau") == "epci") & (pl.col("code_1") == top["code_1"])
                                           & (pl.col("code_2") == top["code_2"])
                                           & pl.col("mois").is_in(list(period.months)))["passagers"].sum()
