"""Issue #12, point 2: French everywhere, in every table and chart of every page.

Every `st.dataframe` and `st.table` of every page is walked for a commune, an EPCI and France:
numeric columns keep numbers (a click on a header sorts them) but are drawn as "12 345,6"
(a French printf format or the Styler's text), no cell reads "None", "nan", "True" or an English
number, and no user page shows a command line. Names are sorted as a French reader expects.
"""

from __future__ import annotations

import io
import json
import re

import polars as pl
import pyarrow as pa
import pytest

from dashboard import charts, fmt, tables
from etl.config import ROOT

PAGES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "dashboard" / "pages").glob("*.py"))
#: the two data pages, where a command line is part of the content (docs/developpement.md)
DATA_PAGES = {"dashboard/pages/donnees.py", "dashboard/pages/dictionnaire.py"}
TERRITORIES = [("commune", "33063"), ("epci", "243300316"), ("france", "FR")]

#: what a French reader must never see in a cell
#: ("72,284" alone is a French decimal: a comma group is English only when repeated or before a dot)
ENGLISH_NUMBER = re.compile(r"^-?\d{1,3}(,\d{3})+\.\d+$|^-?\d{1,3}(,\d{3}){2,}$|^-?\d+\.\d+$")
WORDS = {"None", "nan", "NaN", "null", "True", "False", "true", "false", "<NA>"}
COMMAND = re.compile(r"python -m|\betl (run|export)\b|\.venv/bin")


def _arrow(data: bytes) -> pl.DataFrame:
    return pl.from_arrow(pa.ipc.open_stream(io.BytesIO(data)).read_all())


def _dataframe_cells(element) -> dict[str, list[str]]:
    """Each column of an `st.dataframe` as its cells' text, checking how numbers are drawn."""
    proto = element.proto
    df = _arrow(proto.arrow_data.data) if proto.arrow_data.data else _arrow(proto.lazy_data.initial_chunk.data)
    config = json.loads(proto.columns or "{}")
    display = (_arrow(proto.arrow_data.styler.display_values) if proto.arrow_data.styler.display_values
               else None)
    cells: dict[str, list[str]] = {}
    for name, dtype in df.schema.items():
        if name.startswith("__index_level") or name == "_index":
            continue
        if dtype.is_numeric():
            fmt_spec = (config.get(name) or config.get(f"col:{name}") or {}).get("type_config", {}).get("format")
            # a column's own format wins over the Styler's text (which pandas writes for every column)
            styled = not fmt_spec and display is not None and name in display.columns
            assert styled or (fmt_spec and fmt_spec.startswith(tables.THOUSANDS)), (
                f"numeric column {name!r} drawn by the browser's locale: {fmt_spec!r}")
            if styled:
                cells[name] = [str(v) for v in display[name].to_list()]
            else:
                cells[name] = [tables.COUNT.text(v) for v in df[name].to_list()]
        elif dtype == pl.Boolean:
            pytest.fail(f"column {name!r} is a boolean (a checkbox read 'true' / 'false'), not oui / non")
        else:
            cells[name] = ["" if v is None else str(v) for v in df[name].to_list()]
    return cells


#: columns of names as their publishers write them (a tiers-lieu is called "13.2"): not numbers of ours
NAME_COLUMNS = {"Nom", "Annonce", "Territoire", "Commune", "Liaison", "Tiers-lieu le plus proche", "Sa commune",
                "Jeu de données", "Source", "Numéro affiché", "Adresse", "Adresse en ligne", "Page", "nom"}


def _check_cells(where: str, cells: dict[str, list[str]]) -> None:
    for name, values in cells.items():
        for v in values:
            assert v.strip() not in WORDS, f"{where}, column {name!r}: {v!r}"
            if name not in NAME_COLUMNS:
                assert not ENGLISH_NUMBER.match(v.strip()), f"{where}, column {name!r}: English number {v!r}"


def _texts(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "success", "error", "code", "title",
                                  "subheader", "header") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(("niveau", "code"), TERRITORIES)
def test_every_table_is_in_french(app, page, niveau, code):
    at = app(page, niveau=niveau, code=code)
    assert not at.exception, [e.value for e in at.exception]
    for i, element in enumerate(at.dataframe):
        _check_cells(f"{page} ({niveau} {code}), table {i} ({element.proto.alt!r})", _dataframe_cells(element))
        assert element.proto.alt, f"{page}: table {i} has no accessible name"
    for i, element in enumerate(at.table):
        shown = element.value
        cells = {str(c): [str(v) for v in shown[c].tolist()] for c in shown.columns}
        for name in cells:
            # a static table gets text from the pages (numbers already written by dashboard.fmt)
            assert all(not isinstance(v, float) for v in shown[name].tolist()), f"{page}: table {i} {name!r}"
        _check_cells(f"{page} ({niveau} {code}), static table {i}", cells)
    if page not in DATA_PAGES:
        text = _texts(at)
        assert not COMMAND.search(text), f"{page}: a command line on a user page: {COMMAND.search(text)}"
    words = _texts(at)
    for internal in ("rang centile", " mart", "None", "toutes les départements", "1 comparables"):
        assert internal not in words, f"{page} ({niveau} {code}) shows {internal!r}"


def test_no_command_line_in_user_page_sources():
    """The pages' own text: a command appears only on the two data pages (the README has the rest)."""
    for page in PAGES:
        if page in DATA_PAGES:
            continue
        source = (ROOT / page).read_text(encoding="utf-8")
        strings = re.findall(r'"[^"\n]*"', source)
        hits = [s for s in strings if COMMAND.search(s)]
        assert not hits, f"{page}: {hits}"


def test_names_sorted_as_a_french_reader_expects(territoires):
    """Bègles before Bruges (code-point order puts "è" after every ASCII letter); the polars key, used
    by the pages' sorts, orders every commune name as the Python key does."""
    gironde = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code_departement") == "33"))
    names = gironde.sort(fmt.sort_key_expr("nom"), "nom")["nom"].to_list()
    assert names.index("Bègles") < names.index("Bruges")
    assert sorted(gironde["nom"].to_list()).index("Bègles") > sorted(gironde["nom"].to_list()).index("Bruges")
    every = territoires.filter(pl.col("niveau") == "commune")["nom"].to_list()
    by_expr = pl.DataFrame({"nom": every}).with_columns(k=fmt.sort_key_expr("nom"))["k"].to_list()
    assert by_expr == [fmt.sort_key(n) for n in every]
    assert fmt.sort_key("Œuilly") == "oeuilly" and fmt.sort_key("Écouen") < fmt.sort_key("Zurich")


def test_table_cells_in_french(territoires):
    """tables.frame on real populations: whole numbers grouped with a narrow space, rates with a comma,
    an absent value 'pas de donnée', booleans oui / non; the numbers stay numbers for sorting."""
    communes = territoires.filter(pl.col("niveau") == "commune").sort("population", descending=True).head(3)
    df = communes.select(
        pl.col("nom"), pl.col("population").alias("Population"),
        (pl.col("population") / 1000).alias("Milliers"),
        (pl.col("population") > 500_000).alias("Plus de 500 000"),
    ).vstack(pl.DataFrame({"nom": ["vide"], "Population": [None], "Milliers": [None], "Plus de 500 000": [None]},
                          schema=communes.select(pl.col("nom"), pl.col("population").alias("Population"),
                                                 (pl.col("population") / 1000).alias("Milliers"),
                                                 (pl.col("population") > 500_000).alias("Plus de 500 000")).schema))
    table = tables.frame(df, {"Milliers": tables.Number(1)})
    texts = table.texts()
    top = int(communes["population"][0])
    assert texts["Population"][0].replace("\u202f", "") == str(top) and "\u202f" in texts["Population"][0]
    assert texts["Milliers"][0] == fmt.number(top / 1000, 1) and "," in texts["Milliers"][0]
    assert texts["Population"][-1] == texts["Milliers"][-1] == "pas de donnée"
    assert texts["Plus de 500 000"][0] == "oui" and texts["Plus de 500 000"][-1] == "pas de donnée"
    assert table.frame["Population"].dtype == pl.Float64  # still a number: sorted as such
    assert table.column_config["Population"]["type_config"]["format"] == tables.THOUSANDS
    # a printf format has no decimal comma: a column with decimals is drawn by the Styler's text
    assert table.data.format  # pandas Styler
    with pytest.raises(ValueError):
        tables.Number(1).printf()


def test_charts_in_french():
    import plotly.graph_objects as go

    fig = charts.french(go.Figure(go.Bar(x=["a"], y=[70_000])))
    assert fig.layout.separators == ",\u202f"
    assert fig.layout.yaxis.exponentformat == "none"  # "70 000", not "70k"
