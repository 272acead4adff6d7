"""The one harness for real servers: a child process on ``127.0.0.1:<port>`` with a log file.

Every server jobpulse starts — Prometheus, Alertmanager and the Pushgateway (:mod:`jobpulse.verify.servers`,
:mod:`jobpulse.verify.pushgateway`), Redis and PostgreSQL (:mod:`jobpulse.verify.datastores`) — is a
:class:`ServerProcess`: ``start()`` picks a free loopback port (and tries another when it was taken meanwhile),
launches the process with its output in ``<workdir>/<name>.log`` and waits until it is ready; ``stop()`` ends it
(SIGTERM, SIGKILL after a timeout) and is safe to call twice; ``kill()`` ends it as a crash would and ``start()``
brings it back on the same port. Whatever is still running when the interpreter exits is stopped.

A server with an HTTP API is an :class:`HttpServer`: ready once ``GET ready_path`` answers 200, with an
:class:`~jobpulse.prometheus_api.HttpClient` on its URL as :attr:`HttpServer.http`. Adding one (VictoriaMetrics,
vmagent, vmalert) is a small subclass::

    class VictoriaMetricsServer(HttpServer):
        name = "victoria-metrics"
        binary_name = "victoria-metrics"
        ready_path = "/health"

        def arguments(self, config_file, port):
            return [f"-httpListenAddr={LOOPBACK}:{port}", f"-storageDataPath={self.workdir / 'data'}"]

Servers listen on 127.0.0.1 only (a hard rule of the project).
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar, Self, TypeVar

from jobpulse.prometheus_api import HttpClient
from jobpulse.verify.binaries import require_binary

__all__ = [
    "LOOPBACK",
    "HttpServer",
    "ServerProcess",
    "ServerStartError",
    "end_process",
    "free_port",
    "log_tail",
    "wait_for",
]

LOOPBACK = "127.0.0.1"
T = TypeVar("T")


class ServerStartError(RuntimeError):
    """The server exited or did not become ready; the message carries the tail of its log."""


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a server's log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def end_process(process: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    """Send ``sig``, wait ``timeout`` seconds, then SIGKILL; nothing to do for an ended or absent process."""
    if process is not None and process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.2) -> T:
    """Call ``predicate`` until it returns something truthy and return that.

    Exceptions raised by ``predicate`` count as "not yet" (except :class:`ServerStartError`,
    which ends the wait); on timeout a :class:`TimeoutError` names the last value or exception seen.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = predicate()
        except ServerStartError:
            raise
        except Exception as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout}s (last: {last!r})")
        time.sleep(interval)


class ServerProcess:
    """A child process listening on 127.0.0.1:<port>, with a log file, restartable on the same port.

    Subclasses name themselves (``name``: the log file and messages) and implement :meth:`command` and
    :meth:`ready`; :meth:`prepare` runs once before the first launch (a data directory, say).
    """

    name: ClassVar[str]
    #: how :meth:`stop` asks the server to shut down
    stop_signal: ClassVar[int] = signal.SIGTERM
    _live: ClassVar[set[ServerProcess]] = set()

    def __init__(self, *, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._prepared = False
        #: run the server as this uid/gid (PostgreSQL refuses root); None keeps the current user
        self.run_as_uid: int | None = None
        self.run_as_gid: int | None = None

    # -- subclass hooks ----------------------------------------------------------------------------
    def prepare(self) -> None:
        """One-time setup before the first launch (a data directory, say)."""

    def command(self, port: int) -> list[str]:
        """The command line that starts the server on ``port`` (called before every launch)."""
        raise NotImplementedError

    def ready(self) -> bool:
        """Whether the server answers yet (an OSError counts as "not yet")."""
        raise NotImplementedError

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> Self:
        """Start (or, after :meth:`kill`/:meth:`stop`, restart on the same port) and wait until ready."""
        if self.running:
            raise RuntimeError(f"{type(self).__name__} already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self._prepared:
            self.prepare()
            self._prepared = True
        # A port we picked ourselves may be taken between free_port() and the bind: retry then.
        auto_port = self.port is None
        for attempt in range(3 if auto_port else 1):
            if auto_port:
                self.port = free_port()
            try:
                self._launch(timeout)
            except BaseException as exc:
                self.stop()
                retry = isinstance(exc, ServerStartError) and "address already in use" in str(exc).lower()
                if auto_port:
                    self.port = None
                if retry and auto_port and attempt < 2:
                    continue
                raise
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self, timeout: float) -> None:
        assert self.port is not None
        command = self.command(self.port)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            user=self.run_as_uid,
            group=self.run_as_gid,
            extra_groups=None if self.run_as_uid is None else [],
        )
        ServerProcess._live.add(self)
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise ServerStartError(
                    f"{self.name} exited with code {code} during startup; log {self.log_path}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError):
                if self.ready():
                    return
            if time.monotonic() >= deadline:
                raise ServerStartError(
                    f"{self.name} not ready on {LOOPBACK}:{self.port} after {timeout}s; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def _end(self, sig: int, timeout: float) -> None:
        process, self.process = self.process, None
        end_process(process, sig, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """End the server at once (SIGKILL), as a crash would; :meth:`start` restarts it on the same port."""
        self._end(signal.SIGKILL, 10.0)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down cleanly, SIGKILL after ``timeout`` seconds. Safe to call more than once."""
        self._end(self.stop_signal, timeout)
        ServerProcess._live.discard(self)

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.2) -> T:
        """:func:`wait_for`, failing early if the server process died meanwhile."""

        def check() -> T:
            if not self.running:
                raise ServerStartError(f"{self.name} is not running; log:\n{self.log_tail()}")
            return predicate()

        return wait_for(check, timeout, interval)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(ServerProcess._live):
        server.stop(timeout=5.0)


class HttpServer(ServerProcess):
    """A server with an HTTP API on 127.0.0.1:<port>, ready once ``GET ready_path`` answers 200.

    Subclasses give ``binary_name`` (found on PATH with :func:`~jobpulse.verify.binaries.require_binary`
    unless ``binary`` is passed) and :meth:`arguments`; :meth:`write_config` writes a config file before
    every launch when the server takes one.
    """

    binary_name: ClassVar[str]
    ready_path: ClassVar[str] = "/-/ready"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for old, new in (("_args", "arguments"), ("_write_config", "write_config")):
            if old in vars(cls):  # the hooks' names before the harnesses became one: fail loudly, not silently
                raise TypeError(f"{cls.__name__}.{old}() is no longer called: override {new}() instead")

    def __init__(self, *, workdir: Path, port: int | None = None, binary: str | None = None) -> None:
        super().__init__(workdir=workdir, port=port)
        self.binary = binary
        self._http: HttpClient | None = None

    # -- subclass hooks ----------------------------------------------------------------------------
    def write_config(self) -> Path | None:
        """Write the server's config file into the workdir and return its path (``None``: it takes none)."""
        return None

    def arguments(self, config_file: Path | None, port: int) -> list[str]:
        """Command-line arguments that make the server listen on ``127.0.0.1:<port>``."""
        raise NotImplementedError

    # -- ServerProcess -----------------------------------------------------------------------------
    def command(self, port: int) -> list[str]:
        binary = self.binary or require_binary(self.binary_name)
        return [binary, *self.arguments(self.write_config(), port)]

    def ready(self) -> bool:
        return self.http.get(self.ready_path, timeout=1.0).status_code == 200

    # -- HTTP --------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{type(self).__name__} has no port yet: call start() first")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def http(self) -> HttpClient:
        """An HTTP client on :attr:`url` (``.get(path, params)``, ``.post(path, json=...)``, ``.delete(path)``)."""
        url = self.url
        if self._http is None or self._http.base_url != url:
            self._http = HttpClient(url, timeout=10.0)
        return self._http
