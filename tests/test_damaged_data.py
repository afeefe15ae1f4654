"""Issue #15, point 6: a damaged data file on the server (a copy of data/ with a file cut in half).

Every page runs without a traceback; a page that needs the damaged file says, in French, which
dataset cannot be read and that the administrator must rebuild the data (the README's section
« Rafraîchir les données »), with no path of the server and no reader's error.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import streamlit as st

from etl.config import ROOT

PAGES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "dashboard" / "pages").glob("*.py"))
#: Pages that read the long table of indicators (figures compared with parents and peers).
READ_INDICATORS = ["dashboard/pages/mon_territoire.py", "dashboard/pages/covoiturage.py"]


@pytest.fixture
def damage(fresh_dir, monkeypatch):
    """Cut one file of a copy of the committed data in half and point the dashboard at the copy."""

    def cut(relative: str) -> Path:
        path = fresh_dir / relative
        body = path.read_bytes()
        path.write_bytes(body[: len(body) // 2])
        return fresh_dir

    monkeypatch.setenv("OBSERVATOIRE_DATA", str(fresh_dir))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield cut
    st.cache_resource.clear()
    st.cache_data.clear()


def texts(at) -> list[str]:
    """Every text the page shows."""
    kinds = ("markdown", "caption", "error", "warning", "info", "success", "title", "header", "subheader", "text")
    return [str(e.value) for kind in kinds for e in getattr(at, kind)]


def mart_title(data_dir: Path, relative: str) -> str:
    marts = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))["marts"]
    return next(m["titre"] for m in marts.values() if relative in m["fichiers"])


def check(at, data_dir: Path, label: str) -> bool:
    """No traceback, no path, no reader's error; True when the page shows our message for `label`."""
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(texts(at))
    assert str(data_dir) not in shown and str(ROOT) not in shown
    assert "polars" not in shown.lower() and "ComputeError" not in shown and "Traceback" not in shown
    ours = [e.value for e in at.error if label in e.value]
    for message in ours:
        assert "reconstruire les données" in message and "« Rafraîchir les données »" in message
    return bool(ours)


@pytest.mark.parametrize("page", PAGES)
def test_damaged_indicators_file(app, damage, page):
    relative = "indicateurs/covoiturage.parquet"
    data_dir = damage(relative)
    label = f"{mart_title(data_dir, relative)} ({relative})"
    at = app(page, niveau="commune", code="33063")
    shown = check(at, data_dir, label)
    if page in READ_INDICATORS:
        assert shown, [e.value for e in at.error]
    elif not shown:  # a page that does not read the long table (the indices read their own mart) runs on
        assert not at.error, [e.value for e in at.error]


def test_damaged_reference_stops_every_page_with_a_message(app, damage):
    data_dir = damage("territoires.parquet")
    label = f"{mart_title(data_dir, 'territoires.parquet')} (territoires.parquet)"
    for page in PAGES:
        at = app(page, niveau="departement", code="33")
        assert check(at, data_dir, label), page


@pytest.mark.parametrize("page", ["dashboard/pages/mon_territoire.py", "dashboard/pages/dictionnaire.py"])
def test_damaged_manifest(app, damage, page):
    data_dir = damage("manifest.json")
    at = app(page, niveau="region", code="75")
    assert check(at, data_dir, "liste des sources et des dates (manifest.json)")


def test_the_page_comes_back_once_the_data_is_rebuilt(app, damage, data_dir):
    relative = "indicateurs/covoiturage.parquet"
    copy = damage(relative)
    at = app("dashboard/pages/covoiturage.py", niveau="epci", code="243300316")
    assert check(at, copy, mart_title(copy, relative))
    (copy / relative).write_bytes((data_dir / relative).read_bytes())  # the administrator rebuilt it
    at = app("dashboard/pages/covoiturage.py", niveau="epci", code="243300316")
    assert not at.exception and not at.error  # a failure is not cached


def test_server_configuration():
    """No error details in the browser, an address that is local unless set, no file watcher."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["showErrorDetails"] == "none"
    assert config["server"]["fileWatcherType"] == "none"
    assert config["server"]["address"] == "127.0.0.1"


def test_absent_reference_is_named_too(app, damage):
    data_dir = damage("catalogue.parquet")  # any file, only to point the dashboard at the copy
    (data_dir / "territoires.parquet").unlink()
    at = app("dashboard/pages/mon_territoire.py", niveau="commune", code="33063")
    assert check(at, data_dir, f"{mart_title(data_dir, 'territoires.parquet')} (territoires.parquet)")


def test_empty_data_folder_names_what_is_missing(app, tmp_path, monkeypatch):
    """A data folder without marts (nor manifest): the file's name stands for the dataset."""
    monkeypatch.setenv("OBSERVATOIRE_DATA", str(tmp_path))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = app(None)
    assert check(at, tmp_path, "« territoires.parquet »")
