"""Streaming downloads that never replace good data with bad.

A download goes to a temporary file next to its destination. It is retried with exponential
backoff on connection errors, 5xx and 429 (honouring `Retry-After`), skipped when the server
says the file has not changed (ETag / Last-Modified from the previous download), and only
*staged*: the caller validates the temporary file (parses it) and then commits or discards it.
"""

from __future__ import annotations

import email.utils
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests
from tqdm import tqdm

from etl.config import USER_AGENT

RETRY_STATUSES = {429, 500, 502, 503, 504}


class DownloadError(RuntimeError):
    """A download that could not be completed; the message names the file and the problem."""


@dataclass
class Staged:
    """A downloaded file waiting for validation, or the unchanged previous copy."""

    dest: Path
    tmp: Path | None
    url: str
    etag: str | None = None
    last_modified: str | None = None
    size: int = 0
    changed: bool = True
    meta: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """The file to parse: the new temporary file, or the previous copy when unchanged."""
        return self.tmp if self.tmp is not None else self.dest

    def commit(self) -> None:
        """Replace the previous copy by the validated download and remember its validators."""
        if self.tmp is None:
            return
        os.replace(self.tmp, self.dest)
        self.tmp = None
        meta = {
            "url": self.url,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "size": self.size,
            "downloaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        _meta_path(self.dest).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    def discard(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None


def _meta_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".http.json")


def previous_meta(dest: Path) -> dict:
    """Validators (ETag, Last-Modified) recorded by the last successful download of `dest`."""
    path = _meta_path(dest)
    if dest.exists() and path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
    return {}


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a `Retry-After` header: seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def make_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def stage(
    url: str,
    dest: Path,
    *,
    label: str,
    session: requests.Session | None = None,
    timeout: tuple[float, float] = (10.0, 120.0),
    max_attempts: int = 5,
    backoff: float = 1.0,
    max_wait: float = 120.0,
    conditional: bool = True,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Staged:
    """Download `url` to a temporary file next to `dest` and return it staged (not yet in place).

    `label` names the source in every error message. Retries happen on connection errors,
    timeouts, truncated bodies, 5xx and 429; other HTTP errors fail at once.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    session = session or make_session()
    headers = {}
    meta = previous_meta(dest) if conditional else {}
    if meta.get("url") == url:
        if meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]

    last_problem = "aucune tentative"
    for attempt in range(1, max_attempts + 1):
        wait = min(max_wait, backoff * 2 ** (attempt - 1))
        try:
            with session.get(url, headers=headers, stream=True, timeout=timeout) as resp:
                if resp.status_code == 304:
                    return Staged(dest=dest, tmp=None, url=url, etag=meta.get("etag"),
                                  last_modified=meta.get("last_modified"), size=dest.stat().st_size,
                                  changed=False, meta=meta)
                if resp.status_code in RETRY_STATUSES:
                    last_problem = f"HTTP {resp.status_code}"
                    announced = retry_after_seconds(resp.headers.get("Retry-After"))
                    if announced is not None:
                        wait = min(max_wait, announced)
                    raise _Retry(last_problem)
                if resp.status_code >= 400:
                    raise DownloadError(f"{label}: {url} a répondu HTTP {resp.status_code}")
                expected = _expected_length(resp)
                tmp = _stream_to_temp(resp, dest, label=label, total=expected, progress=progress)
                size = tmp.stat().st_size
                if expected is not None and size != expected:
                    tmp.unlink(missing_ok=True)
                    last_problem = f"fichier tronqué : {size} octets reçus sur {expected} annoncés"
                    raise _Retry(last_problem)
                return Staged(dest=dest, tmp=tmp, url=url, etag=resp.headers.get("ETag"),
                              last_modified=resp.headers.get("Last-Modified"), size=size)
        except _Retry:
            pass
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            last_problem = _describe(exc)
        if attempt < max_attempts:
            sleep(wait)
    raise DownloadError(f"{label}: échec du téléchargement de {url} après {max_attempts} tentatives ({last_problem})")


class _Retry(Exception):
    pass


def _expected_length(resp: requests.Response) -> int | None:
    # With a content encoding, Content-Length counts compressed bytes and requests decompresses.
    if resp.headers.get("Content-Encoding"):
        return None
    value = resp.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _stream_to_temp(resp: requests.Response, dest: Path, *, label: str, total: int | None, progress: bool) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh, tqdm(total=total, unit="B", unit_scale=True, desc=label,
                                            disable=not progress or None, leave=False) as bar:
            for chunk in resp.iter_content(chunk_size=1 << 16):
                fh.write(chunk)
                bar.update(len(chunk))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _describe(exc: Exception) -> str:
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connexion interrompue, fichier tronqué"
    if isinstance(exc, requests.Timeout):
        return "délai dépassé"
    return f"erreur de connexion ({type(exc).__name__})"
