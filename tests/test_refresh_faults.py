"""Issue #15: a refresh that never loses data, against a local fault server on 127.0.0.1.

Every fault runs the command line (`etl.__main__.main`, as `python -m etl run` does) on a copy of
the committed data, with the sources pointed at the server, and checks: the exit code, the
French message naming the source, every previous file byte for byte, and no traceback.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from etl import download, registry, store
from etl.__main__ import EXIT_ERRORS, EXIT_LOCKED, EXIT_OK, main
from etl.config import ROOT, data_dir
from tests.fault_server import FaultServer, cut_at_line

INCITATIONS = "incitations-covoiturage/incitations-covoiturage.json"
BNLC = "bnlc/bnlc-.csv"
MOBILITES = "mobilites-durables/nb-trajets-covoiturage_2024_export.csv"


@pytest.fixture
def server(mirror):
    srv = FaultServer(mirror)
    yield srv
    srv.close()


@pytest.fixture
def live(server, monkeypatch):
    """Point the sources these tests use at the fault server; retries without waiting."""
    for name in ("incitations_covoiturage", "mobilites_durables", "bnlc", "contours", "cog_passage"):
        src = registry.sources()[name]
        moved = tuple(replace(r, url=f"{server.url}/{r.mirror}", fallbacks=()) for r in src.resources_)
        monkeypatch.setattr(type(src), "resources_", moved)
    monkeypatch.setattr(download, "BACKOFF", 0.01)
    monkeypatch.setattr(download, "MAX_WAIT", 0.05)
    return server


def cli(capsys, *args: str) -> tuple[int, str]:
    """Run `python -m etl run ARGS --quiet` in this process: (exit code, what it printed)."""
    code = main(["run", *args, "--quiet"])
    out, err = capsys.readouterr()
    text = out + err
    assert "Traceback" not in text, text
    return code, text


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def error_lines(text: str, source: str) -> list[str]:
    """The summary's error lines of a source (`source:` or `source/file:`), not those of its marts."""
    return [line for line in text.splitlines() if re.match(rf"\s*ERREUR : {source}[:/]", line)
            and "non reconstruit" not in line]


def states(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """The summary's tables: source -> state, mart -> state."""
    tables: list[dict[str, str]] = []
    for line in text.splitlines():
        words = line.split()
        if words[:2] in (["source", "état"], ["mart", "état"]):
            tables.append({})
        elif tables and words and not line.startswith(" ") and len(words) > 1:
            tables[-1][words[0]] = words[1]
    return tables[0], tables[1]


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


# -- 2, 3: every failure of the network or of a parser is the source's error -------------------------
FAULTS = [
    ("503", "HTTP 503"),
    ("404", "HTTP 404"),
    ("drop", "erreur de connexion"),
    ("cut", "tronqué"),
    ("cut-no-length", "illisible"),  # truncated JSON: the parser fails, named
    ("bad-gzip", "contenu compressé illisible"),  # ContentDecodingError
    ("redirect-loop", "trop de redirections"),  # TooManyRedirects
    ("html", "illisible"),
    ("trickle", "délai global dépassé"),
]


@pytest.mark.parametrize(("fault", "phrase"), FAULTS, ids=[f for f, _ in FAULTS])
def test_fault_keeps_every_previous_file(live, fresh_dir, capsys, monkeypatch, fault, phrase):
    if fault == "trickle":  # a deadline of 1 s + size at 1 MB/s; the server sends 20 bytes a second
        monkeypatch.setattr(download, "DEADLINE_BASE", 1.0)
        monkeypatch.setattr(download, "MIN_RATE", 1e6)
    live.always[INCITATIONS] = fault
    before = snapshot(fresh_dir)
    code, text = cli(capsys, "incitations_covoiturage", "--out", str(fresh_dir))
    assert code == EXIT_ERRORS
    errors = error_lines(text, "incitations_covoiturage")
    assert errors and phrase in errors[0], text
    assert "avec erreurs" in text and "succès" not in text
    assert snapshot(fresh_dir) == before  # no new file either: no raw copy, no temporary file
    if fault == "trickle":
        assert "octets attendus" in errors[0]  # reported as a deadline for this size, not as a network error


def test_other_sources_go_on(live, fresh_dir, capsys, mirror):
    live.always[INCITATIONS] = "redirect-loop"
    before = snapshot(fresh_dir)
    old = manifest(fresh_dir)
    code, text = cli(capsys, "incitations_covoiturage", "mobilites_durables", "--out", str(fresh_dir))
    assert code == EXIT_ERRORS
    assert "trop de redirections" in error_lines(text, "incitations_covoiturage")[0]
    sources, marts = states(text)
    assert sources == {"incitations_covoiturage": "erreur", "mobilites_durables": "ok"}
    assert marts["covoiturage_annuel"] == "ok"  # rebuilt from the source that answered
    assert marts["incitations_covoiturage"] == "ignoré"
    new = manifest(fresh_dir)
    assert new["sources"]["mobilites_durables"]["origine"] == "live"
    rows = len((mirror / MOBILITES).read_bytes().splitlines()) - 1
    assert new["sources"]["mobilites_durables"]["lignes_lues"] == rows
    assert new["sources"]["incitations_covoiturage"] == old["sources"]["incitations_covoiturage"]
    assert new["marts"]["incitations_covoiturage"] == old["marts"]["incitations_covoiturage"]
    after = snapshot(fresh_dir)
    for rel in old["marts"]["incitations_covoiturage"]["fichiers"]:
        assert after[rel] == before[rel], rel


# -- 1: a drop against the previous good version ----------------------------------------------------
def test_truncated_without_length_is_refused_then_accepted(live, fresh_dir, capsys, mirror):
    """The issue's case: the server closes early without Content-Length; the CSV still parses."""
    full = (mirror / BNLC).read_bytes()
    cut = cut_at_line(full, live.cut_fraction)
    rows_full = pl.read_csv(io.BytesIO(full), infer_schema=False).height
    rows_cut = pl.read_csv(io.BytesIO(cut), infer_schema=False).height
    assert rows_full == 2_473 and rows_cut < rows_full * 0.9
    places_cut = int(pl.read_csv(io.BytesIO(cut), infer_schema=False)["nbre_pl"].str.strip_chars()
                     .cast(pl.Float64, strict=False).round(0).sum())
    live.always[BNLC] = "cut-no-length"
    before = snapshot(fresh_dir)

    code, text = cli(capsys, "bnlc", "--out", str(fresh_dir))
    assert code == EXIT_ERRORS
    error = error_lines(text, "bnlc")[0]
    assert "baisse refusée" in error and "--accepter-baisse bnlc" in error
    assert f"lignes lues 2 473 → {rows_cut:,}".replace(",", " ") in error, error
    after = snapshot(fresh_dir)
    # every previous file as it was; new files only under raw/ for the sources that did answer
    assert {k: after[k] for k in before} == before
    assert all(k.startswith(("raw/contours/", "raw/cog_passage/")) for k in set(after) - set(before)), set(after) - set(before)
    assert not [p for p in (fresh_dir / "raw").rglob("*") if "bnlc" in p.parts and p.is_file()]  # no raw copy
    assert manifest(fresh_dir) == json.loads(before["manifest.json"])

    # the user says the drop is real: the run goes through and the manifest keeps both counts
    code, text = cli(capsys, "bnlc", "--out", str(fresh_dir), "--accepter-baisse", "bnlc")
    assert code == EXIT_OK, text
    assert "baisse acceptée" in text
    entry = manifest(fresh_dir)["sources"]["bnlc"]
    assert entry["lignes_lues"] == rows_cut
    assert entry["mesures"] == {"lignes_lues": rows_cut, "places": places_cut}
    # the previous measures are the committed manifest's (read from the folder copied, not from our output)
    previous = json.loads(before["manifest.json"])["sources"]["bnlc"]
    previous = previous.get("mesures") or {"lignes_lues": previous["lignes_lues"]}
    assert previous["lignes_lues"] == 2_473
    assert entry["controle_baisse"]["precedent"] == previous
    assert entry["controle_baisse"]["acceptee"] is True
    expected = [{"mesure": m, "avant": previous[m], "apres": entry["mesures"][m]} for m in ("lignes_lues", "places")
                if m in previous and entry["mesures"][m] < previous[m] * (1 - registry.sources()["bnlc"].max_drop)]
    assert {"mesure": "lignes_lues", "avant": 2_473, "apres": rows_cut} in expected
    assert entry["controle_baisse"]["baisses"] == expected


def test_a_national_total_that_falls_is_refused(live, fresh_dir, capsys, mirror):
    """Same rows, trips halved: the rows pass, the national total does not. The first run, from the
    mirror, compares too: a rebuild from the same mirror is no drop."""
    raw = (mirror / MOBILITES).read_bytes()
    table = pl.read_csv(io.BytesIO(raw), infer_schema=False, eol_char="\n")
    table = table.rename({c: c.strip() for c in table.columns})
    valeur = table["valeur"].str.strip_chars().cast(pl.Float64)
    total = int(valeur.sum())
    code, text = cli(capsys, "mobilites_durables", "--mirror", str(mirror), "--out", str(fresh_dir))
    assert code == EXIT_OK, text
    entry = manifest(fresh_dir)["sources"]["mobilites_durables"]
    committed = json.loads((data_dir() / "manifest.json").read_text(encoding="utf-8"))
    previous = committed["sources"]["mobilites_durables"]
    assert previous["lignes_lues"] == table.height
    # the committed manifest's measures (the row count alone in a manifest written before they were recorded)
    assert entry["controle_baisse"]["precedent"] == (previous.get("mesures") or {"lignes_lues": table.height})
    assert entry["controle_baisse"]["baisses"] == []
    assert entry["mesures"] == {"lignes_lues": table.height, "trajets": total}

    halved = table.with_columns((valeur / 2).round(1).cast(pl.String).alias("valeur"))
    live.overrides[MOBILITES] = halved.write_csv().encode()
    before = snapshot(fresh_dir)
    code, text = cli(capsys, "mobilites_durables", "--out", str(fresh_dir))
    assert code == EXIT_ERRORS
    error = error_lines(text, "mobilites_durables")[0]
    assert "baisse refusée" in error and "lignes lues" not in error  # the rows did not fall
    assert f"trajets {total:,}".replace(",", " ") in error and "(−50,0 %)" in error, error
    assert snapshot(fresh_dir) == before


def test_unknown_source_to_accept_is_named(fresh_dir, capsys):
    code = main(["run", "bnlc", "--mirror", "--out", str(fresh_dir), "--accepter-baisse", "bnlk"])
    assert code == 2
    assert "bnlk" in capsys.readouterr().err


# -- 4, 5: two runs at once, a run killed -----------------------------------------------------------
HOLDER = textwrap.dedent("""
    import sys
    from dataclasses import replace
    from etl import registry
    from etl.__main__ import main
    src = registry.sources()["incitations_covoiturage"]
    type(src).resources_ = tuple(replace(r, url=sys.argv[1] + "/" + r.mirror, fallbacks=()) for r in src.resources_)
    sys.exit(main(["run", "incitations_covoiturage", "--out", sys.argv[2], "--quiet"]))
""")


def test_second_run_is_refused_and_a_killed_run_leaves_nothing(live, fresh_dir, capsys):
    """A real run blocked on a slow download holds the folder; a second run says who and exits;
    after `kill -9`, the next run takes the lock over, removes the leftovers and succeeds."""
    live.always[INCITATIONS] = "trickle"
    before = snapshot(fresh_dir)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, live.url, str(fresh_dir)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        part = None
        for _ in range(600):  # until the download has started (its temporary file exists)
            part = next((fresh_dir / "raw").rglob(".*.part"), None) if (fresh_dir / "raw").exists() else None
            if part is not None:
                break
            time.sleep(0.1)
        assert part is not None and f".etl-{holder.pid}-" in part.name, "the holder's download did not start"
        assert store.TEMP_RE.match(part.name)

        code, text = cli(capsys, "incitations_covoiturage", "--out", str(fresh_dir))
        assert code == EXIT_LOCKED
        assert f"processus {holder.pid}" in text and "déjà en cours de mise à jour" in text
        assert "sur l'hôte" in text and "commencé le" in text and "commande :" in text
        now = snapshot(fresh_dir)
        assert {k: now[k] for k in before} == before  # the refused run changed nothing
        assert part.exists()  # nor removed the live run's temporary file
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert part.exists() and (fresh_dir / store.LOCK_NAME).exists()  # what kill -9 leaves

    live.always.pop(INCITATIONS)
    code, text = cli(capsys, "incitations_covoiturage", "--out", str(fresh_dir))
    assert code == EXIT_OK, text
    assert f"verrou laissé par un lancement interrompu (processus {holder.pid}" in text
    assert "fichier(s) temporaire(s) laissé(s) par un lancement interrompu" in text and part.name in text
    assert not part.exists()
    assert not (fresh_dir / store.LOCK_NAME).exists()  # released at the end
    assert not [p for p in fresh_dir.rglob("*") if store.TEMP_RE.match(p.name)]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_cleaning_removes_only_our_stale_temporary_files(tmp_path):
    dead = _dead_pid()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            "dead": f".2024-01.csv.gz.etl-{dead}-abcd1234.tmp",
            "alive": f".manifest.json.etl-{alive.pid}-abcd1234.tmp",
            "alive_old": f".bnlc-.csv.etl-{alive.pid}-zz99aa11.part",
            "not_ours": ".bnlc-.csv.x7k2m9q1.part",
            "plain": "notes.tmp",
        }
        sub = tmp_path / "raw" / "rpc"
        sub.mkdir(parents=True)
        for key, name in names.items():
            (sub / name).write_text(key)
        old = time.time() - store.STALE_AFTER_S - 60
        os.utime(sub / names["alive_old"], (old, old))
        os.utime(sub / names["not_ours"], (old, old))
        folder = Path(tempfile.mkdtemp(prefix=f"{store.TEMP_DIR_PREFIX}{dead}-bpe-"))
        (folder / "data.csv").write_text("x")
        live_folder = Path(tempfile.mkdtemp(prefix=store.temp_dir_prefix("sirene")))  # this process's: kept
        try:
            removed = store.clean_stale_temps(tmp_path)
            # (other stale folders of ours in the system's temporary folder may go too)
            assert {p.name for p in removed if p.parent == sub or p == folder} == {
                names["dead"], names["alive_old"], folder.name}
            assert sorted(p.name for p in sub.iterdir()) == sorted([names["alive"], names["not_ours"], names["plain"]])
            assert not folder.exists() and live_folder.exists()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(live_folder, ignore_errors=True)
    finally:
        alive.kill()
        alive.wait()


def test_temporary_names_are_unique(tmp_path):
    """Two writers of one file at once (two runs, the simulated registry's months) never share a name."""
    from etl.simulate_rpc import write_month

    dest = tmp_path / "rpc-simule" / "2024-01.csv.gz"
    with store.atomic_path(dest) as a, store.atomic_path(dest) as b:
        assert a != b
        assert store.TEMP_RE.match(a.name) and f".etl-{os.getpid()}-" in a.name
        a.write_text("a")
        b.write_text("b")
    assert dest.read_text() == "a"  # the last to finish wins, whole
    frames = [pl.DataFrame({'"x"': [str(i)] * 1000}) for i in range(2)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def write(frame):
        try:
            barrier.wait()
            write_month(frame, dest)
        except BaseException as exc:  # the fixed name `2024-01.csv.gz.tmp` failed here
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f,)) for f in frames]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert pl.read_csv(dest, infer_schema=False).height == 1000
    assert sorted(p.name for p in dest.parent.iterdir()) == ["2024-01.csv.gz"]


def test_unreadable_manifest_is_an_error_not_an_empty_one(fresh_dir, capsys, mirror):
    (fresh_dir / "manifest.json").write_bytes(b'{"sources": {"bnlc": ')
    before = snapshot(fresh_dir)
    code = main(["run", "incitations_covoiturage", "--mirror", str(mirror), "--out", str(fresh_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "manifeste illisible" in err and "Traceback" not in err
    assert snapshot(fresh_dir) == before


def test_shared_raw_cache_is_locked_and_cleaned(tmp_path):
    """A data folder whose raw/ is a link to a cache shared between folders (etl.publish): a killed run's
    temporary file in the cache is removed, and the cache is locked while the run lasts."""
    from etl.runner import run

    shared = tmp_path / "raw"
    (shared / "bnlc").mkdir(parents=True)
    leftover = shared / "bnlc" / f".bnlc.csv.etl-{_dead_pid()}-abcd1234.part"
    leftover.write_bytes(b"id_lieu,nom_lieu\n")
    out = tmp_path / "data-1"
    out.mkdir()
    (out / "raw").symlink_to(Path("..") / "raw")
    holder = store.acquire_lock(shared)  # another run into another folder, on the same cache
    try:
        with pytest.raises(store.FolderLocked, match=str(shared)):
            run(["incitations_covoiturage"], out_dir=out, mirror=tmp_path / "empty", progress=False)
    finally:
        store.release_lock(holder)
    assert leftover.exists()  # nothing touched while locked out
    report = run(["incitations_covoiturage"], out_dir=out, mirror=tmp_path / "empty", progress=False)
    assert not leftover.exists()
    assert any(leftover.name in n for n in report.notes), report.notes
    assert any("incitations_covoiturage" in e and "absent du miroir" in e for e in report.errors())
