"""The files themselves: French CSV, standard CSV, XLSX, Parquet, GeoJSON; formula injection."""

from __future__ import annotations

import io
import json

import openpyxl
import polars as pl
import pyarrow.parquet as pq
import pytest
import shapely.geometry

from etl import export
from etl.export import Request
from tests.export_helpers import NAMES, build

CONTRACT = ["niveau", "code", "indicateur", "periode", "valeur", "nature", "source"]


@pytest.fixture
def demo(tmp_path):
    return build(tmp_path / "demo")


def _bytes(p: export.Plan) -> bytes:
    buf = io.BytesIO()
    export.write(p, buf)
    return buf.getvalue()


def _indicateurs(data_dir) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(f) for f in export.indicator_files(data_dir)])


def _parquet(data_dir, **kw) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(_bytes(export.plan(Request(format="parquet", **kw), data_dir))))


def test_french_csv_opens_in_excel(data_dir):
    p = export.plan(Request("commune", parent="33", format="csv-fr"), data_dir)
    raw = _bytes(p)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the accents right
    text = raw[3:].decode("utf-8")
    header, first = text.splitlines()[:2]
    assert header == "niveau;code;nom;indicateur;libelle;unite;periode;valeur;nature;source"
    assert first.startswith("commune;33001;Abzac;")  # the first commune by code, whatever its first indicator
    # a decimal written in full with a comma (Abzac's density, about 153 inhabitants per km²)
    density = _parquet(data_dir, niveau="commune", parent="33").filter(
        (pl.col("code") == "33001") & (pl.col("indicateur") == "densite"))["valeur"].item()
    assert 150 < density < 160
    assert (f"\ncommune;33001;Abzac;densite;Densité de population;hab./km²;2023;{repr(density).replace('.', ',')};"
            "reel;communes\n") in text
    assert "\ncommune;33063;Bordeaux;population;Population municipale;habitants;2023;267991;reel;communes\n" in text
    back = pl.read_csv(io.BytesIO(raw), separator=";", decimal_comma=True, schema_overrides={"code": pl.String,
                                                                                             "periode": pl.String})
    assert back.select(CONTRACT).equals(_parquet(data_dir, niveau="commune", parent="33").select(CONTRACT))


def test_standard_csv_round_trip(data_dir):
    raw = _bytes(export.plan(Request("departement", format="csv"), data_dir))
    assert not raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8").splitlines()
    assert lines[0] == "niveau,code,nom,indicateur,libelle,unite,periode,valeur,nature,source"
    assert "departement,33,Gironde,population,Population municipale,habitants,2023,1690493,reel,communes" in lines
    back = pl.read_csv(io.BytesIO(raw), schema_overrides={"code": pl.String, "periode": pl.String})
    parquet = _parquet(data_dir, niveau="departement")
    rows = _indicateurs(data_dir).filter(pl.col("niveau") == "departement")
    assert back.height == parquet.height == rows.height
    assert back.select(CONTRACT).equals(parquet.select(CONTRACT))
    ain = back.filter(pl.col("code") == "01")  # leading zeros kept
    assert ain.height == rows.filter(pl.col("code") == "01").height > 0 and set(ain["nom"]) == {"Ain"}


def test_csv_companion_beside_the_file(data_dir, tmp_path):
    p = export.plan(Request("region", indicateurs=("population",), format="csv-fr"), data_dir)
    written = export.write(p, tmp_path / p.filename)
    assert [w.name for w in written] == ["extrait_regions_france_population_toutes-periodes.csv",
                                         "extrait_regions_france_population_toutes-periodes_sources.txt"]
    text = written[1].read_text(encoding="utf-8-sig")
    assert "ATTRIBUTION À REPRODUIRE" in text and "[communes] Communes" in text
    assert "zéros initiaux" in text


def test_xlsx_has_three_sheets_and_numbers(data_dir):
    p = export.plan(Request("commune", parent="33", format="xlsx"), data_dir)
    wb = openpyxl.load_workbook(io.BytesIO(_bytes(p)))
    assert wb.sheetnames == ["données", "dictionnaire", "sources"]
    ws = wb["données"]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == list(export.LONG_COLUMNS)
    assert len(rows) - 1 == p.rows
    bordeaux = next(r for r in rows if r[1] == "33063" and r[3] == "population")
    assert bordeaux[7] == 267_991 and isinstance(bordeaux[7], (int, float))
    assert ws.cell(row=2, column=8).data_type == "n"
    assert ws.cell(row=2, column=2).data_type == "s"  # codes are text: 01001 keeps its zero
    dico = [r for r in wb["dictionnaire"].iter_rows(values_only=True)]
    assert dico[0][:4] == ("colonne", "libellé", "unité", "définition")
    assert {r[0] for r in dico[1:]} >= set(export.LONG_COLUMNS)
    sources = [r for r in wb["sources"].iter_rows(values_only=True)]
    assert sources[0][:7] == ("source", "rôle", "titre", "producteur", "licence", "millésime", "récupéré le")
    names = {r[0] for r in sources[1:]}
    assert {"communes", "insee_logement", "contours"} <= names
    attributions = " ".join(r[8] or "" for r in sources[1:])
    assert "Insee, recensement de la population 2021" in attributions


def test_parquet_carries_dictionary_and_sources(data_dir):
    raw = _bytes(export.plan(Request("departement", layout="wide", format="parquet"), data_dir))
    meta = pq.read_schema(io.BytesIO(raw)).metadata
    assert "Licence Ouverte 2.0" in meta[b"observatoire:attribution"].decode()
    dico = json.loads(meta[b"observatoire:dictionnaire"])
    assert [d["colonne"] for d in dico] == pl.read_parquet(io.BytesIO(raw)).columns
    sources = json.loads(meta[b"observatoire:sources"])
    assert {s["source"] for s in sources} >= {"communes", "insee_logement"}


def test_geojson_one_feature_per_territory(data_dir, territoires):
    p = export.plan(Request("commune", parent="2A", layout="wide", format="geojson"), data_dir)
    doc = json.loads(_bytes(p))
    corse = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code_departement") == "2A"))
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == corse.height == 124
    assert [f["id"] for f in doc["features"]] == sorted(corse["code"].to_list())
    for f in doc["features"]:
        assert f["type"] == "Feature" and f["properties"]["code"] == f["id"]
        shape = shapely.geometry.shape(f["geometry"])
        assert shape.geom_type in ("Polygon", "MultiPolygon") and not shape.is_empty
        assert 8 < shape.centroid.x < 10 and 41 < shape.centroid.y < 43  # in Corsica
    ajaccio = next(f for f in doc["features"] if f["id"] == "2A004")["properties"]
    assert ajaccio["nom"] == "Ajaccio" and ajaccio["population_2023"] == 76_320
    assert "Contours administratifs" in doc["attribution"]
    assert {d["colonne"] for d in doc["dictionnaire"]} >= {"population_2023", "densite_2023"}


def test_geojson_territory_without_polygon_keeps_its_feature(demo):
    doc = json.loads(_bytes(export.plan(Request("commune", layout="wide", format="geojson"), demo)))
    assert len(doc["features"]) == 5
    assert next(f for f in doc["features"] if f["id"] == "99005")["geometry"] is None


# -- formula injection ----------------------------------------------------------------------------

def test_csv_neutralises_formulas_but_not_numbers(demo):
    raw = _bytes(export.plan(Request("commune", format="csv-fr"), demo)).decode("utf-8-sig")
    lines = raw.splitlines()
    assert any(line.startswith("commune;99001;\"'=HYPERLINK(") or line.startswith("commune;99001;'=HYPERLINK(")
               for line in lines)
    assert "commune;99002;'+33 Plage;" in raw
    assert "commune;99003;'-Moins-sur-Mer;demo_solde;Solde de démonstration;%;2023;-3,25;reel;demo_registre" in raw
    assert "commune;99004;'@Arobase;demo_solde;Solde de démonstration;%;2023;-0,5;estime;demo_registre" in raw
    assert "commune;99005;Sainte-Ordinaire;" in raw
    back = pl.read_csv(io.BytesIO(raw.encode()), separator=";", decimal_comma=True,
                       schema_overrides={"code": pl.String, "periode": pl.String})
    assert back.schema["valeur"] == pl.Float64 and back["valeur"].min() == -3.25
    std = _bytes(export.plan(Request("commune", format="csv"), demo)).decode()
    assert "commune,99003,'-Moins-sur-Mer,demo_solde,Solde de démonstration,%,2023,-3.25,reel,demo_registre" in std


def test_xlsx_name_starting_with_equals_is_text(demo):
    p = export.plan(Request("commune", layout="wide", format="xlsx"), demo)
    wb = openpyxl.load_workbook(io.BytesIO(_bytes(p)))
    ws = wb["données"]
    header = [c.value for c in ws[1]]
    rows = {r[1].value: r for r in ws.iter_rows(min_row=2)}
    name = rows["99001"][header.index("nom")]
    assert name.value == NAMES["99001"] and name.data_type == "s"  # text, shown as typed, never run
    assert name.quotePrefix  # Excel keeps it text even when the cell is edited
    solde = rows["99003"][header.index("demo_solde_2023")]
    assert solde.value == -3.25 and solde.data_type == "n"  # a negative number stays a number
    assert rows["99004"][header.index("demo_solde_2023_nature")].value == "estime"
    assert not any(c.data_type == "f" for r in ws.iter_rows() for c in r)


def _data_sheets(p: export.Plan) -> dict[str, list[tuple]]:
    wb = openpyxl.load_workbook(io.BytesIO(_bytes(p)))
    assert wb.sheetnames[-2:] == ["dictionnaire", "sources"]
    return {s: list(wb[s].iter_rows(values_only=True)) for s in wb.sheetnames if s.startswith("données")}


def test_xlsx_continues_on_a_new_sheet_past_the_row_limit(data_dir, monkeypatch):
    """Excel's 1,048,576 rows a sheet (header included), scaled down: « données (2) »…, none lost."""
    limit = 150
    monkeypatch.setattr(export, "XLSX_MAX_ROWS", limit)
    p = export.plan(Request("departement", format="xlsx"), data_dir)
    sheets = _data_sheets(p)
    full, rest = divmod(p.rows, limit - 1)  # each sheet: a header and limit - 1 rows
    assert full >= 2
    assert list(sheets) == ["données"] + [f"données ({k})" for k in range(2, full + 1 + (rest > 0))]
    assert [len(r) for r in sheets.values()] == [limit] * full + ([rest + 1] if rest else [])
    assert all(r[0] == tuple(export.LONG_COLUMNS) for r in sheets.values())
    rows = [r for s in sheets.values() for r in s[1:]]
    assert len(rows) == p.rows and len(set(rows)) == p.rows  # every row once
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)  # in order across the sheets


@pytest.mark.parametrize("extra", [0, 1])
def test_xlsx_sheet_exactly_full(data_dir, monkeypatch, extra):
    """Rows that fill a sheet exactly open no empty continuation; one more row opens one."""
    p = export.plan(Request("departement", indicateurs=("population",), format="xlsx"), data_dir)
    monkeypatch.setattr(export, "XLSX_MAX_ROWS", p.rows + 1 - extra)  # header + p.rows (- 1)
    sheets = _data_sheets(p)
    assert [len(r) - 1 for r in sheets.values()] == ([p.rows] if extra == 0 else [p.rows - 1, 1])
