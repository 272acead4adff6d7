"""A local stand-in for the Datadog agent: receives DogStatsD datagrams on 127.0.0.1 and keeps every line.

``jobpulse demo`` starts one for an example whose ``create_app`` takes ``dogstatsd=(host, port)``, so you
see exactly what Datadog would receive (``.demo/dogstatsd.txt``), without an agent or an account.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from pathlib import Path

__all__ = ["DogStatsdListener"]


class DogStatsdListener:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.datagrams = 0
        self.lines = 0
        self.metrics: Counter[str] = Counter()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobpulse-demo-dogstatsd", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> DogStatsdListener:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self._thread.start()
        return self

    def _run(self) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            while not self._stop.is_set():
                try:
                    payload = self._sock.recv(65535)
                except TimeoutError:
                    continue
                except OSError:
                    return
                lines = [line for line in payload.decode("utf-8", "replace").split("\n") if line]
                self.datagrams += 1
                self.lines += len(lines)
                self.metrics.update(line.split(":", 1)[0] for line in lines)
                out.write("".join(line + "\n" for line in lines))
                out.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._sock.close()

    def summary(self) -> str:
        return (
            f"DogStatsD: {self.lines} lines in {self.datagrams} datagrams, {len(self.metrics)} metrics "
            f"(what Datadog would receive) in {self.path}"
        )
