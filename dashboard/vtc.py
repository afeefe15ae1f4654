"""Page "VTC et taxis": the taxi-VTC series of a territory, its communes, the aires urbaines context.

Pure functions over the marts (`indicateurs`, `territoires`, `vtc/aires_urbaines.parquet`,
`vtc/estimation.parquet`); charts are plotly figures built here so that tests can read them.
The current figure is an estimate in the embedded data (`nature = estime`): every function
keeps the nature next to the value so that the page labels it.
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboard import charts, compare, data, fmt, valeurs
from dashboard.territory import Territory
from etl import periods

KEY_INDICATORS = ["vtc_equipements", "vtc_pour_10000_hab", "taxis_bpe"]
SERIES_IDS = ["taxis_bpe", "vtc_equipements"]
AIRES_TABLE = "vtc/aires_urbaines.parquet"
MODEL_TABLE = "vtc/estimation.parquet"
BLUE, RED, GREY = "#000091", "#E1000F", "#6A6A6A"
LEVEL_COLUMNS = {"epci": "code_epci", "departement": "code_departement", "region": "code_region"}
SOURCE_LABELS = {"bpe_historique": "BPE", "bpe": "BPE", "sirene_vtc": "Sirene"}
#: What the counts are and are not (SDES, Observatoire national des transports publics particuliers, 2025).
NOTE = (
    "**Ce que ces chiffres comptent.** L'équipement « Taxi - VTC » (E101) de la Base permanente des équipements "
    "compte des **établissements** (entreprises de taxi ou de VTC, souvent d'une seule personne) à l'adresse où ils "
    "sont enregistrés, taxis et VTC ensemble, sans les distinguer. **Ils ne comptent pas** les chauffeurs qui "
    "travaillent dans le territoire mais sont enregistrés ailleurs, ni les chauffeurs des plateformes en tant que "
    "tels : plus de **56 000 chauffeurs VTC** étaient actifs sur les plateformes en 2023, et environ 63 000 taxis, "
    "surtout dans les métropoles (Observatoire national des transports publics particuliers de personnes, SDES, "
    "rapport 2025). Avant 2014, l'équipement ne comptait que les taxis."
)


def series(indicateurs: pl.DataFrame, t: Territory) -> pl.DataFrame:
    """The territory's taxi and taxi-VTC counts by period: 2009, 2013 (taxis), 2018 estimate, real counts.

    Columns: `periode`, `indicateur`, `valeur`, `nature`, `source`, `libelle` (French bar label).
    """
    rows = indicateurs.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code)
                              & pl.col("indicateur").is_in(SERIES_IDS)).sort(*periods.sort_expr(), "indicateur")
    labels = []
    for r in rows.iter_rows(named=True):
        what = "Taxis" if r["indicateur"] == "taxis_bpe" else "Taxis et VTC"
        src = SOURCE_LABELS.get(r["source"], r["source"])
        label = f"{what} {fmt.period(r['periode'])}"
        label += " (estimation)" if r["nature"] == "estime" else f" ({src})"
        labels.append(label)
    return rows.with_columns(libelle=pl.Series(labels, dtype=pl.String))


def series_chart(rows: pl.DataFrame, unit: str = "équipements") -> go.Figure:
    """Bars of the series; the estimate hatched, in grey, and labelled "estimation"."""
    colours = [GREY if n == "estime" else (BLUE if i == "taxis_bpe" else RED)
               for n, i in zip(rows["nature"], rows["indicateur"], strict=True)]
    return charts.figure(go.Bar(
        x=rows["libelle"].to_list(), y=rows["valeur"].to_list(),
        marker={"color": colours, "pattern": {"shape": ["/" if n == "estime" else "" for n in rows["nature"]],
                                              "fillmode": "overlay", "fgcolor": "#FFFFFF"}},
        text=[fmt.number(v) for v in rows["valeur"]], textposition="outside",
        hovertemplate="%{x} : %{text} " + unit + "<extra></extra>",
    ), dict(height=340, margin={"l": 10, "r": 10, "t": 30, "b": 10}, yaxis={"title": {"text": unit}},
            showlegend=False))


def communes_of(territoires: pl.DataFrame, t: Territory) -> pl.DataFrame:
    """The communes ranked on the page: those of the territory (a commune: its EPCI's, for context)."""
    col = pl.col
    communes = territoires.filter(col("niveau") == "commune")
    if t.niveau == "france":
        return communes
    if t.niveau in LEVEL_COLUMNS:
        return communes.filter(col(LEVEL_COLUMNS[t.niveau]) == t.code)
    if t.niveau == "arrondissement":
        return communes.filter(col("code") == t.code_commune)
    if t.code_epci:
        return communes.filter(col("code_epci") == t.code_epci)
    return communes.filter(col("code") == t.code)


def ranking(indicateurs: pl.DataFrame, communes: pl.DataFrame, n: int | None = 20,
            current: pl.DataFrame | None = None) -> pl.DataFrame:
    """Communes by latest taxi-VTC count (then population), with their taxis of 2009 and 2013.

    `current`: the communes' current values (`dashboard.valeurs`), the figure every page shows;
    without it, the same rule on `indicateurs`. Columns: `code`, `nom`, `population`,
    `taxis_2009`, `taxis_2013`, `vtc`, `vtc_pour_10000_hab`, `periode`, `nature`.
    """
    keys = list(zip(communes["niveau"], communes["code"], strict=True))
    last = compare.latest(current if current is not None else indicateurs, keys,
                          ["vtc_equipements", "vtc_pour_10000_hab"])
    vtc = last.filter(pl.col("indicateur") == "vtc_equipements").select("code", pl.col("valeur").alias("vtc"),
                                                                        "periode", "nature")
    rate = last.filter(pl.col("indicateur") == "vtc_pour_10000_hab").select(
        "code", pl.col("valeur").alias("vtc_pour_10000_hab"))
    taxis = indicateurs.filter((pl.col("niveau") == "commune") & (pl.col("indicateur") == "taxis_bpe")).join(
        communes.select("code"), on="code", how="semi").pivot(on="periode", index="code", values="valeur")
    taxis = taxis.rename({c: f"taxis_{c}" for c in taxis.columns if c != "code"})
    for c in ("taxis_2009", "taxis_2013"):
        if c not in taxis.columns:
            taxis = taxis.with_columns(pl.lit(None, pl.Float64).alias(c))
    out = (
        communes.select("code", "nom", "population")
        .join(taxis.select("code", "taxis_2009", "taxis_2013"), on="code", how="left")
        .join(vtc, on="code", how="left")
        .join(rate, on="code", how="left")
        .sort(["vtc", "population", "code"], descending=[True, True, False], nulls_last=True)
    )
    return out.head(n) if n else out


#: The indicators this page reads from `indicateurs` (its series and the taxis of its ranking).
PREFIXES = ("taxis_bpe", "vtc_")


def ranked_communes(territoires: pl.DataFrame, t: Territory, n: int = 20) -> pl.DataFrame:
    """`ranking` of the communes of `t` (`communes_of`), read from the ranking of all communes, built once
    per data version: restricting a sorted table keeps its order, and a commune's figures do not depend on
    which others are ranked. France's ranking cost about 0.5 s of server CPU per view."""
    codes = communes_of(territoires, t)["code"]
    table = _all_communes_ranked(data.version())
    return table.filter(pl.col("code").is_in(codes.implode())).head(n)


@st.cache_resource(show_spinner=False, max_entries=data.VERSIONS_KEPT)
def _all_communes_ranked(v: str) -> pl.DataFrame:
    communes = data.territoires().filter(pl.col("niveau") == "commune")
    keys = list(zip(communes["niveau"], communes["code"], strict=True))
    return ranking(data.indicateurs_of(*PREFIXES), communes, n=None,
                   current=valeurs.valeurs(keys, ["vtc_equipements", "vtc_pour_10000_hab"]))


def aires_figure() -> go.Figure:
    """`aires_chart` of the largest aires urbaines: the same for every view, built once per data version.
    Read-only (Streamlit reads a figure, never changes it)."""
    return _aires_figure(data.version())


@st.cache_resource(show_spinner=False, max_entries=data.VERSIONS_KEPT)
def _aires_figure(v: str) -> go.Figure:
    return aires_chart(top_aires(data.table(AIRES_TABLE, v)))


def national_context(aires: pl.DataFrame) -> dict[str, float]:
    """National E101 totals 2013 and 2018, growth, and the Paris area's share of the increase."""
    n13, n18 = aires["nb_2013"].sum(), aires["nb_2018"].sum()
    paris = aires.filter(pl.col("id_au") == "001").row(0, named=True)
    return {
        "total_2013": n13, "total_2018": n18, "evolution_pct": (n18 / n13 - 1) * 100,
        "paris_2013": paris["nb_2013"], "paris_2018": paris["nb_2018"],
        "part_paris_hausse_pct": (paris["nb_2018"] - paris["nb_2013"]) / (n18 - n13) * 100,
    }


def top_aires(aires: pl.DataFrame, n: int = 12) -> pl.DataFrame:
    """The largest aires urbaines by 2018 taxi-VTC count (real aires only, not the rural rows)."""
    return aires.filter(pl.col("categorie") == "aire urbaine").sort(["nb_2018", "id_au"], descending=[True, False]
                                                                     ).head(n)


def aires_chart(top: pl.DataFrame) -> go.Figure:
    """Grouped horizontal bars 2013 / 2018 per aire urbaine, largest on top."""
    names = top["libelle"].to_list()[::-1]
    fig = go.Figure([
        go.Bar(y=names, x=top["nb_2013"].to_list()[::-1], name="2013", orientation="h", marker_color=BLUE,
               hovertemplate="%{y} : %{x:,d} en 2013<extra></extra>"),
        go.Bar(y=names, x=top["nb_2018"].to_list()[::-1], name="2018", orientation="h", marker_color=RED,
               hovertemplate="%{y} : %{x:,d} en 2018<extra></extra>"),
    ])
    fig.update_layout(barmode="group", height=30 * len(names) + 120, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis_title="équipements taxi-VTC (E101), échelle logarithmique", legend={"orientation": "h"})
    ticks = [100, 300, 1_000, 3_000, 10_000, 30_000]
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[fmt.number(x) for x in ticks])
    return charts.french(fig)


def estimate_sentence(model: pl.DataFrame, measured_2018: float, missing: str) -> str:
    """How the estimate is made, with the model's real figures, and what is missing since when (Markdown-safe)."""
    parts = []
    for r in model.iter_rows(named=True):
        parts.append(
            f"{r['libelle']} : × {fmt.number(r['facteur'], 2)} (E101 {r['perimetre_e101']} : "
            f"{fmt.number(r['e101_2013'])} en 2013, {fmt.number(r['e101_2018'])} en 2018)"
        )
    total = model["estimation_2018"].sum()
    return (
        "**Estimation, pas une mesure.** Faute de copie de la BPE actuelle dans les données embarquées, le chiffre "
        "« taxis et VTC » est estimé pour 2018 : nombre réel de taxis de la commune en 2013 (BPE) × croissance "
        "réelle de l'équipement taxi-VTC entre 2013 et 2018 dans sa zone — " + " ; ".join(parts) + ". "
        f"Total estimé pour la France : {fmt.number(total)} (mesuré en 2018 : {fmt.number(measured_2018)}). "
        "L'Île-de-France représente "
        "l'aire urbaine de Paris, où l'essor des VTC a été le plus fort ; ailleurs, chaque commune reçoit la "
        "croissance moyenne du reste du pays (les grandes villes sont donc sous-estimées, les petites surestimées). "
        + missing
    )
