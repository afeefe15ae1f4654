"""The committed `data/` is exactly what the ETL builds from the mirror: it never drifts from the code."""

from __future__ import annotations

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

# times, bytes that depend on the Parquet writer, and the drop check's previous counts (they depend on
# what the folder held before the run, not on the code and the mirror)
VOLATILE = {"recupere_le", "construit_le", "sha256", "controle_baisse"}


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


@pytest.fixture
def rebuilt(rebuilt_data):
    """The session's full rebuild from the mirror (built once, shared)."""
    return rebuilt_data


@pytest.mark.slow
def test_same_files(rebuilt, data_dir):
    def files(folder):
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "raw" not in p.parts)

    assert files(data_dir) == files(rebuilt)


@pytest.mark.slow
def test_same_tables(rebuilt, data_dir):
    for path in sorted(data_dir.rglob("*.parquet")):
        if "raw" in path.parts:
            continue
        rel = path.relative_to(data_dir)
        try:
            assert_frame_equal(pl.read_parquet(path), pl.read_parquet(rebuilt / rel), rel_tol=1e-9, abs_tol=1e-9)
        except AssertionError as exc:
            raise AssertionError(f"{rel} differs from a rebuild: {exc}") from exc


@pytest.mark.slow
def test_same_bytes(rebuilt, data_dir):
    """A rebuild from the same mirror changes only the manifest's times (issue #16): every mart file has the
    committed bytes, not only the same values (a file rewritten with another row-group layout shows here)."""
    committed = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))["marts"]
    fresh = json.loads((rebuilt / "manifest.json").read_text(encoding="utf-8"))["marts"]
    differ = [rel for name, mart in committed.items() for rel, f in mart["fichiers"].items()
              if fresh[name]["fichiers"][rel]["sha256"] != f["sha256"]]
    assert differ == [], f"rebuilt with other bytes: {differ} (rebuild data/ from the mirror)"


@pytest.mark.slow
def test_same_manifest(rebuilt, data_dir):
    committed = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))
    fresh = json.loads((rebuilt / "manifest.json").read_text(encoding="utf-8"))
    assert _strip(committed) == _strip(fresh)
    # the inputs are the mirror's files, byte for byte
    for name, src in committed["sources"].items():
        for key, f in src["fichiers"].items():
            assert f["sha256"] == fresh["sources"][name]["fichiers"][key]["sha256"], (name, key)


def test_data_stays_small(data_dir):
    size = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file() and "raw" not in p.parts)
    assert size < 30 * 1024 * 1024, f"data/ is {size / 1e6:.1f} MB"
