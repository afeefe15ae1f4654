"""Streaming downloads that never replace good data with bad.

A download goes to a temporary file next to its destination. It is retried with exponential
backoff on connection errors, 5xx and 429 (honouring `Retry-After`), skipped when the server
says the file has not changed (ETag / Last-Modified from the previous download), and only
*staged*: the caller validates the temporary file (parses it) and then commits or discards it.

Every failure of `requests` (and of the HTTP layers under it) becomes a `DownloadError` whose
French message names the file and the problem, never a traceback. A file also has an overall
deadline proportional to its expected size (`deadline_for`): the per-read timeout alone lets
a server that trickles bytes keep a run alive for ever.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests
import urllib3
from tqdm import tqdm

from etl.config import USER_AGENT
from etl.store import temp_file, write_json

RETRY_STATUSES = {429, 500, 502, 503, 504}

#: Defaults of `stage` (read at call time, so that tests can make them short).
BACKOFF = 1.0  # seconds before the 2nd attempt, doubled at each further one
MAX_WAIT = 120.0  # longest wait between two attempts
#: The overall deadline of one file: DEADLINE_BASE + expected bytes / MIN_RATE; DEADLINE_UNKNOWN
#: when the size is not known (no Content-Length, no previous copy).
DEADLINE_BASE = 60.0
MIN_RATE = 50_000.0  # bytes per second: a slow but working line still passes
DEADLINE_UNKNOWN = 3600.0


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
        write_json(meta, _meta_path(self.dest))

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


def deadline_for(expected: int | None, *, base: float | None = None, min_rate: float | None = None,
                 unknown: float | None = None) -> float:
    """Seconds one file may take: a fixed part plus its expected size at the slowest rate accepted."""
    base = DEADLINE_BASE if base is None else base
    min_rate = MIN_RATE if min_rate is None else min_rate
    if expected is None:
        return DEADLINE_UNKNOWN if unknown is None else unknown
    return base + expected / min_rate


def stage(
    url: str,
    dest: Path,
    *,
    label: str,
    session: requests.Session | None = None,
    timeout: tuple[float, float] = (10.0, 120.0),
    max_attempts: int = 5,
    backoff: float | None = None,
    max_wait: float | None = None,
    deadline_base: float | None = None,
    min_rate: float | None = None,
    deadline_unknown: float | None = None,
    conditional: bool = True,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Staged:
    """Download `url` to a temporary file next to `dest` and return it staged (not yet in place).

    `label` names the source in every error message. Retries happen on connection errors,
    timeouts, truncated bodies, bodies that fail to decode, 5xx and 429; other HTTP errors,
    redirect loops, bad addresses and a missed deadline fail at once.
    """
    backoff = BACKOFF if backoff is None else backoff
    max_wait = MAX_WAIT if max_wait is None else max_wait
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
    # the previous copy's size stands for the expected size when the server does not announce it
    previous_size = (meta or previous_meta(dest)).get("size")

    last_problem = "aucune tentative"
    for attempt in range(1, max_attempts + 1):
        wait = min(max_wait, backoff * 2 ** (attempt - 1))
        started = time.monotonic()
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
                announced_bytes = _announced_length(resp)
                budget_for = announced_bytes if announced_bytes is not None else (
                    int(previous_size) if isinstance(previous_size, int) else None)
                deadline = deadline_for(budget_for, base=deadline_base, min_rate=min_rate, unknown=deadline_unknown)
                tmp = _stream_to_temp(resp, dest, label=label, url=url, total=expected, progress=progress,
                                      deadline=deadline, started=started, budget_for=budget_for,
                                      min_rate=MIN_RATE if min_rate is None else min_rate)
                size = tmp.stat().st_size
                if expected is not None and size != expected:
                    tmp.unlink(missing_ok=True)
                    last_problem = f"fichier tronqué : {size} octets reçus sur {expected} annoncés"
                    raise _Retry(last_problem)
                return Staged(dest=dest, tmp=tmp, url=url, etag=resp.headers.get("ETag"),
                              last_modified=resp.headers.get("Last-Modified"), size=size)
        except _Retry:
            pass
        except RETRYABLE as exc:
            last_problem = describe(exc)
        except FATAL as exc:
            raise DownloadError(f"{label}: échec du téléchargement de {url} ({describe(exc)})") from None
        except OSError as exc:  # writing the temporary file: disk full, permissions
            raise DownloadError(f"{label}: écriture impossible dans {dest.parent} ({exc.strerror or exc})") from None
        if attempt < max_attempts:
            sleep(wait)
    raise DownloadError(f"{label}: échec du téléchargement de {url} après {max_attempts} tentatives ({last_problem})")


class _Retry(Exception):
    pass


#: Failures worth another attempt: the network, a cut or badly encoded body, a silent server.
#: (`SSLError` is a `ConnectionError` but a certificate does not fix itself: see FATAL.)
RETRYABLE: tuple[type[BaseException], ...] = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    requests.Timeout,
    requests.ConnectionError,
)
#: Failures that another attempt would only repeat; caught before RETRYABLE where they overlap.
FATAL: tuple[type[BaseException], ...] = (
    requests.exceptions.SSLError,
    requests.RequestException,  # TooManyRedirects, InvalidURL, MissingSchema, InvalidHeader…
    urllib3.exceptions.HTTPError,  # the layers under requests, should one leak through
    http.client.HTTPException,
)


def _expected_length(resp: requests.Response) -> int | None:
    # With a content encoding, Content-Length counts compressed bytes and requests decompresses.
    if resp.headers.get("Content-Encoding"):
        return None
    return _announced_length(resp)


def _announced_length(resp: requests.Response) -> int | None:
    value = resp.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


class _Watchdog:
    """Cuts the connection of `resp` when the file's deadline passes (a blocked read cannot look at a clock)."""

    def __init__(self, resp: requests.Response, seconds: float):
        self.expired = False
        self._resp = resp
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        self.expired = True
        sock = _socket_of(self._resp)
        try:
            if sock is not None:  # wakes the blocked read up (closing the response would not)
                sock.shutdown(socket.SHUT_RDWR)
            else:
                self._resp.close()
        except OSError:
            pass


def _socket_of(resp: requests.Response) -> socket.socket | None:
    """The socket a streamed response reads from.

    urllib3 2 hands the socket over to the response (`connection.sock` is then None); it sits
    under http.client's buffered reader. Private attributes, hence the fallbacks; the trickle
    test of tests/test_refresh_faults.py fails loudly if they move.
    """
    for path in (("connection", "sock"), ("_fp", "fp", "raw", "_sock")):
        obj: object = resp.raw
        for attr in path:
            obj = getattr(obj, attr, None)
        if isinstance(obj, socket.socket):
            return obj
    return None


def _stream_to_temp(resp: requests.Response, dest: Path, *, label: str, url: str, total: int | None,
                    progress: bool, deadline: float, started: float, budget_for: int | None,
                    min_rate: float) -> Path:
    fd, tmp = temp_file(dest, ".part")
    received = 0
    try:
        with (os.fdopen(fd, "wb") as fh,
              tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=not progress or None,
                   leave=False) as bar,
              _Watchdog(resp, deadline - (time.monotonic() - started)) as watchdog):
            try:
                for chunk in resp.iter_content(chunk_size=1 << 16):
                    if watchdog.expired:
                        break
                    fh.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except Exception:
                if not watchdog.expired:
                    raise
            if watchdog.expired:
                elapsed = time.monotonic() - started
                expected = (f"{_n(budget_for)} octets attendus, au moins {_n(round(min_rate / 1000))} ko/s"
                            if budget_for is not None else "taille inconnue")
                raise DownloadError(
                    f"{label}: délai global dépassé pour {url} : {_n(received)} octets reçus en {elapsed:.0f} s "
                    f"(délai de {deadline:.0f} s pour ce fichier, {expected}) ; le serveur est trop lent ou "
                    "n'envoie le fichier qu'au compte-gouttes"
                )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _n(x: int) -> str:
    return f"{x:,}".replace(",", " ")


def describe(exc: BaseException) -> str:
    """The problem of a failed request, in French, for the message that names the source."""
    kind = type(exc).__name__
    e = requests.exceptions
    if isinstance(exc, e.TooManyRedirects):
        text = "trop de redirections (le serveur renvoie en boucle vers une autre adresse)"
    elif isinstance(exc, e.ContentDecodingError):
        text = "contenu compressé illisible (le corps ne respecte pas le Content-Encoding annoncé)"
    elif isinstance(exc, e.ChunkedEncodingError):
        text = "connexion interrompue, fichier tronqué"
    elif isinstance(exc, e.SSLError):
        text = "échec de la connexion sécurisée (certificat ou TLS)"
    elif isinstance(exc, e.ConnectTimeout):
        text = "délai de connexion dépassé"
    elif isinstance(exc, requests.Timeout):
        text = "délai dépassé (le serveur ne répond plus)"
    elif isinstance(exc, e.ProxyError):
        text = "erreur du proxy"
    elif isinstance(exc, requests.ConnectionError):
        text = "erreur de connexion (serveur injoignable ou connexion coupée)"
    elif isinstance(exc, e.MissingSchema | e.InvalidSchema | e.InvalidURL):
        text = "adresse invalide"
    elif isinstance(exc, e.InvalidHeader):
        text = "en-tête HTTP invalide"
    elif isinstance(exc, urllib3.exceptions.HTTPError | http.client.HTTPException):
        text = "réponse HTTP mal formée"
    else:
        text = "erreur HTTP inattendue"
    return f"{text} ({kind})"
