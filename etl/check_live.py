"""`python -m etl check-live [SOURCE ...]`: a dry run before a real refresh, for users with internet.

For each source it asks only what is needed to know whether a live run would work: the discovery
JSON or page of the sources that find their files online, then the first kilobytes of each file
(an HTTP Range request, or a streamed read stopped early; a gzip head is inflated, a zip is read
through its central directory with Range requests). The head is compared with the columns or
fields the source's parser requires (`Source.format_of`, the same declaration the parser reads).
One line per source:

- `ok`: reachable, in the expected format (new columns the parser ignores are listed);
- `format changé`: the missing (or, for a positional layout, new) columns or fields;
- `injoignable`: the HTTP status or the network error;
- `inchangé depuis le <date>`: the server says the file is the one the last run downloaded
  (ETag / Last-Modified of the copy in `<out>/raw/`), so its format was checked then.

Nothing is downloaded in full and nothing in `<out>` changes except the record of the check
(`<out>/raw/check-live.json`, read by `python -m etl list`). Offline, every source answers
`injoignable` within a bounded time: one attempt per request, short timeouts, a total deadline,
and a host that refused a connection is not asked again.
"""

from __future__ import annotations

import email.utils
import io
import json
import re
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from etl import download, registry
from etl.formats import HEAD_BYTES, decompress_head, zip_data_member
from etl.sources.base import FetchContext, OptionError, Resource, Source, SourceError
from etl.store import write_json

STATE_FILE = Path("raw") / "check-live.json"
OK, CHANGED, UNREACHABLE, UNCHANGED, NOT_APPLICABLE = "ok", "format changé", "injoignable", "inchangé", "sans objet"
#: Statuses that let `check-live` exit 0.
GOOD = {OK, UNCHANGED, NOT_APPLICABLE}
#: Seconds: to connect, to wait for bytes, and for the whole check.
CONNECT_TIMEOUT, READ_TIMEOUT, TOTAL_TIMEOUT = 5.0, 20.0, 180.0
#: A zip read through Range requests never takes more blocks than this.
MAX_RANGE_REQUESTS = 12


class CheckSession(requests.Session):
    """A session with a total deadline, capped timeouts, and no second try on a host that refused.

    The deadline bounds the whole check offline or against a slow server; a host whose
    connection failed answers the same error at once for every later file.
    """

    def __init__(self, deadline: float, connect: float = CONNECT_TIMEOUT, read: float = READ_TIMEOUT) -> None:
        super().__init__()
        self.headers.update(download.make_session().headers)
        self.deadline, self.connect, self.read = deadline, connect, read
        self.dead: dict[str, str] = {}

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise requests.Timeout("délai total de la vérification dépassé")
        host = urlparse(str(url)).netloc
        if host in self.dead:
            raise requests.ConnectionError(self.dead[host])
        kwargs["timeout"] = (min(self.connect, remaining), min(self.read, remaining))
        try:
            return super().request(method, url, *args, **kwargs)
        except requests.ConnectionError as exc:
            self.dead[host] = network_problem(exc)
            raise


def network_problem(exc: BaseException) -> str:
    """A network error in a few words (no traceback), with the cause the system gave."""
    if isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectionError):
        return f"délai dépassé ({exc})" if "total" in str(exc) else "délai dépassé"
    text = str(exc)
    for pattern, words in ((r"Name or service not known|nodename nor servname|getaddrinfo failed|"
                            r"Temporary failure in name resolution|No address associated", "nom d'hôte introuvable (DNS)"),
                           (r"Connection refused", "connexion refusée"),
                           (r"timed out", "délai de connexion dépassé"),
                           (r"Network is unreachable", "réseau inaccessible"),
                           (r"certificate|SSL", "erreur TLS")):
        if re.search(pattern, text):
            return words
    if text.startswith(("nom d'hôte", "connexion", "délai", "réseau", "erreur")):  # already described (a dead host)
        return text
    return f"erreur de connexion ({type(exc).__name__})"


# -- one file -----------------------------------------------------------------------------------
@dataclass
class FileCheck:
    key: str
    url: str
    status: str
    detail: str = ""
    since: str | None = None  # for "inchangé": the date of the version last downloaded
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class _Head:
    status: int
    headers: Any
    data: bytes
    total: int | None
    ranged: bool


def _get_head(session: requests.Session, url: str, headers: dict[str, str], start: int = 0,
              size: int = HEAD_BYTES) -> _Head:
    """The first `size` bytes from `start` (a Range request; a server that ignores it is read and cut)."""
    wanted = {**headers, "Range": f"bytes={start}-{start + size - 1}"}
    with session.get(url, headers=wanted, stream=True) as resp:
        if resp.status_code >= 300:
            return _Head(resp.status_code, resp.headers, b"", None, False)
        ranged = resp.status_code == 206
        data = bytearray()
        for chunk in resp.iter_content(chunk_size=16 * 1024):
            data += chunk
            if len(data) >= (size if ranged else start + size):
                break
        if not ranged:  # the whole file from its start: keep the asked window
            data = data[start:start + size]
        total = None
        content_range = resp.headers.get("Content-Range", "")
        if ranged and "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            total = int(content_range.rsplit("/", 1)[1])
        elif not ranged and not resp.headers.get("Content-Encoding"):
            length = resp.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
        return _Head(resp.status_code, resp.headers, bytes(data[:size]), total, ranged)


class _RangeFile(io.RawIOBase):
    """A remote file read by 64 KB blocks of HTTP Range requests: enough for `zipfile` to find a member."""

    def __init__(self, session: requests.Session, url: str, size: int, first: bytes) -> None:
        super().__init__()
        self.session, self.url, self.size, self.pos = session, url, size, 0
        self.blocks: dict[int, bytes] = {0: first} if len(first) == HEAD_BYTES or len(first) == size else {}
        self.requests = 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def _block(self, index: int) -> bytes:
        if index not in self.blocks:
            if self.requests >= MAX_RANGE_REQUESTS:
                raise OSError("trop de requêtes partielles pour lire l'archive")
            self.requests += 1
            head = _get_head(self.session, self.url, {}, index * HEAD_BYTES)
            if head.status >= 300 or not head.ranged:
                raise OSError(f"requête partielle refusée (HTTP {head.status})")
            self.blocks[index] = head.data
        return self.blocks[index]

    def read(self, n: int = -1) -> bytes:
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        out = bytearray()
        while self.pos < end:
            block = self._block(self.pos // HEAD_BYTES)
            offset = self.pos % HEAD_BYTES
            piece = block[offset: offset + (end - self.pos)]
            if not piece:
                break
            out += piece
            self.pos += len(piece)
        return bytes(out)

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _zip_head(session: requests.Session, url: str, head: _Head) -> bytes:
    """The first bytes of the data member of a remote zip (the member the parser would read)."""
    if head.ranged and head.total:
        remote = _RangeFile(session, url, head.total, head.data)
        with zipfile.ZipFile(remote) as zf:
            member = zip_data_member(zf.infolist())
            with zf.open(member) as fh:
                return fh.read(HEAD_BYTES)
    # no Range support: only the first member, from the bytes already read
    data = head.data
    name_len, extra_len = int.from_bytes(data[26:28], "little"), int.from_bytes(data[28:30], "little")
    info = zipfile.ZipInfo(data[30:30 + name_len].decode("utf-8", errors="replace"))
    info.file_size = int.from_bytes(data[22:26], "little")
    try:
        first_is_data = zip_data_member([info]) is info
    except ValueError:
        first_is_data = False
    if not first_is_data:
        raise OSError("le serveur n'accepte pas les requêtes partielles (Range) et le fichier de données "
                      "n'est pas au début de l'archive")
    body = data[30 + name_len + extra_len:]
    method = int.from_bytes(data[8:10], "little")
    return zlib.decompressobj(-zlib.MAX_WBITS).decompress(body) if method == 8 else body


def _http_date(value: str | None) -> str | None:
    """An HTTP date -> ISO date ("2026-03-10"), or None."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError):
        return None


def check_file(session: requests.Session, source: Source, r: Resource, previous: dict[str, Any],
               options: dict[str, Any]) -> FileCheck:
    """Reach one file (its fallbacks when the address fails) and compare its head with its format."""
    failures: list[FileCheck] = []
    for url in (r.url, *r.fallbacks):
        result = _check_url(session, source, r, url, previous, options)
        if result.status != UNREACHABLE:
            if failures:
                result.detail = "; ".join(x for x in (result.detail, f"adresse principale injoignable "
                                                      f"({failures[0].detail}), adresse de repli utilisée : {url}") if x)
            return result
        failures.append(result)
    first = failures[0]
    if len(failures) > 1:
        first.detail += "".join(f" ; adresse de repli : {f.detail}" for f in failures[1:])
    return first


def _check_url(session: requests.Session, source: Source, r: Resource, url: str, previous: dict[str, Any],
               options: dict[str, Any]) -> FileCheck:
    headers = {}
    same = previous.get("url") == url
    if same and previous.get("etag"):
        headers["If-None-Match"] = previous["etag"]
    if same and previous.get("last_modified"):
        headers["If-Modified-Since"] = previous["last_modified"]
    since = _http_date(previous.get("last_modified")) or (previous.get("downloaded_at") or "")[:10] or None
    try:
        head = _get_head(session, url, headers)
    except (requests.RequestException, OSError) as exc:
        return FileCheck(r.key, url, UNREACHABLE, network_problem(exc))
    if head.status == 304:
        return FileCheck(r.key, url, UNCHANGED, since=since, etag=previous.get("etag"),
                         last_modified=previous.get("last_modified"))
    if head.status >= 300:
        return FileCheck(r.key, url, UNREACHABLE, f"HTTP {head.status}")
    etag, modified = head.headers.get("ETag"), head.headers.get("Last-Modified")
    if same and ((etag and etag == previous.get("etag")) or (not etag and modified
                                                                and modified == previous.get("last_modified"))):
        return FileCheck(r.key, url, UNCHANGED, since=since, etag=etag, last_modified=modified)
    fmt = source.format_of(r.key, options)
    if fmt is None:
        return FileCheck(r.key, url, OK, "joignable (format non vérifié)", etag=etag, last_modified=modified)
    try:
        data = _zip_head(session, url, head) if head.data[:4] == b"PK\x03\x04" else head.data
        data = decompress_head(data)
    except requests.RequestException as exc:
        return FileCheck(r.key, url, UNREACHABLE, network_problem(exc))
    except OSError as exc:
        return FileCheck(r.key, url, UNREACHABLE, str(exc))
    except (zipfile.BadZipFile, zlib.error, ValueError) as exc:
        return FileCheck(r.key, url, CHANGED, f"début de fichier illisible ({exc})")
    verdict = fmt.check_head(data)
    status = OK if verdict.ok else CHANGED
    return FileCheck(r.key, url, status, verdict.describe(), etag=etag, last_modified=modified)


# -- one source ---------------------------------------------------------------------------------
@dataclass
class SourceCheck:
    name: str
    status: str
    detail: str = ""
    since: str | None = None
    files: list[FileCheck] = field(default_factory=list)
    discovery: dict[str, Any] | None = None
    seconds: float = 0.0

    def line(self) -> str:
        """The line printed for this source."""
        status = self.status
        if status == UNCHANGED and self.since:
            status = f"inchangé depuis le {_french(self.since)}"
        return f"{self.name:<26}{status}" + (f" : {self.detail}" if self.detail else "")

    def record(self, when: str) -> dict[str, Any]:
        """What the state file keeps (read by `python -m etl list`)."""
        return {"verifie_le": when, "etat": self.status, "detail": self.detail, "depuis": self.since,
                "urls": [f.url for f in self.files], **({"decouverte": self.discovery} if self.discovery else {})}


def _french(iso: str) -> str:
    from etl.export import french_date

    try:
        return french_date(iso)
    except ValueError:
        return iso


def check_source(source: Source, session: requests.Session, raw_dir: Path, options: dict[str, Any]) -> SourceCheck:
    """Discover the files of `source` (when it does), then check each; one status for the source."""
    start = time.monotonic()
    if source.archive:
        return SourceCheck(source.name, NOT_APPLICABLE, "archive figée, lue dans le miroir (pas de fichier en ligne "
                                                        "dans ce format)")
    with tempfile.TemporaryDirectory(prefix="check-live-") as tmp:
        # discovery writes its JSON or page under a throwaway folder: the real raw copies stay as they are
        ctx = FetchContext(mirror=None, raw_dir=Path(tmp), options=options, session=session, progress=False,
                           download_kwargs={"max_attempts": 1})
        try:
            resources = source.resources(ctx)
        except OptionError:  # a usage error, not the source's: the command stops and says it
            raise
        except SourceError as exc:
            status = UNREACHABLE if isinstance(exc.__cause__, download.DownloadError) else CHANGED
            return SourceCheck(source.name, status, _short(str(exc), source.name), seconds=time.monotonic() - start)
    discovery = ctx.discovery.get(source.name)
    files = [check_file(session, source, r, download.previous_meta(raw_dir / source.name / r.local_name), options)
             for r in resources]
    result = _aggregate(source.name, files, discovery)
    result.seconds = time.monotonic() - start
    return result


def _short(text: str, name: str) -> str:
    return text.removeprefix(f"{name}: ")


def _aggregate(name: str, files: list[FileCheck], discovery: dict[str, Any] | None) -> SourceCheck:
    by_status: dict[str, list[FileCheck]] = {}
    for f in files:
        by_status.setdefault(f.status, []).append(f)
    notes = []
    if discovery and discovery.get("repli_car"):  # the list was read in a degraded way: the source is not ok
        cause = UNREACHABLE if discovery.get("repli_cause") == UNREACHABLE else CHANGED
        notes.append(discovery["resume"])
        by_status.setdefault(cause, [])
    for status in (UNREACHABLE, CHANGED):
        if status in by_status:
            bad = by_status[status]
            groups: dict[str, list[FileCheck]] = {}
            for f in bad:  # one line per problem, with the address of its first file
                groups.setdefault(f.detail, []).append(f)
            details = []
            for problem, fs in list(groups.items())[:3]:
                where = fs[0].url + (f" et {len(fs) - 1} autre(s)" if len(fs) > 1 else "")
                count = f"{len(fs)} fichier(s) sur {len(files)} : " if len(files) > 1 else ""
                details.append(f"{count}{problem} ({where})")
            if len(groups) > 3:
                details.append(f"et {len(groups) - 3} autre(s) problème(s)")
            return SourceCheck(name, status, " ; ".join(notes + details), files=files, discovery=discovery)
    if files and len(by_status.get(UNCHANGED, [])) == len(files):
        since = max((f.since for f in files if f.since), default=None)
        return SourceCheck(name, UNCHANGED, since=since, files=files, discovery=discovery)
    details = sorted({f.detail for f in files if f.detail})
    if len(files) > 1:
        details.insert(0, f"{len(files)} fichiers")
    if discovery:
        details.append(discovery["resume"])
    return SourceCheck(name, OK, " ; ".join(details), files=files, discovery=discovery)


# -- the command --------------------------------------------------------------------------------
def default_sources(options: dict[str, Any]) -> list[str]:
    """The sources a `run --all` with these options would fetch (optional ones only when chosen)."""
    optional = {s for m in registry.marts().values() for s in m.optional_sources}
    return [n for n, s in registry.sources().items() if n not in optional or s.selected(options)]


def check(names: list[str] | None, *, out_dir: Path, options: dict[str, Any] | None = None,
          total_timeout: float = TOTAL_TIMEOUT, session: CheckSession | None = None) -> list[SourceCheck]:
    """Check the sources (all a run would fetch by default); record the result in `<out>/raw/check-live.json`."""
    options = options or {}
    sources = registry.sources()
    unknown = [n for n in names or [] if n not in sources]
    if unknown:
        raise SourceError(f"source(s) inconnue(s) : {', '.join(unknown)} (voir `python -m etl list`)")
    session = session or CheckSession(time.monotonic() + total_timeout)
    results = []
    for name in names or default_sources(options):
        results.append(check_source(sources[name], session, Path(out_dir) / "raw", options))
    save(results, Path(out_dir))
    return results


def save(results: list[SourceCheck], out_dir: Path) -> None:
    """Merge the results into the state file (sources not checked this time keep their record)."""
    path = out_dir / STATE_FILE
    state = read_state(out_dir)
    when = datetime.now(UTC).isoformat(timespec="seconds")
    state.update({r.name: r.record(when) for r in results if r.status != NOT_APPLICABLE})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(state, path)


def read_state(out_dir: Path) -> dict[str, Any]:
    """The last check of each source, or {}."""
    path = Path(out_dir) / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def summary(results: list[SourceCheck], seconds: float) -> str:
    """The closing line: counts per status, and what to do next."""
    counts = {s: sum(1 for r in results if r.status == s) for s in (OK, UNCHANGED, CHANGED, UNREACHABLE)}
    parts = [f"{n} {label}" for label, n in (("ok", counts[OK]), ("inchangée(s)", counts[UNCHANGED]),
                                             ("au format changé", counts[CHANGED]),
                                             ("injoignable(s)", counts[UNREACHABLE])) if n]
    verdict = ("toutes les sources vérifiées peuvent être rafraîchies" if all(r.status in GOOD for r in results)
               else "une actualisation garderait, pour les sources en échec, les données précédentes")
    return f"{len(results)} source(s) : {', '.join(parts) or 'aucune vérifiée'} — {verdict} ({seconds:.1f} s)"
