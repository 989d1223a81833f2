"""The socket table of this process, served to ``emutcp ss`` in other processes.

Theory of operation
-------------------
A kernel lists every TCP socket of the machine in one place (``ss -tani``
reads it over netlink).  emutcp's sockets live in the processes that use
them, so each process publishes its own table: the first time a real-UDP
endpoint opens, ``register`` starts one daemon thread that listens on a Unix
socket ``RUNTIME_DIR/<pid>.sock``; a client that connects gets one JSON
document (``{"pid", "command", "sockets": [...]}``) and EOF.  ``emutcp ss``
connects to every ``*.sock`` there and merges what they answer.

* Where: ``$EMUTCP_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/emutcp``, else
  ``/tmp/emutcp-<uid>``.  The directory is created mode 0700 and each socket
  file is chmod 0600, so only the same user can read the tables.
* Off: ``EMUTCP_NO_SS=1`` in the environment; nothing is created.
* Nothing stale: the file is removed at exit (``atexit``); a process killed
  with SIGKILL cannot, so whoever next looks (``emutcp ss``, or another
  process starting its own table) removes every socket file whose process is
  gone.  After ``fork`` the child serves its own table under its own pid.
* Consistency: the snapshot is read from the server thread while the trio
  thread runs; each field is read atomically under the GIL, and a table that
  changed size mid-iteration is simply read again.  It is a display, like
  ``ss``, not a transaction.

Registered endpoints are held weakly: one that closed drops out of the table.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import socket
import sys
import tempfile
import threading
import time
import weakref
from typing import Any

ENV_OFF = "EMUTCP_NO_SS"
ENV_DIR = "EMUTCP_RUNTIME_DIR"
SUFFIX = ".sock"


def runtime_dir() -> str:
    """The per-user directory that holds every emutcp process's table socket."""
    explicit = os.environ.get(ENV_DIR)
    if explicit:
        return explicit
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return os.path.join(xdg, "emutcp")
    return os.path.join(tempfile.gettempdir(), f"emutcp-{os.getuid()}")


def enabled() -> bool:
    return os.environ.get(ENV_OFF, "").strip().lower() not in ("1", "yes", "true", "on")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _pid_of(name: str) -> int | None:
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else ""
    return int(stem) if stem.isdigit() else None


def sweep(directory: str) -> None:
    """Remove the socket files of processes that are gone (SIGKILL leaves them)."""
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            pid = _pid_of(name)
            if pid is not None and pid != os.getpid() and not _alive(pid):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))


def _addr(a: Any) -> str:
    if not a:
        return "*:*"
    host, port = a[0], a[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _command() -> str:
    argv = [os.path.basename(sys.argv[0]), *sys.argv[1:]] if sys.argv and sys.argv[0] else []
    if argv[:1] == ["__main__.py"]:
        argv[0] = "emutcp"
    return " ".join(argv)[:120]


class _Table:
    """The registered endpoints of this process and the thread serving them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._endpoints: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._pid: int | None = None
        self._server: socket.socket | None = None
        self.path: str | None = None

    def register(self, endpoint: Any, clock_offset: float) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child
                self._endpoints = weakref.WeakKeyDictionary()
                self._start()
            self._endpoints[endpoint] = clock_offset

    def _start(self) -> None:
        if self._server is not None:  # inherited from the parent: not ours to serve
            with contextlib.suppress(OSError):
                self._server.close()
        self._server, self.path = None, None
        self._pid = os.getpid()
        directory = runtime_dir()
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            sweep(directory)
            path = os.path.join(directory, f"{self._pid}{SUFFIX}")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # a dead process with our recycled pid
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old_umask = os.umask(0o177)  # the file is born 0600, never readable by others
            try:
                server.bind(path)
            finally:
                os.umask(old_umask)
            os.chmod(path, 0o600)
            server.listen(16)
        except OSError:
            return  # no table for this process (read-only /tmp, ...): sockets still work
        self._server, self.path = server, path
        threading.Thread(target=self._serve, args=(server,), name="emutcp-ss", daemon=True).start()
        atexit.register(self._remove, self._pid, path)

    @staticmethod
    def _remove(pid: int, path: str) -> None:
        if os.getpid() == pid:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _serve(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # closed (forked child, interpreter exit)
            with client:
                client.settimeout(2.0)
                with contextlib.suppress(OSError):
                    doc = {"pid": os.getpid(), "command": _command(), "sockets": self.snapshot()}
                    client.sendall(json.dumps(doc).encode())

    def snapshot(self) -> list[dict[str, Any]]:
        for _ in range(10):
            try:
                return self._snapshot()
            except RuntimeError:  # a table changed size while we read it
                continue
        return []

    def _snapshot(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for ep, offset in list(self._endpoints.items()):
            if getattr(ep, "closed", False):
                continue
            now = time.perf_counter() + offset
            mux = ep.mux
            listener = mux.listener
            if listener is not None and str(listener.state) == "LISTEN":
                rows.append(
                    {
                        "pid": os.getpid(),
                        "state": "LISTEN",
                        "local": _addr(listener.local),
                        "remote": "*:*",
                        "recv_q": len(listener.accept_queue),  # as ss: the accept queue
                        "send_q": listener.backlog,  # and the backlog
                    }
                )
            for conn in list(mux.connections.values()):
                rows.append(connection_row(conn, now))
        return rows


def connection_row(conn: Any, now: float) -> dict[str, Any]:
    """One connection as ``emutcp ss --json`` shows it."""
    info = conn.info()
    timer = conn.active_timer()
    deadline = conn.timers.get(timer) if timer is not None else None
    return {
        "pid": os.getpid(),
        "state": str(info.state),
        "local": _addr(info.local),
        "remote": _addr(info.remote),
        "recv_q": info.recv_queue,
        "send_q": info.send_queue,
        "mss": info.mss,
        "cwnd": info.cwnd,
        "ssthresh": info.ssthresh if info.ssthresh < 1 << 29 else None,
        "srtt_ms": None if info.srtt is None else round(info.srtt * 1000, 3),
        "rttvar_ms": None if info.rttvar is None else round(info.rttvar * 1000, 3),
        "rto_ms": round(info.rto * 1000, 3),
        "bytes_in_flight": info.bytes_in_flight,
        "bytes_acked": info.bytes_acked,
        "bytes_received": info.bytes_received,
        "retransmits": info.retransmits,
        "congestion": info.congestion,
        "timer": None
        if timer is None or deadline is None
        else {"name": timer.value, "left": round(max(0.0, deadline - now), 3)},
    }


_table = _Table()


def register(endpoint: Any) -> None:
    """List ``endpoint`` (a real-UDP endpoint of this process) in ``emutcp ss``.
    Called inside its trio run; a no-op with ``EMUTCP_NO_SS=1``."""
    if not enabled():
        return
    try:  # the loop's clock (trio's or asyncio's) against this process's
        offset = endpoint.runtime.current_time() - time.perf_counter()
    except (AttributeError, RuntimeError):
        offset = 0.0
    _table.register(endpoint, offset)


def table_path() -> str | None:
    """This process's table socket, if it serves one."""
    return _table.path if _table._pid == os.getpid() else None


def read_tables(directory: str | None = None, *, timeout: float = 2.0) -> list[dict[str, Any]]:
    """Every live emutcp process's table in ``directory`` (default: the runtime
    directory), as ``{"pid", "command", "sockets"}``; stale files are removed."""
    directory = directory or runtime_dir()
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    tables = []
    for name in names:
        pid = _pid_of(name)
        if pid is None:
            continue
        path = os.path.join(directory, name)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(path)
                chunks = []
                while chunk := s.recv(1 << 16):
                    chunks.append(chunk)
            tables.append(json.loads(b"".join(chunks)))
        except (OSError, ValueError) as exc:
            refused = isinstance(exc, OSError) and exc.errno in (
                errno.ECONNREFUSED,
                errno.ENOENT,
            )
            if refused and (not _alive(pid) or _age(path) > 5.0):
                with contextlib.suppress(OSError):
                    os.unlink(path)  # the process died without cleaning up
    return tables


def _age(path: str) -> float:
    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return 0.0
