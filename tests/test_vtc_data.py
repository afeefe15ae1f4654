"""Taxis and VTC: the real BPE history, the estimate, and the live BPE / Sirene parsers.

The live sources have no copy in the mirror: their parsers are tested on small files written
here by hand in the exact published formats, one of them downloaded from a local HTTP server.
"""

from __future__ import annotations

import gzip
import http.server
import io
import threading
import zipfile
from functools import partial
from pathlib import Path

import polars as pl
import pytest

from dashboard import compare
from etl import registry
from etl.marts.base import BuildContext
from etl.runner import plan, run
from etl.sources.base import AbsentFromMirror, FetchContext, Resource, SourceError, fetch

IDF = ("75", "77", "78", "91", "92", "93", "94", "95")


@pytest.fixture(scope="module")
def raw_taxis(mirror) -> pl.DataFrame:
    return pl.read_csv(mirror / "bpe-historique/bpe_taxi_par_commune_2009_2013.csv", infer_schema=False).with_columns(
        pl.col("nb_taxi_2009", "nb_taxi_2013").cast(pl.Int64))


@pytest.fixture(scope="module")
def raw_aires(mirror) -> pl.DataFrame:
    return pl.read_csv(mirror / "bpe-historique/bpe_E101_taxi_vtc_par_aire_urbaine2010_2013_2018.csv",
                       infer_schema=False).with_columns(pl.col("nb_2013", "nb_2018").cast(pl.Int64))


@pytest.fixture(scope="module")
def ind(data_dir) -> pl.DataFrame:
    return pl.read_parquet(data_dir / "indicateurs" / "vtc.parquet")


@pytest.fixture(scope="module")
def history(mirror):
    ctx = FetchContext(mirror=mirror, raw_dir=Path("/x"), progress=False)
    return {n: fetch(registry.sources()[n], ctx)[0] for n in ("bpe_historique", "cog_passage")}


def value(ind: pl.DataFrame, niveau: str, code: str, indicateur: str, periode: str) -> float | None:
    v = ind.filter((pl.col("niveau") == niveau) & (pl.col("code") == code) & (pl.col("indicateur") == indicateur)
                   & (pl.col("periode") == periode))
    return v["valeur"][0] if v.height else None


# -- real history -----------------------------------------------------------------------------------
def test_history_files_parsed(history):
    hist = history["bpe_historique"]
    assert hist.frame.height == 35_530 and not hist.rejected
    assert hist.frame.select(pl.col("taxis_2009", "taxis_2013").sum()).row(0) == (32_153, 35_590)
    aires = hist.tables["aires_urbaines"]
    assert aires.height == 1_062
    assert aires.select(pl.col("nb_2013", "nb_2018").sum()).row(0) == (34_995, 68_169)
    assert aires.filter(pl.col("id_au") == "001").select("libelle", "nb_2013", "nb_2018").row(0) == (
        "Paris", 14_015, 40_460)
    assert dict(aires.group_by("categorie").len().iter_rows())["aire urbaine"] == 790


def test_taxis_2013_of_nice_and_lyon(ind, raw_taxis):
    assert value(ind, "commune", "06088", "taxis_bpe", "2013") == 296
    lyon_arr = raw_taxis.filter(pl.col("code_commune").is_in([f"6938{i}" for i in range(1, 10)]))
    assert lyon_arr.height == 9
    assert value(ind, "commune", "69123", "taxis_bpe", "2013") == lyon_arr["nb_taxi_2013"].sum() == 228
    assert value(ind, "arrondissement", "69383", "taxis_bpe", "2013") == 44
    paris = raw_taxis.filter(pl.col("code_commune").str.starts_with("751"))["nb_taxi_2013"].sum()
    assert value(ind, "commune", "75056", "taxis_bpe", "2013") == paris == 1_959
    assert value(ind, "france", "FR", "taxis_bpe", "2009") == 32_153
    assert value(ind, "france", "FR", "taxis_bpe", "2013") == 35_590


def test_former_codes_are_summed_into_todays_commune(ind, raw_taxis, history):
    passage = history["cog_passage"].frame
    former = raw_taxis.join(passage, left_on="code_commune", right_on="code_ancien").filter(pl.col("nb_taxi_2013") > 0)
    assert former.height > 50
    target = former.group_by("code_actuel").len().sort("len", "code_actuel", descending=[True, False])["code_actuel"][0]
    codes = [target, *passage.filter(pl.col("code_actuel") == target)["code_ancien"].to_list()]
    by_hand = raw_taxis.filter(pl.col("code_commune").is_in(codes))["nb_taxi_2013"].sum()
    assert value(ind, "commune", target, "taxis_bpe", "2013") == by_hand


def test_blank_means_no_data_not_zero(ind, raw_taxis, territoires):
    # a current commune with no row in the 2013 table has no 2013 value at all
    communes = territoires.filter(pl.col("niveau") == "commune")
    known = ind.filter((pl.col("niveau") == "commune") & (pl.col("indicateur") == "taxis_bpe")
                       & (pl.col("periode") == "2013"))
    assert communes.height - known.height == 1_428
    assert known["valeur"].min() == 0
    # nor an estimate: Bihorel (76095) had 2 taxis in 2009 and no row in 2013
    assert value(ind, "commune", "76095", "taxis_bpe", "2009") == 2
    assert value(ind, "commune", "76095", "vtc_equipements", "2018") is None
    estimated = ind.filter((pl.col("niveau") == "commune") & (pl.col("indicateur") == "vtc_equipements"))
    assert estimated.height == known.height


# -- the estimate -----------------------------------------------------------------------------------
def test_estimate_national_total_equals_its_model(ind, raw_taxis, raw_aires, data_dir):
    """Île-de-France taxis 2013 x Paris-area E101 growth + the rest x the rest's growth, from the raw files."""
    idf = raw_taxis.filter(pl.col("code_commune").str.slice(0, 2).is_in(IDF))["nb_taxi_2013"].sum()
    rest = raw_taxis["nb_taxi_2013"].sum() - idf
    paris = raw_aires.filter(pl.col("id_au2010") == "001").row(0, named=True)
    n13, n18 = raw_aires["nb_2013"].sum(), raw_aires["nb_2018"].sum()
    f_idf = paris["nb_2018"] / paris["nb_2013"]
    f_rest = (n18 - paris["nb_2018"]) / (n13 - paris["nb_2013"])
    assert (idf, round(f_idf, 4), round(f_rest, 4)) == (13_742, 2.8869, 1.3207)
    expected = idf * f_idf + rest * f_rest
    assert value(ind, "france", "FR", "vtc_equipements", "2018") == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(68_527.27, abs=0.01)  # vs 68,169 measured in 2018
    # per commune: its own 2013 count times its zone's factor
    assert value(ind, "commune", "06088", "vtc_equipements", "2018") == pytest.approx(296 * f_rest)
    assert value(ind, "arrondissement", "75108", "vtc_equipements", "2018") == pytest.approx(111 * f_idf)
    model = pl.read_parquet(data_dir / "vtc" / "estimation.parquet")
    assert model["estimation_2018"].sum() == pytest.approx(expected)
    # nature and period say what it is
    rows = ind.filter(pl.col("indicateur").is_in(["vtc_equipements", "vtc_pour_10000_hab"]))
    assert set(rows["nature"]) == {"estime"} and set(rows["periode"]) == {"2018"}


def test_estimate_rate_is_recomputed(ind, territoires):
    dep = territoires.filter((pl.col("niveau") == "departement") & (pl.col("code") == "06")).row(0, named=True)
    count = value(ind, "departement", "06", "vtc_equipements", "2018")
    assert value(ind, "departement", "06", "vtc_pour_10000_hab", "2018") == pytest.approx(count / dep["population"] * 1e4)


# -- live BPE: hand-written files in the published format -------------------------------------------
BPE_DATA = (
    '"GEO";"GEO_OBJECT";"FACILITY_DOM";"FACILITY_SDOM";"FACILITY_TYPE";"BPE_MEASURE";"TIME_PERIOD";"OBS_VALUE"\n'
    '"75056";"COM";"E";"E1";"E101";"FACILITIES";2024;18702\n'
    '"75108";"ARM";"E";"E1";"E101";"FACILITIES";2024;900\n'
    '"06088";"COM";"E";"E1";"E101";"FACILITIES";2024;1410\n'
    '"01003";"COM";"E";"E1";"E101";"FACILITIES";2024;1\n'  # a former code: moved to 01165
    '"01165";"COM";"E";"E1";"E101";"FACILITIES";2024;2\n'
    '"33063";"COM";"E";"E1";"E101";"FACILITIES";2023;700\n'
    '"33063";"COM";"E";"E1";"E101";"FACILITIES";2024;720\n'
    '"06";"DEP";"E";"E1";"E101";"FACILITIES";2024;3000\n'  # other level: ignored
    '"06088";"COM";"E";"E1";"E102";"FACILITIES";2024;12\n'  # other equipment: ignored
    '"06088";"COM";"A";"A1";"A101";"FACILITIES";2024;5\n'
    '"13055";"COM";"E";"E1";"E101";"FACILITIES";2024;n.d.\n'  # rejected: not a number
    '"1305";"COM";"E";"E1";"E101";"FACILITIES";2024;3\n'  # rejected: malformed code
)
BPE_METADATA = (
    '"COD_VAR";"LIB_VAR";"COD_MOD";"LIB_MOD"\n'
    '"FACILITY_TYPE";"Type d\'équipement";"E101";"Taxi - VTC"\n'
    '"GEO_OBJECT";"Objet géographique";"COM";"Commune"\n'
)


def write_bpe_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("DS_BPE_2024_data.csv", BPE_DATA)
        zf.writestr("DS_BPE_2024_metadata.csv", BPE_METADATA)
    return path


@pytest.fixture
def local_server(tmp_path):
    """A static HTTP server on 127.0.0.1 serving `tmp_path/www`."""
    root = tmp_path / "www"
    root.mkdir()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_bpe_parser(tmp_path):
    parsed = registry.sources()["bpe"].parse({"main": write_bpe_zip(tmp_path / "DS_BPE_CSV_FR.zip")},
                                             FetchContext(mirror=None, raw_dir=tmp_path))
    df = parsed.frame
    assert parsed.rows_read == 12
    assert dict(parsed.rejected) == {"code commune mal formé": 1, "valeur non entière ou négative": 1}
    assert df.height == 7
    assert df.filter(pl.col("code") == "75056").row(0) == ("commune", "75056", "2024", 18_702)
    assert df.filter(pl.col("niveau") == "arrondissement")["code"].to_list() == ["75108"]
    assert sorted(df.filter(pl.col("code") == "33063")["periode"]) == ["2023", "2024"]


def test_bpe_download_from_a_local_server(local_server, tmp_path, monkeypatch):
    root, base = local_server
    write_bpe_zip(root / "DS_BPE_CSV_FR.zip")
    src = registry.sources()["bpe"]
    monkeypatch.setattr(type(src), "resources_", (Resource("main", f"{base}/DS_BPE_CSV_FR.zip", "vtc/DS_BPE_CSV_FR.zip"),))
    ctx = FetchContext(mirror=None, raw_dir=tmp_path / "raw", progress=False,
                       download_kwargs={"max_attempts": 1})
    # 7 communes are not a plausible BPE (about 10,000 communes have a taxi): refused, nothing kept
    with pytest.raises(SourceError, match="minimum plausible"):
        fetch(src, ctx)
    assert not (tmp_path / "raw" / "bpe" / "DS_BPE_CSV_FR.zip").exists()
    monkeypatch.setattr(type(src), "min_rows", 5)
    parsed, info = fetch(src, ctx)
    assert parsed.frame.height == 7 and info.origin == "live"
    assert (tmp_path / "raw" / "bpe" / "DS_BPE_CSV_FR.zip").exists()


def build_vtc(data_dir, history, live: dict, options: dict | None = None):
    mart = registry.marts()["vtc"]
    return mart.build(BuildContext(out_dir=data_dir, options=options or {}, progress=False), {**history, **live})


def test_real_bpe_counts_replace_the_estimate(tmp_path, data_dir, history):
    bpe = registry.sources()["bpe"].parse({"main": write_bpe_zip(tmp_path / "b.zip")},
                                          FetchContext(mirror=None, raw_dir=tmp_path))
    result = build_vtc(data_dir, history, {"bpe": bpe})
    ind = result.indicateurs
    real = ind.filter(pl.col("nature") == "reel")
    assert value(real, "commune", "75056", "vtc_equipements", "2024") == 18_702
    assert value(real, "arrondissement", "75108", "vtc_equipements", "2024") == 900
    assert value(real, "arrondissement", "75101", "vtc_equipements", "2024") == 0
    assert value(real, "commune", "01165", "vtc_equipements", "2024") == 3  # 01003 merged into it
    assert value(real, "commune", "23077", "vtc_equipements", "2024") == 0  # absent from the BPE: none
    assert value(real, "france", "FR", "vtc_equipements", "2024") == 18_702 + 1_410 + 3 + 720
    assert value(real, "commune", "33063", "vtc_equipements", "2023") == 700
    # the estimate stays, and pages pick the measured count (later period, measured nature)
    assert value(ind, "commune", "75056", "vtc_equipements", "2018") is not None
    last = compare.latest(ind, [("commune", "75056"), ("commune", "06088")], ["vtc_equipements"])
    assert set(last["nature"]) == {"reel"} and set(last["periode"]) == {"2024"}


def test_growth_since_2013_is_measured_only_with_the_live_bpe(tmp_path, data_dir, history, raw_taxis, territoires):
    """Issue #11, point 4: the platform component is the growth of taxi-VTC since 2013, never the taxi level."""
    bpe = registry.sources()["bpe"].parse({"main": write_bpe_zip(tmp_path / "b.zip")},
                                          FetchContext(mirror=None, raw_dir=tmp_path))
    ind = build_vtc(data_dir, history, {"bpe": bpe}).indicateurs
    paris_2013 = raw_taxis.filter(pl.col("code_commune").str.starts_with("751"))["nb_taxi_2013"].sum()
    assert value(ind, "commune", "75056", "vtc_hausse_depuis_2013", "2024") == 18_702 - paris_2013
    pop = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code") == "75056"))["population"].item()
    assert value(ind, "commune", "75056", "vtc_hausse_pour_10000_hab", "2024") == pytest.approx(
        (18_702 - paris_2013) / pop * 10_000)
    # a commune absent from the BPE has no taxi-VTC today: its growth is minus its 2013 taxis
    creuse = raw_taxis.filter(pl.col("code_commune") == "23077")["nb_taxi_2013"].item()
    assert value(ind, "commune", "23077", "vtc_hausse_depuis_2013", "2024") == -creuse
    # without the live BPE (the embedded data), the growth is not there: never estimated
    offline = pl.read_parquet(data_dir / "indicateurs" / "vtc.parquet")
    assert offline.filter(pl.col("indicateur").str.starts_with("vtc_hausse")).height == 0


# -- Sirene alternative --------------------------------------------------------------------------------
SIRENE_HEADER = (
    "siren,nic,siret,statutDiffusionEtablissement,dateCreationEtablissement,trancheEffectifsEtablissement,"
    "anneeEffectifsEtablissement,activitePrincipaleRegistreMetiersEtablissement,dateDernierTraitementEtablissement,"
    "etablissementSiege,nombrePeriodesEtablissement,complementAdresseEtablissement,numeroVoieEtablissement,"
    "indiceRepetitionEtablissement,typeVoieEtablissement,libelleVoieEtablissement,codePostalEtablissement,"
    "libelleCommuneEtablissement,libelleCommuneEtrangerEtablissement,distributionSpecialeEtablissement,"
    "codeCommuneEtablissement,codeCedexEtablissement,libelleCedexEtablissement,codePaysEtrangerEtablissement,"
    "libellePaysEtrangerEtablissement,complementAdresse2Etablissement,numeroVoie2Etablissement,"
    "indiceRepetition2Etablissement,typeVoie2Etablissement,libelleVoie2Etablissement,codePostal2Etablissement,"
    "libelleCommune2Etablissement,libelleCommuneEtranger2Etablissement,distributionSpeciale2Etablissement,"
    "codeCommune2Etablissement,codeCedex2Etablissement,libelleCedex2Etablissement,codePaysEtranger2Etablissement,"
    "libellePaysEtranger2Etablissement,dateDebut,etatAdministratifEtablissement,enseigne1Etablissement,"
    "enseigne2Etablissement,enseigne3Etablissement,denominationUsuelleEtablissement,"
    "activitePrincipaleEtablissement,nomenclatureActivitePrincipaleEtablissement,caractereEmployeurEtablissement,"
    "longitude,latitude,geo_score,geo_type,geo_adresse,geo_id,geo_ligne,geo_l4,geo_l5"
)


def sirene_row(siret: str, commune: str, etat: str, naf: str, treated: str, name: str = "") -> str:
    cells = {
        "siren": siret[:9], "nic": siret[9:], "siret": siret, "statutDiffusionEtablissement": "O",
        "dateCreationEtablissement": "2017-05-02", "dateDernierTraitementEtablissement": treated,
        "etablissementSiege": "true", "nombrePeriodesEtablissement": "1", "numeroVoieEtablissement": "12",
        "typeVoieEtablissement": "RUE", "libelleVoieEtablissement": "DE LA GARE",
        "codePostalEtablissement": "75008" if commune.startswith("75") else "33000",
        "libelleCommuneEtablissement": "PARIS 8" if commune.startswith("75") else "BORDEAUX",
        "codeCommuneEtablissement": commune, "dateDebut": "2017-05-02", "etatAdministratifEtablissement": etat,
        "enseigne1Etablissement": f'"{name}"' if "," in name else name,
        "activitePrincipaleEtablissement": naf, "nomenclatureActivitePrincipaleEtablissement": "NAFRev2",
        "caractereEmployeurEtablissement": "N", "longitude": "2.3105", "latitude": "48.8752", "geo_score": "0.93",
        "geo_type": "housenumber", "geo_adresse": '"12 Rue de la Gare, 75008 Paris"',
    }
    return ",".join(cells.get(c, "") for c in SIRENE_HEADER.split(","))


def write_sirene(path: Path, rows: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        fh.write(SIRENE_HEADER + "\n" + "\n".join(rows) + "\n")
    return path


def test_sirene_parser_and_partial_coverage(tmp_path, data_dir, history):
    assert len(SIRENE_HEADER.split(",")) == 57
    # Paris comes as one file per arrondissement (geo_siret_75101 ... 75120)
    paris = {
        "75108": [sirene_row("81234567800011", "75108", "A", "49.32Z", "2024-03-01T02:13:45", "TAXI, VTC & CO"),
                  sirene_row("81234567800052", "75108", "A", "56.10A", "2024-01-05T10:00:00")],  # a restaurant
        "75111": [sirene_row("81234567800029", "75111", "A", "49.32Z", "2024-02-11T10:00:00"),
                  sirene_row("81234567800037", "75111", "A", "49.32Z", "2023-12-30T10:00:00"),
                  sirene_row("81234567800045", "75111", "F", "49.32Z", "2022-01-05T10:00:00")],  # closed
    }
    files = {}
    for i in range(1, 21):
        code = f"751{i:02d}"
        rows = paris.get(code, [sirene_row(f"8{i:02d}34567800011", code, "A", "56.10A", "2023-05-05T10:00:00")])
        files[f"dep_{code}"] = write_sirene(tmp_path / f"geo_siret_{code}.csv.gz", rows)
    files["dep_33"] = write_sirene(tmp_path / "geo_siret_33.csv.gz", [
        sirene_row("82234567800019", "33063", "A", "49.32Z", "2024-03-02T08:00:00"),
    ])
    with gzip.open(files["dep_75111"], "rt", encoding="utf-8") as fh:  # the hand-written file is a valid 57-column CSV
        assert pl.read_csv(io.StringIO(fh.read()), infer_schema=False).shape == (3, 57)
    src = registry.sources()["sirene_vtc"]
    parsed = src.parse(files, FetchContext(mirror=None, raw_dir=tmp_path))
    assert parsed.rows_read == 2 + 3 + 18 + 1
    assert dict(parsed.frame.iter_rows()) == {"33063": 1, "75108": 1, "75111": 2}
    assert parsed.tables["couverture"].rows() == [("33", "2024-03"), ("75", "2024-03")]
    assert "enseigne1Etablissement" not in parsed.frame.columns

    ind = build_vtc(data_dir, history, {"sirene_vtc": parsed}, {"vtc_source": "sirene"}).indicateurs
    real = ind.filter(pl.col("source") == "sirene_vtc")
    assert set(real["periode"]) == {"2024-03"}
    assert value(real, "commune", "75056", "vtc_equipements", "2024-03") == 3
    assert value(real, "arrondissement", "75111", "vtc_equipements", "2024-03") == 2
    assert value(real, "commune", "33069", "vtc_equipements", "2024-03") == 0  # read, none there
    assert value(real, "departement", "33", "vtc_equipements", "2024-03") == 1
    # départements not read stay "no data", and a partial région or France is not shown
    assert value(real, "commune", "06088", "vtc_equipements", "2024-03") is None
    assert value(real, "region", "75", "vtc_equipements", "2024-03") is None
    assert value(real, "france", "FR", "vtc_equipements", "2024-03") is None


def test_sirene_download_from_a_local_server(local_server, tmp_path, monkeypatch):
    from etl.sources import sirene_vtc

    root, base = local_server
    for dep, commune in (("33", "33063"), ("2A", "2A004")):
        write_sirene(root / f"geo_siret_{dep}.csv.gz", [
            sirene_row("83234567800011", commune, "A", "49.32Z", "2024-04-02T08:00:00")])
    monkeypatch.setattr(sirene_vtc, "BASE", base)
    ctx = FetchContext(mirror=None, raw_dir=tmp_path / "raw", progress=False,
                       options={"vtc_source": "sirene", "sirene_departements": "33,2A"},
                       download_kwargs={"max_attempts": 1})
    parsed, info = fetch(registry.sources()["sirene_vtc"], ctx)
    assert dict(parsed.frame.iter_rows()) == {"2A004": 1, "33063": 1}
    assert parsed.tables["couverture"]["periode"].to_list() == ["2024-04", "2024-04"]
    assert sorted(info.files) == ["dep_2A", "dep_33"]
    assert (tmp_path / "raw" / "sirene_vtc" / "geo_siret_2A.csv.gz").exists()


def test_sirene_departements_option():
    src = registry.sources()["sirene_vtc"]
    ctx = FetchContext(mirror=None, raw_dir=Path("/x"), options={"sirene_departements": "33, 2a,971"})
    assert [r.url.rsplit("/", 1)[1] for r in src.resources(ctx)] == [
        "geo_siret_33.csv.gz", "geo_siret_2A.csv.gz", "geo_siret_971.csv.gz"]
    assert len(src.resources(FetchContext(mirror=None, raw_dir=Path("/x")))) == 100 + 20  # Paris: 20 files
    with pytest.raises(SourceError, match="inconnu"):
        src.resources(FetchContext(mirror=None, raw_dir=Path("/x"), options={"sirene_departements": "20"}))


# -- the run: live-only sources, the choice between them ---------------------------------------------------
def test_vtc_source_option_chooses_what_is_fetched(data_dir):
    needed = plan(None, data_dir, {}).needed
    assert "bpe" in needed and "sirene_vtc" not in needed
    needed = plan(None, data_dir, {"vtc_source": "sirene"}).needed
    assert "sirene_vtc" in needed and "bpe" not in needed


def test_live_only_sources_are_absent_from_the_mirror(mirror, fresh_dir):
    with pytest.raises(AbsentFromMirror):
        fetch(registry.sources()["bpe"], FetchContext(mirror=mirror, raw_dir=Path("/x"), progress=False))
    # asked for by name in a mirror run: an error; the estimate is rebuilt anyway
    report = run(["bpe"], out_dir=fresh_dir, mirror=mirror, progress=False)
    status = {s.name: s.status for s in report.sources}
    # the others are read from their current files (the mirror's), not fetched (`etl run SOURCE`)
    assert status == {"bpe": "erreur", "bpe_historique": "réutilisé", "cog_passage": "réutilisé"}
    assert [(m.name, m.status) for m in report.marts] == [("vtc", "ok"), ("equilibre", "ok")]
    assert "pas de copie dans le miroir" in report.errors()[0]
