"""The warm-up started by the first script run reads every shared table once, in the background."""

from __future__ import annotations

import pytest

from dashboard import data, valeurs, warm

CACHED = [data._territoires, data._territory_names, data._indicateurs, data._indicateurs_of, data._catalogue,
          data._codes_postaux, data._geo, data._features, data._table, valeurs._current, valeurs._index_of]


def test_warm_fills_the_caches_the_pages_read(data_dir, monkeypatch):
    monkeypatch.setenv("OBSERVATOIRE_DATA", str(data_dir))
    for f in CACHED:
        f.clear()
    assert warm.warm() == []

    def no_read(*args, **kwargs):
        raise AssertionError("read from disk after the warm-up")

    monkeypatch.setattr(data, "_read", no_read)
    # what the landing page and the maps read first now comes from the caches
    assert data.territoires().height > 36_000
    assert len(data.features("departement")) == 101
    assert data.indicateurs_of("str_")["indicateur"].str.starts_with("str_").all()
    assert valeurs.current().height > 0
    assert len(data.territory_names()) == data.territoires().height


def test_a_broken_folder_is_logged_not_raised(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OBSERVATOIRE_DATA", str(tmp_path))
    failed = warm.warm()  # an empty folder: what cannot be read is named (some loaders answer "nothing")
    assert {"territoires", "catalogue", "carte des départements"} <= set(failed)
    assert "préchargement de « territoires » impossible" in caplog.text


@pytest.mark.parametrize("switch, started", [("0", False), ("1", True)])
def test_start_once_per_version_unless_turned_off(data_dir, monkeypatch, switch, started):
    monkeypatch.setenv("OBSERVATOIRE_DATA", str(data_dir))
    monkeypatch.setenv(warm.SWITCH, switch)
    warm._started.clear()
    first, second = warm.start(), warm.start()
    assert (first is not None) == started and first is second  # one thread per data version and process
    if first is not None:
        assert first.name == "warm-data"
        first.join(timeout=600)
