"""/status in a real browser (Debian's headless Chromium): components, incidents and history are shown, without
JavaScript, at a phone width and a desktop width, in light and dark mode. The screenshots in docs/images/ come
from here: ``JOBPULSE_UPDATE_SCREENSHOTS=1 pytest tests/status/test_browser.py``."""

from __future__ import annotations

import html.parser
import os
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobpulse.status import StatusApp, StatusService
from jobpulse.status.webhook import WebhookPayload
from tests.conftest import need_binary
from tests.datastores_fixtures import serve
from tests.helpers import ROOT
from tests.status.helpers import TOKEN, alert, payload, spec

pytestmark = pytest.mark.integration

DAY = 86400.0
SHOTS = ROOT / "docs" / "images"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


@pytest.fixture(scope="module")
def chromium() -> str:
    return need_binary("chromium")


@pytest.fixture
def page_url(tmp_path: Path) -> Iterator[str]:
    """A status page with history: a resolved outage 3 days ago, a degradation 40 days ago, one open incident."""
    import time

    now = time.time()
    service = StatusService(spec(), tmp_path / "status.db")
    store = service.store

    def deliver(body: dict[str, object], at: float) -> None:
        store.apply_alertmanager(WebhookPayload.model_validate(body), now=at)

    def stamp(ts: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))

    old = alert("ApiSlow", severity="warning", starts=stamp(now - 40 * DAY), summary="API responses slower than 1 s")
    deliver(payload(old, group_key="slow"), now - 40 * DAY)
    deliver(payload({**old, "status": "resolved"}, group_key="slow"), now - 40 * DAY + 7200)
    down = alert("ApiDown", starts=stamp(now - 3 * DAY), summary="API returns errors for most requests")
    deliver(payload(down, group_key="down"), now - 3 * DAY)
    incident = store.unresolved()[0]
    store.add_update(incident.id, "identified", "A bad deploy; rolling back.", now=now - 3 * DAY + 600)
    deliver(payload({**down, "status": "resolved"}, group_key="down"), now - 3 * DAY + 1800)
    jobs = alert(
        "JobsFailing", severity="warning", starts=stamp(now - 900), summary='Jobs failing: <b>"render"</b> queue'
    )
    deliver(payload(jobs, group_key="jobs"), now - 900)
    store.create_maintenance(
        "Database upgrade", "PostgreSQL 16; a few seconds of read-only.", ["api"], now + DAY, now + DAY + 3600
    )
    try:
        with serve(StatusApp(service, token=TOKEN)) as base:
            yield base + "/status"
    finally:
        service.close()


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


class _Text(html.parser.HTMLParser):
    """The DOM as the browser built it: text per element id, and the ids in order."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.sections: dict[str, list[str]] = {}
        self._stack: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        ident = dict(attrs).get("id")
        if tag in ("meta", "link", "br", "img", "input"):
            return
        self._stack.append(ident)
        if ident:
            self.sections.setdefault(ident, [])

    def handle_endtag(self, tag: str) -> None:
        if self._stack and tag not in ("meta", "link", "br", "img", "input"):
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._stack:
            if ident:
                self.sections[ident].append(data)

    def text(self, ident: str) -> str:
        return " ".join(" ".join(self.sections.get(ident, [])).split())


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _png_colours(path: Path) -> int:
    """How many distinct colours the first rows of the image use (an empty or failed render has one or two)."""
    data = path.read_bytes()
    width, _ = _png_size(path)
    chunks = b""
    pos = 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            chunks += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(chunks)
    stride = 1 + width * 4 if len(raw) % (1 + width * 4) == 0 else 1 + width * 3
    return len({raw[r * stride + 1 : (r + 1) * stride] for r in range(min(400, len(raw) // stride))})


def test_the_page_renders_components_incidents_and_history(chromium: str, page_url: str, tmp_path: Path) -> None:
    result = _run(chromium, tmp_path / "profile-dom", "--dump-dom", page_url)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = _Text()
    dom.feed(result.stdout)
    assert dom.scripts == 0
    components = dom.text("h-components") + " " + " ".join(dom.text(f"component-{n}") for n in ("api", "workers"))
    assert "API" in dom.text("component-api") and "Operational" in dom.text("component-api")
    assert "Workers" in dom.text("component-workers") and "Degraded performance" in dom.text("component-workers")
    assert "99." in dom.text("component-api") and "uptime" in components
    current = [k for k in dom.sections if k.startswith("incident-")]
    assert len(current) == 3  # one open, two in the history
    page_text = " ".join(" ".join(v) for v in dom.sections.values())
    assert 'Jobs failing: <b>"render"</b> queue' in page_text  # shown as text, not as markup
    assert "API returns errors for most requests" in page_text and "A bad deploy; rolling back." in page_text
    assert "API responses slower than 1 s" in page_text
    assert "Database upgrade" in page_text
    assert "Minor Service Outage" in result.stdout  # the banner


@pytest.mark.parametrize(
    ("name", "width", "height", "dark"),
    [("phone", 390, 2200, False), ("desktop", 1280, 1500, False), ("desktop-dark", 1280, 1500, True)],
)
def test_screenshots(
    chromium: str, page_url: str, tmp_path: Path, name: str, width: int, height: int, dark: bool
) -> None:
    shot = tmp_path / f"status-{name}.png"
    extra = ("--force-dark-mode", "--blink-settings=preferredColorScheme=0") if dark else ()
    result = _run(
        chromium,
        tmp_path / f"profile-{name}",
        *extra,
        f"--window-size={width},{height}",
        f"--screenshot={shot}",
        page_url,
    )
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    assert _png_size(shot) == (width, height)
    assert _png_colours(shot) > 20  # text, banner, bars: a real render
    if os.environ.get("JOBPULSE_UPDATE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SHOTS / shot.name)
