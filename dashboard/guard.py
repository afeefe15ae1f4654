"""Bounded work: a computation that stalls ends the user's run with a French message, never a hang.

Many officials share one server. A computation that blocks (a lock held by another session, a slow
disk, a pathological extract) must not leave a page spinning for ever: pages run such work through
`call` (or `run_or_stop`), which runs it in a worker thread and waits at most a timeout.

Python cannot kill a thread: work past its timeout is left to finish in the background, logged
with its stack, and listed by `stalled()`. This protects the sessions, not the process: a deadlock
that holds the GIL (as the per-request Python UDF of issue #13 did) freezes every thread, hence no
Python UDF per request (`benchmarks/repro_deadlock.py`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")

#: Seconds a page waits for bounded work (`OBSERVATOIRE_TIMEOUT` overrides it).
DEFAULT_TIMEOUT = float(os.environ.get("OBSERVATOIRE_TIMEOUT", "60"))

_LOGGER = logging.getLogger("observatoire.guard")
_lock = threading.Lock()
_late: dict[int, tuple[str, float]] = {}  # worker thread id -> (what, start), for work past its timeout


class Stalled(TimeoutError):
    """Work did not finish in time. Its message is French, for the user, without server details."""


class Explained(RuntimeError):
    """An expected failure whose message is written for the user (French, no server detail), such
    as a damaged data file (`dashboard.data.DataUnavailable`): `french_errors` shows it as it is."""


def message(what: str, timeout: float) -> str:
    """The sentence shown to the user."""
    from dashboard.fmt import number

    delay = number(timeout, 0 if timeout >= 10 else 1)
    return (f"{what[:1].upper()}{what[1:]} n'a pas abouti en {delay} secondes : le serveur est très "
            "sollicité. Réessayez dans un moment ; si cela se reproduit, signalez-le à l'équipe de l'observatoire.")


def call(fn: Callable[..., T], *args: Any, what: str = "le calcul", timeout: float | None = None,
         **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a worker thread, waited for at most `timeout` seconds.

    Returns its result or re-raises its exception; raises `Stalled` past the timeout. The worker
    carries the session's Streamlit context, so cached loaders work in it (no `st` element there).
    """
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    done = threading.Event()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()
            with _lock:
                late = _late.pop(threading.get_ident(), None)
            if late is not None:
                _LOGGER.warning("%s finished after %.1f s, past its timeout", late[0], time.monotonic() - late[1])

    worker = threading.Thread(target=work, name=f"observatoire-{what}", daemon=True)
    _attach_streamlit_context(worker)
    start = time.monotonic()
    worker.start()
    if not done.wait(timeout):
        with _lock:
            if not done.is_set() and worker.ident is not None:
                _late[worker.ident] = (what, start)
        if not done.is_set():
            frame = sys._current_frames().get(worker.ident or -1)
            stack = "".join(traceback.format_stack(frame)) if frame else "(no stack)"
            _LOGGER.error("%s did not finish within %.0f s; its stack:\n%s", what, timeout, stack)
            raise Stalled(message(what, timeout))
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_or_stop(fn: Callable[..., T], *args: Any, what: str = "le calcul", timeout: float | None = None,
                **kwargs: Any) -> T:
    """For pages: `call`, and past the timeout a French error then the end of this run (`st.stop`)."""
    try:
        return call(fn, *args, what=what, timeout=timeout, **kwargs)
    except Stalled as exc:
        _stop_with(str(exc))


def _stop_with(text: str) -> NoReturn:
    import streamlit as st

    st.error(text, icon=":material/hourglass_disabled:")
    st.stop()
    raise AssertionError("st.stop() returned")  # pragma: no cover


ERROR_TEXT = ("Une erreur inattendue empêche d'afficher cette page (référence {ref}). Réessayez dans un moment "
              "ou choisissez une autre page ; si cela se reproduit, signalez-le à l'équipe de l'observatoire "
              "avec cette référence.")


@contextlib.contextmanager
def french_errors() -> Iterator[None]:
    """The production error page: an unexpected error shows a French sentence and a reference.

    An `Explained` error shows its own message (it says what is wrong and who can fix it).

    The exception, its traceback and its server paths go to the log under that reference, never
    to the browser (with `client.showErrorDetails = "none"` for whatever escapes). Under AppTest
    the exception is raised again after the message, so that page tests still see it.
    """
    start = (time.time(), time.monotonic(), time.thread_time()) if os.environ.get(RUN_TIMES_ENV) else None
    status = "interrompu"  # a rerun or st.stop: not an Exception, passes through
    try:
        yield
        status = "fini"
    except Explained as exc:  # its details went to the log where it was raised
        status = "erreur"
        import streamlit as st

        st.error(str(exc), icon=":material/error:")
    except Exception as exc:
        status = "erreur"
        from streamlit import config
        from streamlit.errors import FragmentHandledException

        if isinstance(exc, FragmentHandledException):
            raise
        ref = uuid.uuid4().hex[:8]
        _LOGGER.exception("unexpected error, reference %s", ref)
        import streamlit as st

        st.error(ERROR_TEXT.format(ref=ref), icon=":material/error:")
        if config.get_option("global.appTest"):
            raise
    finally:
        if start is not None:
            _record_run(start, status)


#: A file to which every script run appends its page, wall time and CPU time (`benchmarks/bench_serve.py`
#: sets it): how long the server takes to run a page, apart from the browser's own time. Unset: nothing.
RUN_TIMES_ENV = "OBSERVATOIRE_RUN_TIMES"


def _record_run(start: tuple[float, float, float], status: str) -> None:
    """Append `<epoch start>\t<page url>\t<wall s>\t<script thread CPU s>\t<status>` to `RUN_TIMES_ENV`'s file."""
    wall, cpu = time.monotonic() - start[1], time.thread_time() - start[2]
    try:
        import streamlit as st

        current = st.session_state.get("page_courante")
        # the default page's `url_path` is "" (the root): its declared path, as the links name it
        page = getattr(current, "url_path", "") or getattr(current, "_url_path", "") or "?"
    except Exception:  # no session (a test outside a run)
        page = "?"
    with _lock, open(os.environ[RUN_TIMES_ENV], "a", encoding="utf-8") as out:
        out.write(f"{start[0]:.3f}\t{page}\t{wall:.4f}\t{cpu:.4f}\t{status}\n")


def stalled() -> list[tuple[str, float]]:
    """Work still running past its timeout: (what, seconds since it started)."""
    now = time.monotonic()
    with _lock:
        return [(what, now - start) for what, start in _late.values()]


def _attach_streamlit_context(thread: threading.Thread) -> None:
    """Give the worker the current session's script context (none outside a Streamlit run)."""
    try:
        from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx
    except ImportError:  # pragma: no cover - Streamlit is a dependency
        return
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is not None:
        add_script_run_ctx(thread, ctx)
