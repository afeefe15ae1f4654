"""Finding a territory by name, INSEE code, postal code or SIREN, on the real reference."""

from __future__ import annotations

import polars as pl
import pytest

from dashboard.territory import (
    normalise,
    parents,
    resolve,
    search,
    with_search_names,
)


@pytest.fixture(scope="module")
def index(territoires):
    return with_search_names(territoires)


@pytest.fixture(scope="module")
def postal(data_dir):
    return pl.read_parquet(data_dir / "codes_postaux.parquet")


def first(hits: pl.DataFrame) -> tuple[str, str]:
    return hits["niveau"][0], hits["code"][0]


def test_normalise():
    assert normalise("Saint-Étienne") == normalise("st etienne") == normalise("ST-ETIENNE") == "saint etienne"
    assert normalise("L'Île-d'Yeu") == "l ile d yeu"


def test_name_without_accents_or_hyphens(index, postal):
    assert first(search(index, postal, "st etienne")) == ("commune", "42218")
    assert first(search(index, postal, "saint-étienne")) == ("commune", "42218")
    assert first(search(index, postal, "SAINT ETIENNE")) == ("commune", "42218")


def test_insee_code_keeps_leading_zero(index, postal):
    assert first(search(index, postal, "01001")) == ("commune", "01001")
    assert first(search(index, postal, "2A004")) == ("commune", "2A004")  # Ajaccio
    assert first(search(index, postal, "97101")) == ("commune", "97101")


def test_postal_code_leads_to_lyon(index, postal):
    hits = search(index, postal, "69001")
    assert first(hits) == ("commune", "69123")  # Lyon, by its postal code
    assert ("commune", "69001") in set(zip(hits["niveau"], hits["code"], strict=True))  # Affoux, by its INSEE code
    assert "code postal 69001" in hits["libelle"][0]


def test_epci_by_name_or_siren(index, postal):
    assert first(search(index, postal, "243300316")) == ("epci", "243300316")
    assert ("epci", "243300316") in set(zip(*search(index, postal, "bordeaux metropole").select("niveau", "code"),
                                            strict=True))


def test_departement_and_region(index, postal):
    assert first(search(index, postal, "33")) == ("departement", "33")
    assert first(search(index, postal, "2B")) == ("departement", "2B")
    assert first(search(index, postal, "nouvelle aquitaine")) == ("region", "75")


def test_homonyms_show_their_departement(index, postal):
    assert search(index, postal, "Saint-Martin", limit=500).height > 200  # "Saint-Martin…": 203 communes
    hits = search(index, postal, "sainte colombe", limit=50)
    exact = hits.filter(pl.col("nom") == "Sainte-Colombe")
    assert exact.height == 12  # twelve communes of that name: every label names its département
    labels = exact["libelle"].to_list()
    assert len(set(labels)) == len(labels)
    assert all(f", {d} " in lab for d, lab in zip(exact["code_departement"], labels, strict=True))


def test_nonsense_query(index, postal):
    assert search(index, postal, "xqzwv kjh").height == 0
    assert search(index, postal, "").height == 0
    assert search(index, postal, "99999").height == 0


def test_resolve_and_parents(territoires):
    t = resolve(territoires, "arrondissement", "69383")
    assert t is not None and t.nom == "Lyon 3e Arrondissement"
    assert [(p.niveau, p.code) for p in parents(territoires, t)] == [
        ("commune", "69123"), ("epci", "200046977"), ("departement", "69"), ("region", "84"), ("france", "FR")]
    assert resolve(territoires, "commune", "99999") is None
    assert resolve(territoires, "planete", "33063") is None
    assert resolve(territoires, "departement", "2a").code == "2A"
