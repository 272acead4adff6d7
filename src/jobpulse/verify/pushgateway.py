"""Run a real Prometheus Pushgateway on loopback, for tests (an :class:`~jobpulse.verify.process.HttpServer`).

It listens on ``127.0.0.1:<free port>`` only and keeps its groups in memory (no persistence file).
Debian ships the binary as ``prometheus-pushgateway`` (package ``prometheus-pushgateway``); upstream calls it
``pushgateway`` — either is found on PATH.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from jobpulse.verify.binaries import MissingBinaryError
from jobpulse.verify.process import LOOPBACK, HttpServer

__all__ = ["PUSHGATEWAY_NAMES", "PushgatewayServer", "find_pushgateway"]

#: Names the Pushgateway binary goes by: Debian's first, then upstream's.
PUSHGATEWAY_NAMES = ("prometheus-pushgateway", "pushgateway")
PACKAGE = "prometheus-pushgateway"


def find_pushgateway() -> str | None:
    """Absolute path of the Pushgateway binary on PATH, or ``None``."""
    for name in PUSHGATEWAY_NAMES:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


class PushgatewayServer(HttpServer):
    """``with PushgatewayServer(workdir=tmp_path) as gateway: push to gateway.address``."""

    name = "pushgateway"
    binary_name = "prometheus-pushgateway"
    config_name = "pushgateway.args"

    def __init__(self, *, workdir: Path, port: int | None = None, binary: str | None = None) -> None:
        found = binary or find_pushgateway()
        if found is None:
            hint = f"sudo apt-get install {PACKAGE} (or run scripts/install-system-deps.sh)"
            raise MissingBinaryError(self.binary_name, PACKAGE, hint)
        super().__init__(workdir=workdir, port=port, binary=found)

    def write_config(self) -> Path:
        # the Pushgateway takes no config file; record the arguments for whoever reads the workdir
        path = self.workdir / self.config_name
        path.write_text("\n".join(self.arguments(path, self.port or 0)) + "\n")
        return path

    def arguments(self, config_file: Path | None, port: int) -> list[str]:
        return [f"--web.listen-address={LOOPBACK}:{port}", "--log.level=info"]

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``, what prometheus_client's ``push_to_gateway`` takes."""
        return f"{LOOPBACK}:{self.port}"

    def groups(self) -> list[dict[str, Any]]:
        """Every group the Pushgateway holds (``/api/v1/metrics``): ``labels`` plus one entry per metric."""
        response = self.http.get("/api/v1/metrics").raise_for_status()
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    def group_labels(self) -> list[dict[str, str]]:
        """The grouping key (labels, ``job`` included) of every group, sorted."""
        keys = [dict(group["labels"]) for group in self.groups()]
        return sorted(keys, key=lambda k: sorted(k.items()))

    def metrics_text(self) -> str:
        """What Prometheus scrapes from the Pushgateway (``/metrics``)."""
        response = self.http.get("/metrics").raise_for_status()
        return response.text

    def samples(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Samples of series ``name`` in :meth:`metrics_text`, by sorted label pairs."""
        from prometheus_client.parser import text_string_to_metric_families

        out: dict[tuple[tuple[str, str], ...], float] = {}
        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                if sample.name == name:
                    out[tuple(sorted(sample.labels.items()))] = sample.value
        return out
