"""Run real Redis and PostgreSQL servers on loopback, for tests and demos.

Same shape as :mod:`jobpulse.verify.servers`: a free port on ``127.0.0.1``, ``start()`` waits until the
server answers, ``stop()`` is safe to call twice, and the objects are context managers. Both servers
listen on ``127.0.0.1`` only and never open a Unix socket elsewhere than their own working directory.

Fault injection: ``kill()`` ends the server abruptly (SIGKILL) and ``start()`` brings it back on the same
port, which is how the tests take a dependency down and up again.

PostgreSQL refuses to run as root. When the current user is root, ``initdb`` and ``postgres`` run as the
``postgres`` system user (created by Debian's package) or ``nobody``, with the data directory in a private
temporary directory owned by that user.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self
from urllib.parse import quote

from jobpulse.verify.binaries import MissingBinaryError
from jobpulse.verify.servers import LOOPBACK, ServerStartError, end_process, free_port, log_tail

__all__ = [
    "DATASTORE_PACKAGES",
    "PostgresServer",
    "RedisServer",
    "find_postgres_binary",
    "find_redis_binary",
]

#: binary -> Debian package that ships it.
DATASTORE_PACKAGES: dict[str, str] = {
    "redis-server": "redis-server",
    "initdb": "postgresql",
    "postgres": "postgresql",
    "pg_ctl": "postgresql",
}

#: Where Debian (and Ubuntu) put PostgreSQL's server binaries: not on PATH.
POSTGRES_BIN_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/usr/pgsql-*/bin")


def _hint(name: str) -> str:
    return f"sudo apt-get install {DATASTORE_PACKAGES.get(name, name)} (or run scripts/install-system-deps.sh)"


def _missing(name: str) -> MissingBinaryError:
    return MissingBinaryError(name, DATASTORE_PACKAGES.get(name, name), _hint(name))


def find_redis_binary() -> str | None:
    """``redis-server`` on PATH, or ``None``."""
    return shutil.which("redis-server")


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def find_postgres_binary(name: str = "initdb") -> str | None:
    """A PostgreSQL server binary (``initdb``, ``postgres``, ``pg_ctl``): PATH first, then the newest
    version under ``/usr/lib/postgresql/<version>/bin`` (Debian) and similar places; ``None`` if absent."""
    on_path = shutil.which(name)
    if on_path is not None:
        return on_path
    found: list[str] = []
    for pattern in POSTGRES_BIN_GLOBS:
        found.extend(str(p) for p in Path("/").glob(f"{pattern.lstrip('/')}/{name}") if os.access(p, os.X_OK))
    if not found:
        return None
    return max(found, key=_version_key)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0


class _Process:
    """A child process on 127.0.0.1:<port> with a log file, restartable on the same port."""

    name: ClassVar[str]
    _live: ClassVar[set[_Process]] = set()

    def __init__(self, *, workdir: Path, port: int | None) -> None:
        self.workdir = Path(workdir)
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        #: run the server as this uid/gid (PostgreSQL refuses root); None keeps the current user
        self._uid: int | None = None
        self._gid: int | None = None

    # -- hooks ----------------------------------------------------------------------------------
    def _prepare(self) -> None:
        """One-time setup before the first launch (config files, data directory)."""

    def _command(self, port: int) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _stop_signal(self) -> int:
        return signal.SIGTERM

    # -- lifecycle ------------------------------------------------------------------------------
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
        if not getattr(self, "_prepared", False):
            self._prepare()
            self._prepared = True
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
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self._command(self.port),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            user=self._uid,
            group=self._gid,
            extra_groups=None if self._uid is None else [],
        )
        _Process._live.add(self)
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise ServerStartError(
                    f"{self.name} exited with code {code} during startup; log {self.log_path}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError):
                if self._ready():
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
        self._end(self._stop_signal(), timeout)
        _Process._live.discard(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_Process._live):
        server.stop(timeout=5.0)


class RedisServer(_Process):
    """``redis-server`` on 127.0.0.1, no persistence, optional ``password`` (``requirepass``)."""

    name = "redis"

    def __init__(
        self,
        *,
        workdir: Path,
        port: int | None = None,
        password: str | None = None,
        binary: str | None = None,
    ) -> None:
        super().__init__(workdir=workdir, port=port)
        self.password = password
        self.binary = binary

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:<port>/0``; it carries the password when there is one."""
        if self.port is None:
            raise RuntimeError("RedisServer has no port yet: call start() first")
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{LOOPBACK}:{self.port}/0"

    def _command(self, port: int) -> list[str]:
        binary = self.binary or find_redis_binary()
        if binary is None:
            raise _missing("redis-server")
        config = self.workdir / "redis.conf"
        lines = [
            f"bind {LOOPBACK}",
            f"port {port}",
            "protected-mode yes",
            "daemonize no",
            'save ""',
            "appendonly no",
            f"dir {self.workdir.resolve()}",
            'logfile ""',
        ]
        if self.password:
            lines.append(f"requirepass {self.password}")
        config.write_text("\n".join(lines) + "\n")
        config.chmod(0o600)  # it may hold the password
        return [binary, str(config)]

    def _ready(self) -> bool:
        assert self.port is not None
        with socket.create_connection((LOOPBACK, self.port), timeout=1.0) as sock:
            if self.password:
                sock.sendall(_resp("AUTH", self.password))
                if not sock.recv(64).startswith(b"+OK"):
                    return False
            sock.sendall(_resp("PING"))
            return sock.recv(64).startswith(b"+PONG")


def _resp(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class PostgresServer(_Process):
    """A throw-away PostgreSQL cluster (``initdb`` + ``postgres``) on 127.0.0.1, TCP only.

    With ``password`` the ``postgres`` superuser needs it over TCP (scram-sha-256); without one, TCP
    connections from loopback are trusted. ``dsn`` is ``postgresql://postgres[:password]@127.0.0.1:<port>/postgres``.
    """

    name = "postgres"
    user = "postgres"
    database = "postgres"

    def __init__(
        self,
        *,
        workdir: Path,
        port: int | None = None,
        password: str | None = None,
        bindir: str | Path | None = None,
    ) -> None:
        super().__init__(workdir=workdir, port=port)
        self.password = password
        self.bindir = Path(bindir) if bindir is not None else None
        self.datadir: Path | None = None
        self._own_tmp: Path | None = None
        self._run_as: pwd.struct_passwd | None = None

    @property
    def dsn(self) -> str:
        if self.port is None:
            raise RuntimeError("PostgresServer has no port yet: call start() first")
        auth = self.user + (f":{quote(self.password, safe='')}" if self.password else "")
        return f"postgresql://{auth}@{LOOPBACK}:{self.port}/{self.database}"

    def _binary(self, name: str) -> str:
        if self.bindir is not None:
            path = self.bindir / name
            if not path.is_file():
                raise _missing(name)
            return str(path)
        found = find_postgres_binary(name)
        if found is None:
            raise _missing(name)
        return found

    def _prepare(self) -> None:
        initdb = self._binary("initdb")
        self._binary("postgres")
        if os.geteuid() == 0:
            for candidate in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    self._run_as = pwd.getpwnam(candidate)
                    break
            if self._run_as is None:
                raise ServerStartError("running as root and neither a 'postgres' nor a 'nobody' user exists")
            self._uid, self._gid = self._run_as.pw_uid, self._run_as.pw_gid
            # a directory the unprivileged user owns (pytest's tmp_path is private to root)
            self._own_tmp = Path(tempfile.mkdtemp(prefix="jobpulse-pg-"))
            os.chown(self._own_tmp, self._run_as.pw_uid, self._run_as.pw_gid)
            self.datadir = self._own_tmp / "data"
        else:
            self.datadir = self.workdir / "pgdata"
        # --no-locale: the C locale always exists, whatever LANG says
        args = [initdb, "-D", str(self.datadir), "-U", self.user, "-E", "UTF8", "--no-locale", "--no-sync"]
        args.append("--auth-local=trust")
        pwfile: Path | None = None
        if self.password:
            parent = self._own_tmp or self.workdir
            pwfile = parent / "pwfile"
            pwfile.write_text(self.password + "\n")
            pwfile.chmod(0o600)
            if self._run_as is not None:
                os.chown(pwfile, self._run_as.pw_uid, self._run_as.pw_gid)
            args += [f"--pwfile={pwfile}", "--auth-host=scram-sha-256"]
        else:
            args.append("--auth-host=trust")
        try:
            result = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                cwd=self._own_tmp or self.workdir,
                check=False,
                user=self._uid,
                group=self._gid,
                extra_groups=None if self._uid is None else [],
            )
        finally:
            if pwfile is not None:
                pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise ServerStartError(f"initdb failed with code {result.returncode}:\n{output[-3000:]}")

    def _command(self, port: int) -> list[str]:
        assert self.datadir is not None
        return [
            self._binary("postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(port),
            "-c",
            f"listen_addresses={LOOPBACK}",
            "-c",
            "unix_socket_directories=",
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "synchronous_commit=off",
        ]

    def _ready(self) -> bool:
        # postmaster.pid's 8th line is the postmaster status; "ready" once it accepts connections
        assert self.datadir is not None and self.port is not None
        lines = (self.datadir / "postmaster.pid").read_text().splitlines()
        return len(lines) >= 8 and lines[7].strip() == "ready" and _port_open(self.port)

    def _stop_signal(self) -> int:
        return signal.SIGINT  # "fast" shutdown: SIGTERM ("smart") would wait for clients to disconnect

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        if self._own_tmp is not None:
            shutil.rmtree(self._own_tmp, ignore_errors=True)
            self._own_tmp = None
            self._prepared = False
