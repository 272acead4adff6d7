"""Run real Redis and PostgreSQL servers on loopback, for tests and demos.

Both are :class:`~jobpulse.verify.process.ServerProcess` (the harness every test server uses): a free port
on ``127.0.0.1``, ``start()`` waits until the server answers, ``stop()`` is safe to call twice, and the objects
are context managers. Both listen on ``127.0.0.1`` only and never open a Unix socket elsewhere than their own
working directory.

Fault injection: ``kill()`` ends the server abruptly (SIGKILL) and ``start()`` brings it back on the same
port, which is how the tests take a dependency down and up again.

PostgreSQL refuses to run as root. When the current user is root, ``initdb`` and ``postgres`` run as the
``postgres`` system user (created by Debian's package) or ``nobody``, with the data directory in a private
temporary directory owned by that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

from jobpulse.verify.binaries import MissingBinaryError
from jobpulse.verify.process import LOOPBACK, ServerProcess, ServerStartError

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


class RedisServer(ServerProcess):
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

    def command(self, port: int) -> list[str]:
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

    def ready(self) -> bool:
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


class PostgresServer(ServerProcess):
    """A throw-away PostgreSQL cluster (``initdb`` + ``postgres``) on 127.0.0.1, TCP only.

    With ``password`` the ``postgres`` superuser needs it over TCP (scram-sha-256); without one, TCP
    connections from loopback are trusted. ``dsn`` is ``postgresql://postgres[:password]@127.0.0.1:<port>/postgres``.
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM ("smart") would wait for clients to disconnect
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

    def prepare(self) -> None:
        initdb = self._binary("initdb")
        self._binary("postgres")
        if os.geteuid() == 0:
            for candidate in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    self._run_as = pwd.getpwnam(candidate)
                    break
            if self._run_as is None:
                raise ServerStartError("running as root and neither a 'postgres' nor a 'nobody' user exists")
            self.run_as_uid, self.run_as_gid = self._run_as.pw_uid, self._run_as.pw_gid
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
                user=self.run_as_uid,
                group=self.run_as_gid,
                extra_groups=None if self.run_as_uid is None else [],
            )
        finally:
            if pwfile is not None:
                pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise ServerStartError(f"initdb failed with code {result.returncode}:\n{output[-3000:]}")

    def command(self, port: int) -> list[str]:
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

    def ready(self) -> bool:
        # postmaster.pid's 8th line is the postmaster status; "ready" once it accepts connections
        assert self.datadir is not None and self.port is not None
        lines = (self.datadir / "postmaster.pid").read_text().splitlines()
        return len(lines) >= 8 and lines[7].strip() == "ready" and _port_open(self.port)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Shut down cleanly and keep the cluster: :meth:`start` serves the same data on the same port again (an
        outage, where :meth:`stop` ends the server and, when it made one, removes its data directory)."""
        super().stop(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        if self._own_tmp is not None:
            shutil.rmtree(self._own_tmp, ignore_errors=True)
            self._own_tmp = None
            self._prepared = False
