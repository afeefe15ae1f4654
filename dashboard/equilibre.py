"""The balance view: indices recomputed from stored ranks, scopes, quadrants, bivariate classes, peers.

Pure functions over `equilibre/rangs.parquet` (one percentile rank per territory and component,
built by `etl/marts/equilibre.py`) and `territoires`. Unticking a component only recomputes the
means (`etl.indices.compute`): nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from etl.indices import COMPONENTS, compute
from etl.indices import component_table as component_table  # re-exported for pages

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


def indices(ranks: pl.DataFrame, excluded: set[str] | frozenset[str] = frozenset()) -> pl.DataFrame:
    """Both indices per territory, wide: indice_collaboratif, indice_plateformes, n_*, nature_*."""
    long = compute(ranks, excluded=excluded)
    wide = long.pivot(on="indice", index=["niveau", "code"], values=["valeur", "n_composantes", "nature"])
    rename = {}
    for idx in COMPONENTS:
        rename[f"valeur_{idx}"] = idx
        rename[f"n_composantes_{idx}"] = f"n_{idx}"
        rename[f"nature_{idx}"] = f"nature_{idx}"
    out = wide.rename({k: v for k, v in rename.items() if k in wide.columns})
    for idx in COMPONENTS:  # a level where no territory has any component of an index
        for c, dtype in ((idx, pl.Float64), (f"n_{idx}", pl.Int32), (f"nature_{idx}", pl.String)):
            if c not in out.columns:
                out = out.with_columns(pl.lit(None, dtype).alias(c))
    return out


def table(territoires: pl.DataFrame, ranks: pl.DataFrame, scope: Scope,
          excluded: set[str] | frozenset[str] = frozenset()) -> pl.DataFrame:
    """One row per territory of the scope: name, both indices, quadrant, bivariate class, components."""
    inside = members(territoires, scope).select("niveau", "code", "nom", "population")
    r = ranks.join(inside.select("niveau", "code"), on=["niveau", "code"], how="semi")
    idx = indices(r, excluded)
    comps = r.pivot(on="composante", index=["niveau", "code"], values="valeur")
    out = inside.join(idx, on=["niveau", "code"], how="left").join(comps, on=["niveau", "code"], how="left")
    return out.with_columns(
        quadrant=quadrant_expr("indice_collaboratif", "indice_plateformes"),
        classe_c=_tercile("indice_collaboratif"),
        classe_p=_tercile("indice_plateformes"),
    ).sort("nom")


def quadrant_expr(collaboratif: str, plateformes: str, threshold: float = 50.0) -> pl.Expr:
    """`etl.indices.quadrant` as a native polars expression.

    Native on purpose: a Python UDF (`map_elements`) runs on polars' thread pool and, with
    concurrent sessions calling `to_pandas` or the CSV writer, deadlocked the server (issue #13).
    """
    c, p = pl.col(collaboratif), pl.col(plateformes)
    return (pl.when(c.is_null() | p.is_null()).then(None)
            .when((c >= threshold) & (p >= threshold)).then(pl.lit("les deux"))
            .when(c >= threshold).then(pl.lit("collaboratif"))
            .when(p >= threshold).then(pl.lit("plateformisé"))
            .otherwise(pl.lit("ni l'un ni l'autre")))


def _tercile(col: str) -> pl.Expr:
    return (pl.when(pl.col(col).is_null()).then(None)
            .when(pl.col(col) < 100 / 3).then(0).when(pl.col(col) < 200 / 3).then(1).otherwise(2)).cast(pl.Int8)


def bivariate_colour(classe_c: int | None, classe_p: int | None) -> str | None:
    if classe_c is None or classe_p is None:
        return None
    return BIVARIATE[classe_c][classe_p]


def standing_among(ranks: pl.DataFrame, code: str, niveau: str, group: list[str]) -> pl.DataFrame:
    """For each component of the territory, its percentile among `group` (peers plus itself).

    Same formula as the national ranks: (average rank - 1) / (n - 1) x 100 within the group.
    """
    sub = ranks.filter((pl.col("niveau") == niveau) & pl.col("code").is_in([code, *group]))
    ranked = sub.with_columns(
        _r=pl.col("valeur").rank(method="average").over("composante"),
        _n=pl.len().over("composante"),
    ).with_columns(
        rang_pairs=pl.when(pl.col("_n") > 1).then((pl.col("_r") - 1) / (pl.col("_n") - 1) * 100).otherwise(50.0),
        n_pairs=pl.col("_n") - 1,
    )
    return ranked.filter(pl.col("code") == code).select(
        "indice", "composante", "valeur", "periode", "nature", "rang", "rang_pairs", "n_pairs"
    ).sort("indice", "composante")


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
    fig.add_shape(type="line", x0=50, x1=50, y0=0, y1=100, line={"color": "#999", "dash": "dot"})
    fig.add_shape(type="line", x0=0, x1=100, y0=50, y1=50, line={"color": "#999", "dash": "dot"})
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h", "y": -0.12},
        xaxis={"title": "Indice de pénétration des plateformes (0-100)", "range": [-3, 103], "zeroline": False},
        yaxis={"title": "Indice d'adoption collaborative (0-100)", "range": [-3, 103], "zeroline": False},
        separators=", ",
    )
    return fig


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
