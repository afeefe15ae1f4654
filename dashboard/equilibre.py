"""The balance view: stored indices, scopes, quadrants, bivariate classes, peers, the verdict sentence.

Pure functions over `equilibre/indices.parquet` (both indices per territory, complete or not,
with what they rest on), `equilibre/rangs.parquet` (one percentile rank per territory and
component) and `territoires`, all built once by `etl/marts/equilibre.py`. Unticking a component
recomputes the means of one level only (`etl.indices.compute`): nothing else.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import polars as pl
import streamlit as st

from dashboard import charts, data, fmt, tables
from etl.indices import COMPONENT_META, COMPONENTS, compute, quadrant_expr
from etl.indices import component_table as component_table  # re-exported for pages
from etl.marts.equilibre import wide_indices

#: Colour-blind-safe 3 x 3 bivariate palette (Joshua Stevens' pink-blue scheme):
#: BIVARIATE[collaborative class][platform class], classes 0 (rank < 33.3), 1, 2 (>= 66.7).
BIVARIATE = [
    ["#e8e8e8", "#dfb0d6", "#be64ac"],
    ["#ace4e4", "#a5add3", "#8c62aa"],
    ["#5ac8c8", "#5698b9", "#3b4994"],
]
CLASS_LABELS = ["faible", "moyen", "élevé"]
QUADRANTS = ("collaboratif", "plateformisé", "les deux", "ni l'un ni l'autre")
SCOPE_LEVELS = {  # level shown -> the parent levels that can contain it
    "commune": ("epci", "departement"),
    "arrondissement": ("commune",),
    "epci": ("departement", "region"),
    "departement": ("region", "france"),
    "region": ("france",),
}


@dataclass(frozen=True)
class Scope:
    """The territories drawn together: one level inside one parent."""

    niveau: str
    parent_niveau: str
    parent_code: str


def default_scope(t_niveau: str, row: dict) -> Scope:
    """Where a territory is shown by default: among its siblings in its nearest parent."""
    if t_niveau == "commune":
        return Scope("commune", "epci", row["code_epci"]) if row.get("code_epci") else Scope(
            "commune", "departement", row["code_departement"])
    if t_niveau == "arrondissement":
        return Scope("arrondissement", "commune", row["code_commune"])
    if t_niveau == "epci":
        return Scope("epci", "departement", row["code_departement"])
    if t_niveau == "departement":
        return Scope("departement", "region", row["code_region"])
    return Scope("region", "france", "FR")


def members(territoires: pl.DataFrame, scope: Scope) -> pl.DataFrame:
    """The territories of `scope.niveau` inside the parent (an EPCI inside a département: its main one)."""
    col = {"epci": "code_epci", "departement": "code_departement", "region": "code_region",
           "commune": "code_commune"}.get(scope.parent_niveau)
    rows = territoires.filter(pl.col("niveau") == scope.niveau)
    if scope.parent_niveau == "france" or col is None:
        return rows
    return rows.filter(pl.col(col) == scope.parent_code)


def indices(stored: pl.DataFrame, ranks: pl.DataFrame, niveau: str,
            excluded: set[str] | frozenset[str] = frozenset()) -> pl.DataFrame:
    """Both indices of every territory of a level, wide (see `etl.marts.equilibre.wide_indices`).

    The stored table when every component is ticked; otherwise recomputed from the level's ranks
    without the unticked components (complete / partial judged on what remains).
    """
    if not excluded:
        return stored.filter(pl.col("niveau") == niveau)
    level = ranks.filter(pl.col("niveau") == niveau)
    idx = compute(level, excluded=excluded)
    inhabited = stored.filter(pl.col("niveau") == niveau).select("niveau", "code").join(
        pl.DataFrame({"indice": list(COMPONENTS)}), how="cross")
    idx = inhabited.join(idx, on=["niveau", "code", "indice"], how="left").with_columns(
        statut=pl.col("statut").fill_null("aucune composante"), n_composantes=pl.col("n_composantes").fill_null(0),
        periode=pl.lit(None, pl.String),
        raison=pl.lit("Recalculé sans les composantes décochées : " + ", ".join(
            COMPONENT_META[c].libelle.lower() for c in sorted(excluded)) + "."),
    )
    return wide_indices(idx)


def component_natures(ranks: pl.DataFrame) -> dict[str, list[str]]:
    """Component -> the natures of its ranked values other than "reel" (sorted): what its checkbox says
    ("estimation"); a component ranked nowhere is absent."""
    natures = ranks.filter(pl.col("rang").is_not_null()).group_by("composante").agg(pl.col("nature").unique().sort())
    return {c: [n for n in ns if n != "reel"] for c, ns in natures.iter_rows()}


def served_component_natures() -> dict[str, list[str]]:
    """`component_natures` of the served ranks, once per data version (a group-by over every rank of every
    level, about 60 ms, ran at each view). Read-only."""
    return _served_component_natures(data.version())


@st.cache_resource(show_spinner=False, max_entries=data.VERSIONS_KEPT)
def _served_component_natures(v: str) -> dict[str, list[str]]:
    return component_natures(data.table("equilibre/rangs.parquet", v))


def served_indices(niveau: str, excluded: frozenset[str] = frozenset()) -> pl.DataFrame:
    """`indices` of the served marts, once per data version, level and set of unticked components."""
    return _served_indices(data.version(), niveau, frozenset(excluded))


@st.cache_resource(show_spinner=False, max_entries=16)
def _served_indices(v: str, niveau: str, excluded: frozenset[str]) -> pl.DataFrame:
    return indices(data.table("equilibre/indices.parquet", v), data.table("equilibre/rangs.parquet", v), niveau,
                   excluded)


def served_table(scope: Scope, excluded: frozenset[str] = frozenset()) -> pl.DataFrame:
    """`table` of a scope on the served marts, once per data version, scope and unticked components: every
    official of a département sees the same ranking (about 30 ms to build). Read-only."""
    return _served_table(data.version(), scope, frozenset(excluded))


@st.cache_resource(show_spinner=False, max_entries=32)
def _served_table(v: str, scope: Scope, excluded: frozenset[str]) -> pl.DataFrame:
    return table(data.territoires(), _served_indices(v, scope.niveau, excluded), data.table("equilibre/rangs.parquet", v),
                 scope)


def territory_ranks(niveau: str, code: str) -> pl.DataFrame:
    """One territory's rows of the served ranks: a slice of the table sorted once per data version."""
    table, index = data.indexed_table("equilibre/rangs.parquet")
    span = index.get((niveau, code))
    return table.slice(*span) if span else table.head(0)


def table(territoires: pl.DataFrame, wide: pl.DataFrame, ranks: pl.DataFrame, scope: Scope) -> pl.DataFrame:
    """One row per territory of the scope: name, both indices and their status, quadrant, classes, components."""
    inside = members(territoires, scope).select("niveau", "code", "nom", "population")
    r = ranks.join(inside.select("niveau", "code"), on=["niveau", "code"], how="semi")
    out = inside.join(wide.drop("quadrant", strict=False), on=["niveau", "code"], how="left")
    if r.height:
        out = out.join(r.pivot(on="composante", index=["niveau", "code"], values="valeur"), on=["niveau", "code"],
                       how="left")
    for index in COMPONENTS:
        col = f"statut_{index}"
        out = out.with_columns((pl.col(col) if col in out.columns else pl.lit(None, pl.String))
                               .fill_null("sans habitant").alias(col))
        if index not in out.columns:
            out = out.with_columns(pl.lit(None, pl.Float64).alias(index))
    return out.with_columns(quadrant=quadrant_expr()).sort(fmt.sort_key_expr("nom"), "code")


def both(rows: pl.DataFrame) -> pl.DataFrame:
    """The territories a quadrant can draw: both indices complete (so all scored on the same components)."""
    return rows.filter(pl.col("indice_collaboratif").is_not_null() & pl.col("indice_plateformes").is_not_null())


def apart(rows: pl.DataFrame, index: str) -> pl.DataFrame:
    """Territories listed apart for an index: partial ("indice partiel"), or resting on no measure."""
    return rows.filter(pl.col(f"statut_{index}").is_in(["partiel", "sans mesure"]))


# -- sentences an official can repeat -----------------------------------------------------------------
LEVEL_PLURAL = {"commune": "communes", "arrondissement": "arrondissements", "epci": "intercommunalités",
                "departement": "départements", "region": "régions"}
#: The levels whose noun is masculine in French: "les 101 départements notés", "les 18 régions notées".
MASCULINE = {"arrondissement", "departement"}


def agreed(niveau: str, adjective: str) -> str:
    """An adjective agreeing with the plural noun of a level: agreed("departement", "noté") -> "notés"."""
    return adjective + ("s" if niveau in MASCULINE else "es")


def position_text(rang: float | None, niveau: str) -> str:
    """A percentile rank in words: "au-dessus de 63 % des intercommunalités" (no "rang centile").

    The rank (rank - 1) / (n - 1) x 100 is the share of the territories of the level whose value
    is lower (ties count half); "au-dessus" and not "mieux placé", because a higher platform
    figure is not better.
    """
    if rang is None or fmt.is_missing(rang):
        return fmt.NO_DATA
    return _above(rang, LEVEL_PLURAL.get(niveau, "territoires"), niveau)


def _above(rang: float, plural: str, niveau: str) -> str:
    """"au-dessus de 63 % des communes"; at the ends, "au-dessus de toutes les autres communes"
    (« au-dessus de 100 % des communes » would include the territory itself)."""
    if round(rang) in (0, 100):
        others = ("tous les autres " if niveau in MASCULINE else "toutes les autres ") + plural
        return ("au-dessus de " if round(rang) == 100 else "en dessous de ") + others
    return f"au-dessus de {fmt.number(rang)}{fmt.NNBSP}% des {plural}"


def _standing(me: dict, index: str, niveau: str) -> str:
    """"72 / 100, au-dessus de 97 % des 34 728 communes notées"."""
    value, pos, n = me.get(index), me.get(f"position_{index}"), me.get(f"classes_{index}")
    text = f"{fmt.number(value)} / 100"
    if pos is not None and n:
        plural = LEVEL_PLURAL[niveau] if round(pos) in (0, 100) else f"{fmt.number(n)} {LEVEL_PLURAL[niveau]}"
        text += f", {_above(pos, plural, niveau)} {agreed(niveau, 'noté')}"
    return text


def verdict(me: dict, nom: str, niveau: str) -> str:
    """The balance of a territory in one sentence an official can repeat in a council meeting."""
    if not me:
        return f"{nom} n'a pas d'indice : commune sans habitant, ou niveau que les indices ne comparent pas."
    c, p = me.get("indice_collaboratif"), me.get("indice_plateformes")
    if c is not None and p is not None:
        q = me.get("quadrant")
        head = {
            "les deux": "l'adoption collaborative et la pénétration des plateformes dépassent toutes deux le milieu "
                        "de l'échelle",
            "collaboratif": "l'adoption collaborative devance les plateformes",
            "plateformisé": "les plateformes devancent l'adoption collaborative",
            "ni l'un ni l'autre": "ni l'adoption collaborative ni les plateformes ne dépassent le milieu de l'échelle",
        }[q]
        return (f"{nom} : {head} (position « {q} »). Adoption collaborative "
                f"{_standing(me, 'indice_collaboratif', niveau)} ; pénétration des plateformes "
                f"{_standing(me, 'indice_plateformes', niveau)}.")
    if c is not None:
        return (f"{nom} : adoption collaborative {_standing(me, 'indice_collaboratif', niveau)}. La pénétration des "
                "plateformes n'est pas mesurée ici : on ne peut pas dire de quel côté penche le territoire.")
    if p is not None:
        return (f"{nom} : pénétration des plateformes {_standing(me, 'indice_plateformes', niveau)}. L'adoption "
                "collaborative n'a pas d'indice complet ici : pas de verdict d'ensemble.")
    return (f"{nom} n'a pas d'indice complet : ni son adoption collaborative ni la pénétration des plateformes ne "
            "se comparent ici à celles des autres territoires.")


def bivariate_colour(classe_c: int | None, classe_p: int | None) -> str | None:
    if classe_c is None or classe_p is None:
        return None
    return BIVARIATE[classe_c][classe_p]


def standing_among(ranks: pl.DataFrame, code: str, niveau: str, group: list[str]) -> pl.DataFrame:
    """For each ranked component of the territory, its percentile among `group` (peers plus itself).

    Same formula as the national ranks: (average rank - 1) / (n - 1) x 100 within the group, over
    the components ranked at the level (context components have no rank). A peer without the
    component is left out of its count (`n_pairs`).
    """
    sub = ranks.filter((pl.col("niveau") == niveau) & pl.col("code").is_in([code, *group])
                       & pl.col("rang").is_not_null())
    ranked = sub.with_columns(
        _r=pl.col("valeur").rank(method="average").over("composante"),
        _n=pl.len().over("composante"),
    ).with_columns(
        rang_pairs=pl.when(pl.col("_n") > 1).then((pl.col("_r") - 1) / (pl.col("_n") - 1) * 100),
        n_pairs=pl.col("_n") - 1,
    )
    return ranked.filter(pl.col("code") == code).select(
        "indice", "composante", "valeur", "periode", "nature", "statut", "rang", "rang_pairs", "n_pairs"
    ).sort("indice", "composante")


def peer_standing_text(rang_pairs: float | None, n_pairs: int | None) -> str:
    """The percentile among peers in words: « au-dessus de 28 % des 9 comparables ».

    The percentile (rank - 1) / (n - 1) x 100 is the share of the peers whose value is lower
    (ties count half): a bare « 28 (sur 9) » read as a rank of 28 among 9.
    """
    if not n_pairs or rang_pairs is None:
        return "aucun comparable"
    if n_pairs == 1:  # "au-dessus de 100 % des 1 comparables" says less than a sentence
        return {0: "en dessous du seul comparable classé", 100: "au-dessus du seul comparable classé"}.get(
            round(rang_pairs), "à égalité avec le seul comparable classé")
    return f"au-dessus de {fmt.number(rang_pairs)}{fmt.NNBSP}% des {fmt.number(n_pairs)} comparables"


def parse_excluded(value: str | None) -> tuple[set[str], list[str]]:
    """Unticked components from the URL (`sans=a,b`): the known ones, and the unknown ones to report."""
    known = {c.indicateur for comps in COMPONENTS.values() for c in comps}
    asked = [v.strip() for v in (value or "").split(",") if v.strip()]
    return {a for a in asked if a in known}, [a for a in asked if a not in known]


# -- what the page and the brief draw ---------------------------------------------------------------
SCOPE_NAMES = {"commune": "communes", "arrondissement": "arrondissements", "epci": "intercommunalités",
               "departement": "départements", "region": "régions"}
PARENT_PHRASES = {"epci": "de l'intercommunalité", "departement": "du département", "region": "de la région",
                  "commune": "de la ville"}


def scope_options(territoires: pl.DataFrame, t_niveau: str, row: dict) -> list[Scope]:
    """The groups a territory can be compared within, nearest first (France: régions, then départements)."""
    if t_niveau == "france":
        return [Scope("region", "france", "FR"), Scope("departement", "france", "FR")]
    options = [default_scope(t_niveau, row)]
    level = options[0].niveau
    for parent in SCOPE_LEVELS.get(level, ()):
        code = "FR" if parent == "france" else row.get(f"code_{parent}")
        if code and Scope(level, parent, code) not in options:
            options.append(Scope(level, parent, code))
    if level in ("commune", "epci") and Scope(level, "region", row.get("code_region")) not in options:
        options.append(Scope(level, "region", row["code_region"]))
    if level in ("epci", "departement") and Scope(level, "france", "FR") not in options:
        options.append(Scope(level, "france", "FR"))
    return [o for o in options if o.parent_code]


def scope_label(scope: Scope, names: dict[tuple[str, str], str]) -> str:
    """"les communes de l'intercommunalité Bordeaux Métropole", "toutes les régions"."""
    what = SCOPE_NAMES[scope.niveau]
    if scope.parent_niveau == "france":
        return f"{'tous' if scope.niveau == 'departement' else 'toutes'} les {what} de France"
    return f"les {what} {PARENT_PHRASES[scope.parent_niveau]} {names.get((scope.parent_niveau, scope.parent_code), scope.parent_code)}"


def scope_param(scope: Scope) -> str:
    return f"{scope.niveau}@{scope.parent_niveau}:{scope.parent_code}"


def parse_scope(value: str | None) -> Scope | None:
    """`commune@epci:243300316` -> Scope, or None when malformed."""
    try:
        level, parent = (value or "").split("@")
        parent_level, parent_code = parent.split(":")
    except ValueError:
        return None
    if level not in SCOPE_NAMES or parent_level not in (*SCOPE_LEVELS.get(level, ()), "region", "france"):
        return None
    return Scope(level, parent_level, parent_code)


def quadrant_figure(rows: pl.DataFrame, selected: str | None, peers: set[str] | frozenset[str] = frozenset(),
                    *, height: int = 560):
    """Plotly scatter: x = platform index, y = collaborative index, quadrants named in French.

    Each point's `customdata` is its code, so that a click can select the territory.
    """
    import plotly.graph_objects as go

    both = rows.filter(pl.col("indice_collaboratif").is_not_null() & pl.col("indice_plateformes").is_not_null())
    fig = go.Figure()
    groups = [
        ("autres territoires", both.filter(~pl.col("code").is_in([selected, *peers])), "#6A6AF4", 8, 0.55),
        ("territoires comparables", both.filter(pl.col("code").is_in(list(peers))), "#000091", 11, 0.95),
        ("territoire choisi", both.filter(pl.col("code") == selected), "#E1000F", 16, 1.0),
    ]
    for name, part, colour, size, opacity in groups:
        if part.height == 0:
            continue
        fig.add_trace(go.Scatter(
            x=part["indice_plateformes"].to_list(), y=part["indice_collaboratif"].to_list(), mode="markers",
            name=name, customdata=part["code"].to_list(), text=part["nom"].to_list(),
            marker={"color": colour, "size": size, "opacity": opacity, "line": {"color": "white", "width": 1}},
            hovertemplate="<b>%{text}</b><br>plateformes : %{x:.0f}<br>collaboratif : %{y:.0f}<extra></extra>",
        ))
    for x, y, label in ((25, 97, "collaboratif"), (75, 97, "les deux"), (25, 3, "ni l'un ni l'autre"),
                        (75, 3, "plateformisé")):
        fig.add_annotation(x=x, y=y, text=f"<b>{label}</b>", showarrow=False, font={"size": 14, "color": "#666"})
    for _code, nom, x, y, chosen in labelled_points(both, selected):  # named without hovering
        name = html.escape(nom, quote=False)  # plotly reads a few HTML tags in its text
        fig.add_annotation(
            x=x, y=y, text=f"<b>{name}</b>" if chosen else name, showarrow=True, arrowhead=0,
            arrowcolor="#E1000F" if chosen else "#666", ax=-30 if x > 50 else 30, ay=-22 if y < 80 else 22,
            xanchor="right" if x > 50 else "left", bgcolor="rgba(255,255,255,0.85)",
            font={"size": 12 if chosen else 11, "color": "#E1000F" if chosen else "#3A3A3A"},
        )
    fig.add_shape(type="line", x0=50, x1=50, y0=0, y1=100, line={"color": "#999", "dash": "dot"})
    fig.add_shape(type="line", x0=0, x1=100, y0=50, y1=50, line={"color": "#999", "dash": "dot"})
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h", "y": -0.12},
        xaxis={"title": "Indice de pénétration des plateformes (0-100)", "range": [-3, 103], "zeroline": False},
        yaxis={"title": "Indice d'adoption collaborative (0-100)", "range": [-3, 103], "zeroline": False},
    )
    return charts.french(fig)


def labelled_points(both: pl.DataFrame, selected: str | None) -> list[tuple[str, str, float, float, bool]]:
    """The points the quadrant names without hovering: the selected territory, then the extreme ones.

    Extremes: the highest and the lowest of each index (each territory once). Returns (code, name,
    platform index, collaborative index, selected?).
    """
    if both.height == 0:
        return []
    picked: list[str] = []
    if selected is not None and selected in set(both["code"]):
        picked.append(selected)
    for col in ("indice_collaboratif", "indice_plateformes"):
        for descending in (True, False):
            code = both.sort([col, "code"], descending=[descending, False])["code"][0]
            if code not in picked:
                picked.append(code)
    rows = {r["code"]: r for r in both.filter(pl.col("code").is_in(picked)).iter_rows(named=True)}
    return [(c, rows[c]["nom"], rows[c]["indice_plateformes"], rows[c]["indice_collaboratif"], c == selected)
            for c in picked]


def bivariate_legend_html() -> str:
    """A 3 x 3 legend: collaborative rank upwards, platform rank rightwards."""
    cells = []
    for c in (2, 1, 0):
        row = "".join(f"<td style='width:22px;height:22px;background:{BIVARIATE[c][p]}'></td>" for p in range(3))
        cells.append(f"<tr><td style='font-size:12px;padding-right:6px;text-align:right'>{CLASS_LABELS[c]}</td>{row}</tr>")
    foot = "".join(f"<td style='font-size:12px;text-align:center'>{CLASS_LABELS[p]}</td>" for p in range(3))
    return (
        "<div style='display:flex;align-items:center;gap:12px'>"
        "<div style='writing-mode:vertical-rl;transform:rotate(180deg);font-size:12px'>collaboratif →</div>"
        f"<table style='border-collapse:separate;border-spacing:2px'>{''.join(cells)}<tr><td></td>{foot}</tr>"
        "<tr><td></td><td colspan='3' style='font-size:12px;text-align:center'>plateformes →</td></tr></table>"
        "</div>"
    )


# -- the ranking as the page shows it -----------------------------------------------------------------
def ranking(scope_rows: pl.DataFrame) -> pl.DataFrame:
    """The scored territories of a view, best collaborative index first: name, both indices, position.

    Only four columns, so that the table fits a 1280 px screen and its first columns a phone;
    the components' values are in `components_table`. Ties are ordered by name as a French reader
    expects (`fmt.sort_key_expr`).
    """
    scored = scope_rows.filter(pl.col("indice_collaboratif").is_not_null() | pl.col("indice_plateformes").is_not_null())
    return scored.sort([pl.col("indice_collaboratif"), fmt.sort_key_expr("nom"), "code"],
                       descending=[True, False, False], nulls_last=True).select(
        pl.col("nom").alias("Territoire"),
        pl.col("indice_collaboratif").alias("Indice collaboratif"),
        pl.col("indice_plateformes").alias("Indice plateformes"),
        pl.col("quadrant").alias("Position"),
    )


def components_table(scope_rows: pl.DataFrame, catalogue: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, tables.Number]]:
    """The values of the ranked components for the territories of `ranking`, with each column's format.

    Headers are the catalogue's labels (with the unit when the label does not say it); a yes/no
    component reads "oui" / "non".
    """
    comp_cols = [c for comps in COMPONENTS.values() for c in (x.indicateur for x in comps) if c in scope_rows.columns]
    meta = {r["indicateur"]: r for r in catalogue.filter(pl.col("indicateur").is_in(comp_cols)).iter_rows(named=True)}
    scored = scope_rows.filter(pl.col("indice_collaboratif").is_not_null() | pl.col("indice_plateformes").is_not_null())
    scored = scored.sort([pl.col("indice_collaboratif"), fmt.sort_key_expr("nom"), "code"],
                         descending=[True, False, False], nulls_last=True)
    columns = [pl.col("nom").alias("Territoire")]
    numbers: dict[str, tables.Number] = {}
    for c in comp_cols:
        m = meta.get(c, {})
        header, spec = tables.indicator_column(m.get("libelle") or COMPONENT_META[c].libelle, m.get("unite") or "",
                                               m.get("decimales"))
        if spec is None:  # yes / no
            columns.append(pl.when(pl.col(c) >= 0.5).then(pl.lit("oui")).when(pl.col(c).is_not_null())
                           .then(pl.lit("non")).alias(header))
        else:
            columns.append(pl.col(c).cast(pl.Float64).alias(header))
            numbers[header] = spec
    return scored.select(columns), numbers
