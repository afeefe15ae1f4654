"""Inside Airbnb source: mirror files, exact ids, both price forms, snapshot discovery and live mode.

Live mode is tested offline: a local HTTP server on 127.0.0.1 serves a hand-written "get the
data" page in the real link format and the mirror's real files under the live paths.
"""

from __future__ import annotations

import csv
import functools
import gzip
import http.server
import shutil
import threading
from pathlib import Path

import polars as pl
import pytest

from etl import registry
from etl.sources.base import FetchContext, SourceError, fetch
from etl.sources.insideairbnb import Snapshot, discover, read_listings

SRC = registry.sources()["insideairbnb"]
SNAPSHOTS = {
    ("bordeaux", "2024-03"): "nouvelle-aquitaine/bordeaux/2024-03",
    ("bordeaux", "2021-12"): "nouvelle-aquitaine/bordeaux/2021-12",
    ("lyon", "2024-03"): "auvergne-rhone-alpes/lyon/2024-03",
    ("lyon", "2021-12"): "auvergne-rhone-alpes/lyon/2021-12",
}


def summary_file(mirror: Path, key: str) -> Path:
    return mirror / "insideairbnb" / "france" / key / "visualisations" / "listings.csv"


def raw_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def parsed(mirror):
    return fetch(SRC, FetchContext(mirror=mirror, raw_dir=Path("/nonexistent"), progress=False))[0]


def test_every_snapshot_of_every_city(parsed):
    counts = {(v, i): n for v, i, n in parsed.frame.group_by("ville", "instantane").len().iter_rows()}
    assert counts == {("bordeaux", "2024-03"): 12_032, ("lyon", "2024-03"): 10_113,
                      ("bordeaux", "2021-12"): 9_471, ("lyon", "2021-12"): 9_020}
    snaps = parsed.tables["instantanes"]
    assert snaps.height == 4
    assert dict(snaps.select("dossier", "annonces").iter_rows())["nouvelle-aquitaine/bordeaux/2024-03"] == 12_032
    # the mirror folders give the month only: no exact date is invented
    assert snaps["date_instantane"].null_count() == 4
    assert dict(snaps.select("dossier", "dernier_commentaire").iter_rows())["auvergne-rhone-alpes/lyon/2024-03"] == "2024-03-23"
    assert parsed.rows_read == 12_032 + 10_113 + 9_471 + 9_020
    assert sum(parsed.rejected.values()) == 0


def test_ids_above_2_53_survive_parsing_and_parquet(parsed, mirror, tmp_path):
    rows = raw_rows(summary_file(mirror, SNAPSHOTS[("bordeaux", "2024-03")]))
    big = [(r["id"], r["host_id"]) for r in rows if int(r["id"]) > 2**53]
    assert len(big) == 5_033  # ids that a float64 would corrupt
    assert any(int(i) != int(float(i)) for i, _ in big)
    path = tmp_path / "annonces.parquet"
    parsed.frame.write_parquet(path)
    back = pl.read_parquet(path).filter((pl.col("ville") == "bordeaux") & (pl.col("instantane") == "2024-03"))
    assert back.schema["id"] == pl.Int64 and back.schema["host_id"] == pl.Int64
    got = set(zip(back["id"].cast(pl.String), back["host_id"].cast(pl.String), strict=True))
    assert set(big) <= got
    assert {r["id"] for r in rows} == set(back["id"].cast(pl.String))


def test_summary_prices_and_types(parsed, mirror):
    bdx = parsed.frame.filter((pl.col("ville") == "bordeaux") & (pl.col("instantane") == "2024-03"))
    rows = {r["id"]: r for r in raw_rows(summary_file(mirror, SNAPSHOTS[("bordeaux", "2024-03")]))}
    first = bdx.filter(pl.col("id") == 222887).row(0, named=True)
    assert first["price"] == 203.0 == float(rows["222887"]["price"])
    assert first["license"] == "3306300031048"
    # a third of the 2024 prices are empty: null, never 0
    assert bdx["price"].null_count() == sum(1 for r in rows.values() if r["price"] == "") == 4_085
    assert bdx.filter(pl.col("price") == 0).height == 0


def _write(path: Path, header: list[str], rows: list[list[str]], gz: bool = False) -> Path:
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


DETAILED_COLUMNS = ["id", "listing_url", "name", "host_id", "host_name", "host_listings_count", "neighbourhood",
                    "neighbourhood_cleansed", "neighbourhood_group_cleansed", "latitude", "longitude", "room_type",
                    "price", "minimum_nights", "availability_365", "number_of_reviews", "number_of_reviews_ltm",
                    "last_review", "license", "calculated_host_listings_count", "reviews_per_month"]


def dollars(price: str) -> str:
    """The detailed file's price form, ten times the summary's to cross $1,000: "$2,030.00"."""
    return f"${float(price) * 10:,.2f}" if price else ""


def write_detailed(path: Path, real: list[dict[str, str]]) -> Path:
    """Real summary rows written in the layout of the detailed `data/listings.csv.gz`."""
    rows = [[r["id"], f"https://www.airbnb.com/rooms/{r['id']}", r["name"], r["host_id"], r["host_name"],
             r["calculated_host_listings_count"], "Bordeaux, Nouvelle-Aquitaine, France", r["neighbourhood"],
             "", r["latitude"], r["longitude"], r["room_type"], dollars(r["price"]), r["minimum_nights"],
             r["availability_365"], r["number_of_reviews"], r["number_of_reviews_ltm"], r["last_review"],
             r["license"], r["calculated_host_listings_count"], r["reviews_per_month"]] for r in real]
    return _write(path, DETAILED_COLUMNS, rows, gz=True)


def test_19_columns_and_detailed_file_with_dollar_prices(mirror, tmp_path):
    """The same real rows in the 19-column layout (host_profile_id) and in the detailed layout."""
    real = raw_rows(summary_file(mirror, SNAPSHOTS[("bordeaux", "2024-03")]))[:50]
    cols = list(real[0])
    cols19 = cols[:3] + ["host_profile_id"] + cols[3:]
    f19 = _write(tmp_path / "l19.csv", cols19, [[r.get(c, "123") for c in cols19] for r in real])
    snap = Snapshot("nouvelle-aquitaine", "bordeaux", "2024-09-13")
    df19, rej, _, _ = read_listings(f19, snap)
    assert df19.height == 50 and not rej
    assert df19["id"].cast(pl.String).to_list() == [r["id"] for r in real]
    assert df19["instantane"][0] == "2024-09" and df19["date_instantane"][0] == "2024-09-13"

    fgz = write_detailed(tmp_path / "listings.csv.gz", real)
    det, rej, _, _ = read_listings(fgz, snap)
    assert not rej
    joined = df19.select("id", "price", "neighbourhood").join(
        det.select("id", pl.col("price").alias("p2"), pl.col("neighbourhood").alias("n2")), on="id")
    assert joined.height == 50
    priced = joined.filter(pl.col("price").is_not_null())
    assert priced.height > 0
    assert (priced["p2"] == priced["price"] * 10).all()  # "$2,030.00" read as 2030.0
    assert joined["n2"].to_list() == joined["neighbourhood"].to_list()  # neighbourhood_cleansed, not the free text
    assert det.filter(pl.col("price") >= 1000).height > 0  # the thousands separator was understood


def test_both_price_forms_in_one_column(tmp_path):
    header = ["id", "name", "host_id", "neighbourhood", "latitude", "longitude", "room_type", "price",
              "minimum_nights", "calculated_host_listings_count", "availability_365"]
    rows = [["1", "a", "9", "Bordeaux Sud", "44.8", "-0.57", "Entire home/apt", "83", "2", "1", "10"],
            ["2", "b", "9", "Bordeaux Sud", "44.8", "-0.57", "Entire home/apt", "$1,234.00", "2", "1", "10"],
            ["3", "c", "9", "Bordeaux Sud", "44.8", "-0.57", "Entire home/apt", "", "2", "1", "10"],
            ["4", "d", "9", "Bordeaux Sud", "44.8", "-0.57", "Entire home/apt", "sur demande", "2", "1", "10"]]
    df, rej, notes, _ = read_listings(_write(tmp_path / "x.csv", header, rows), Snapshot("r", "c", "2024-03"))
    assert df["price"].to_list() == [83.0, 1234.0, None, None]
    assert any("1 prix illisibles" in n for n in notes)
    # older files lack the licence and the reviews of the last 12 months: null columns, noted
    assert df["license"].null_count() == 4 and df["number_of_reviews_ltm"].null_count() == 4
    assert any("license" in n for n in notes)


def test_bad_rows_are_counted_not_dropped_silently(tmp_path):
    header = ["id", "name", "host_id", "neighbourhood", "latitude", "longitude", "room_type", "price",
              "minimum_nights", "calculated_host_listings_count", "availability_365"]
    ok = ["1117434097342593703", "a", "9", "n", "44.8", "-0.57", "Private room", "50", "1", "1", "0"]
    rows = [ok, ok, ["abc", *ok[1:]], ["", *ok[1:]], ["5", "e", "9", "n", "", "-0.57", "Private room", "1", "1", "1", "0"],
            ["6", "f", "9", "n", "144.8", "-0.57", "Private room", "1", "1", "1", "0"]]
    df, rej, _, _ = read_listings(_write(tmp_path / "x.csv", header, rows), Snapshot("r", "c", "2024-03"))
    assert df["id"].to_list() == [1117434097342593703]
    assert dict(rej) == {"identifiant d'annonce absent ou non numérique": 2, "coordonnées absentes ou invalides": 2,
                         "identifiant en double dans l'instantané": 1}


def test_missing_column_is_named(tmp_path):
    f = _write(tmp_path / "x.csv", ["id", "name", "latitude"], [["1", "a", "44.8"]])
    with pytest.raises(SourceError, match="insideairbnb.*host_id"):
        read_listings(f, Snapshot("r", "c", "2024-03"))


# -- discovery and live mode -------------------------------------------------------------------------
PAGE = """<!DOCTYPE html><html lang="en"><head><title>Get the Data - Inside Airbnb</title></head><body>
<h3>Amsterdam, North Holland, The Netherlands</h3>
<table class="data table table-hover table-condensed amsterdam"><tbody>
<tr><td>11 March, 2024</td><td>Amsterdam</td>
<td><a href="{host}/the-netherlands/north-holland/amsterdam/2024-03-11/data/listings.csv.gz">listings.csv.gz</a></td>
<td>Detailed Listings data</td></tr></tbody></table>
<h3>Bordeaux, Nouvelle-Aquitaine, France</h3>
<h4>23 March, 2024 (<a href="/bordeaux">Explore</a>)</h4>
<table class="data table table-hover table-condensed bordeaux"><thead><tr><th>Date Compiled</th>
<th>Country/City</th><th>File Name</th><th>Description</th></tr></thead><tbody>
<tr><td>23 March, 2024</td><td>Bordeaux</td>
<td><a href="{host}/france/nouvelle-aquitaine/bordeaux/2024-03-23/data/listings.csv.gz" onclick="ga('send', 'event');">listings.csv.gz</a></td>
<td>Detailed Listings data</td></tr>
<tr><td>23 March, 2024</td><td>Bordeaux</td>
<td><a href="{host}/france/nouvelle-aquitaine/bordeaux/2024-03-23/visualisations/listings.csv">listings.csv</a></td>
<td>Summary information and metrics for listings in Bordeaux (good for visualisations).</td></tr>
<tr><td>23 March, 2024</td><td>Bordeaux</td>
<td><a href="{host}/france/nouvelle-aquitaine/bordeaux/2024-03-23/visualisations/neighbourhoods.geojson">neighbourhoods.geojson</a></td>
<td>GeoJSON file of neighbourhoods of the city.</td></tr>
<tr class="archived"><td>11 December, 2021</td><td>Bordeaux</td>
<td><a href="{host}/france/nouvelle-aquitaine/bordeaux/2021-12-11/visualisations/listings.csv">listings.csv</a></td>
<td>Summary information and metrics for listings in Bordeaux (good for visualisations).</td></tr>
</tbody></table>
<h3>Lyon, Auvergne-Rhone-Alpes, France</h3>
<table class="data table table-hover table-condensed lyon"><tbody>
<tr><td>23 March, 2024</td><td>Lyon</td>
<td><a href="{host}/france/auvergne-rhone-alpes/lyon/2024-03-23/visualisations/listings.csv">listings.csv</a></td>
<td>Summary information and metrics for listings in Lyon (good for visualisations).</td></tr>
<tr class="archived"><td>11 December, 2021</td><td>Lyon</td>
<td><a href="{host}/france/auvergne-rhone-alpes/lyon/2021-12-11/visualisations/listings.csv">listings.csv</a></td>
<td>Summary information and metrics for listings in Lyon (good for visualisations).</td></tr>
</tbody></table>
<p><a href="https://insideairbnb.com/data-policies/">Data policies</a></p></body></html>
"""
LIVE = {"nouvelle-aquitaine/bordeaux/2024-03-23": "nouvelle-aquitaine/bordeaux/2024-03",
        "nouvelle-aquitaine/bordeaux/2021-12-11": "nouvelle-aquitaine/bordeaux/2021-12",
        "auvergne-rhone-alpes/lyon/2024-03-23": "auvergne-rhone-alpes/lyon/2024-03",
        "auvergne-rhone-alpes/lyon/2021-12-11": "auvergne-rhone-alpes/lyon/2021-12"}


def test_discover_reads_the_links_in_the_real_format():
    found = discover(PAGE.format(host="https://data.insideairbnb.com"))
    assert [s.key for s in found] == sorted(LIVE)  # France only, archived rows too, one entry per folder
    assert found[Snapshot("nouvelle-aquitaine", "bordeaux", "2024-03-23")] == (
        "https://data.insideairbnb.com/france/nouvelle-aquitaine/bordeaux/2024-03-23/")


@pytest.fixture
def site(tmp_path, mirror):
    """A local copy of insideairbnb.com: the page and the mirror's files under the live paths."""
    root = tmp_path / "site"
    for live, folder in LIVE.items():
        dest = root / "france" / live / "visualisations"
        dest.mkdir(parents=True)
        shutil.copy(summary_file(mirror, folder), dest / "listings.csv")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    (root / "get-the-data").mkdir()
    (root / "get-the-data" / "index.html").write_text(PAGE.format(host=base), encoding="utf-8")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, root
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_live_mode_discovers_downloads_and_parses(site, tmp_path, monkeypatch):
    base, _ = site
    monkeypatch.setattr(SRC, "page_url", f"{base}/get-the-data/")
    raw = tmp_path / "raw"
    ctx = FetchContext(mirror=None, raw_dir=raw, progress=False, download_kwargs={"max_attempts": 1})
    parsed, info = fetch(SRC, ctx)
    snaps = parsed.tables["instantanes"]
    assert dict(snaps.select("dossier", "annonces").iter_rows()) == {
        "auvergne-rhone-alpes/lyon/2021-12-11": 9_020, "auvergne-rhone-alpes/lyon/2024-03-23": 10_113,
        "nouvelle-aquitaine/bordeaux/2021-12-11": 9_471, "nouvelle-aquitaine/bordeaux/2024-03-23": 12_032}
    # online, the exact date is known; the period stays the month
    assert sorted(snaps["date_instantane"]) == ["2021-12-11", "2021-12-11", "2024-03-23", "2024-03-23"]
    assert sorted(parsed.frame["instantane"].unique()) == ["2021-12", "2024-03"]
    assert (raw / "insideairbnb" / "nouvelle-aquitaine_bordeaux_2024-03-23_listings.csv").exists()
    assert (raw / "insideairbnb" / "get-the-data.html").exists()
    assert info.files["nouvelle-aquitaine/bordeaux/2024-03-23"]["url"] == (
        f"{base}/france/nouvelle-aquitaine/bordeaux/2024-03-23/visualisations/listings.csv")


def test_live_detailed_file_on_request(site, tmp_path, monkeypatch, mirror):
    base, root = site
    monkeypatch.setattr(SRC, "page_url", f"{base}/get-the-data/")
    ctx = FetchContext(mirror=None, raw_dir=tmp_path / "raw", progress=False, options={"insideairbnb.fichier": "detaille"},
                       download_kwargs={"max_attempts": 1})
    # no detailed file online: the source fails by name, nothing is kept
    with pytest.raises(SourceError, match="insideairbnb.*data/listings.csv.gz.*HTTP 404"):
        fetch(SRC, ctx)
    assert not list((tmp_path / "raw" / "insideairbnb").glob("*listings.csv.gz"))
    # with the detailed files online, they are read instead of the summaries
    for live, folder in LIVE.items():
        (root / "france" / live / "data").mkdir()
        write_detailed(root / "france" / live / "data" / "listings.csv.gz",
                       raw_rows(summary_file(mirror, folder))[:300])
    parsed, _ = fetch(SRC, ctx)
    assert parsed.frame.height == 4 * 300
    assert parsed.frame["price"].max() >= 1000
    with pytest.raises(SourceError, match="fichier=inconnu"):
        fetch(SRC, FetchContext(mirror=None, raw_dir=tmp_path, options={"insideairbnb.fichier": "inconnu"}))


def test_same_month_keeps_the_latest_and_counts_the_other(mirror, tmp_path):
    f = summary_file(mirror, SNAPSHOTS[("lyon", "2024-03")])
    files = {"auvergne-rhone-alpes/lyon/2024-03-02": f, "auvergne-rhone-alpes/lyon/2024-03-23": f}
    parsed = SRC.parse(files, FetchContext(mirror=None, raw_dir=tmp_path))
    assert parsed.tables["instantanes"]["dossier"].to_list() == ["auvergne-rhone-alpes/lyon/2024-03-23"]
    assert parsed.rejected["instantané remplacé par un plus récent du même mois"] == 10_113
