"""What the pages say when data are missing: what, since when, and the README section (no command line)."""

from __future__ import annotations

import shutil

import pytest
import streamlit as st

from dashboard import freshness
from etl.export import french_date
from etl.store import read_manifest

MANIFEST = {
    "sources": {
        "bnlc": {"origine": "miroir", "recupere_le": "2026-11-30T16:21:56+00:00"},
        "rpc": {"origine": "live", "recupere_le": "2026-12-02T08:00:00+00:00"},
        "insideairbnb": {"origine": "live", "recupere_le": "2026-12-01T09:30:00+00:00"},
    },
    "marts": {"a": {"construit_le": "2026-11-29T10:00:00+00:00"}, "b": {"construit_le": "2026-11-30T17:00:00+00:00"}},
}


def test_since_says_when_and_how():
    assert freshness.since(MANIFEST, ["rpc", "insideairbnb"]) == "dernière récupération en ligne le 2 décembre 2026"
    assert freshness.since(MANIFEST, ["bnlc"]) == ("aucune récupération en ligne ; données construites le 30 novembre "
                                                   "2026 à partir de la copie hors ligne des sources")
    # a source never fetched: the date of the data folder (its latest mart)
    assert freshness.since(MANIFEST, ["bpe"]).endswith("construites le 30 novembre 2026 à partir de la copie hors "
                                                       "ligne des sources")
    assert freshness.since({"sources": {}, "marts": {}}, ["bpe"]).startswith("aucune récupération en ligne, et aucune")
    sentence = freshness.missing_sentence("Les comptages réels manquent", MANIFEST, ["bpe"])
    assert sentence.endswith("Pour les obtenir, suivre la section « Rafraîchir les données » du fichier README du "
                             "projet.")


def test_vtc_estimate_says_what_is_missing_since_when(app, data_dir):
    at = app("dashboard/pages/vtc_taxis.py", niveau="commune", code="06088")
    warning = next(w.value for w in at.warning if "Estimation, pas une mesure" in w.value)
    manifest = read_manifest(data_dir)
    assert "bpe" not in manifest["sources"]  # the embedded data have no current BPE: the page says since when
    built = max(m["construit_le"] for m in manifest["marts"].values())
    assert f"Les comptages réels de la BPE actuelle manquent : aucune récupération en ligne ; données construites le " \
           f"{french_date(built)}" in warning
    assert "« Rafraîchir les données »" in warning and "python -m" not in warning


@pytest.fixture
def without(fresh_dir, monkeypatch):
    """The committed marts without some folders, as a data folder where a domain was never built."""
    def remove(*folders: str):
        for folder in folders:
            shutil.rmtree(fresh_dir / folder)
        monkeypatch.setenv("OBSERVATOIRE_DATA", str(fresh_dir))
        st.cache_resource.clear()
        st.cache_data.clear()
        return read_manifest(fresh_dir)
    yield remove
    st.cache_resource.clear()
    st.cache_data.clear()


def test_pages_without_their_data_point_to_the_readme(app, without):
    manifest = without("covoiturage", "locations")
    at = app("dashboard/pages/covoiturage.py", niveau="commune", code="33063")
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    since = freshness.since(manifest, ["rpc", "bnlc", "incitations_covoiturage", "mobilites_durables"])
    assert f"Les données de covoiturage manquent dans ce dossier de données : {since}." in text
    assert "Rafraîchir les données" in text and "python -m" not in text
    at = app("dashboard/pages/locations_courte_duree.py", niveau="commune", code="33063")
    assert not at.exception
    error = " ".join(e.value for e in at.error)
    assert f"Les annonces Inside Airbnb manquent dans ce dossier de données : {freshness.since(manifest, ['insideairbnb'])}" \
           in error
    assert "python -m" not in error
