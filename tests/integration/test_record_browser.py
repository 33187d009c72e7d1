"""record.html in a real browser: headless Chromium renders the page of a real rolled-back run.

The record is written the way a run writes it (ansible-playbook, the record role and its default
formats) from a journal captured from `make demo`'s bad v3 (tests/unit/fixtures/journals/rolled_back.jsonl: the
gate breached error_ratio, the rollback's gate passed). Chromium loads it from file:// with
nothing else: the DOM it builds, the sizes it lays out, and a screenshot are checked.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import iter_journal
from ansible_collections.liftoff.release.plugins.plugin_utils.record import build
from ansible_collections.liftoff.release.plugins.plugin_utils.run_state import fold

REPO = Path(__file__).resolve().parents[2]
JOURNAL = REPO / "tests" / "unit" / "fixtures" / "journals" / "rolled_back.jsonl"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)

if CHROMIUM is None and os.geteuid() != 0:
    pytest.skip("headless Chromium is not installed and this user cannot install it: as root, `make bootstrap` "
                "installs Debian's chromium (apt-get install chromium)", allow_module_level=True)

# Run in the page (a copy of it whose policy allows this one inline script): what Chromium laid out.
MEASURE = """<script>
const box = e => { const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; };
const out = {
  phases: [...document.querySelectorAll('rect.phase-bar')].map(e => ({phase: e.dataset.phase,
           duration: parseFloat(e.dataset.durationS), ...box(e)})),
  charts: [...document.querySelectorAll('figure.metric-chart')].map(f => ({gate: f.dataset.gate,
           metric: f.dataset.metric, ...box(f),
           thresholds: [...f.querySelectorAll('line.threshold')].map(l => ({bound: l.dataset.bound, ...box(l)})),
           breaches: [...f.querySelectorAll('circle.breach')].map(box),
           samples: f.querySelectorAll('circle.sample').length})),
  verdict: document.getElementById('verdict').innerText,
  width: document.documentElement.scrollWidth, viewport: window.innerWidth,
};
const pre = document.createElement('pre'); pre.id = 'measure'; pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        pytest.fail("chromium is missing although this machine is root: run `make bootstrap` (it installs Debian's "
                    "chromium), or `apt-get install -y chromium`")
    return CHROMIUM


SECRET = "s3cr3t-Pa55-for-the-test"
PLAYBOOK = """- name: Render the record of a finished run
  hosts: localhost
  gather_facts: false
  vars:
    app_db_password: "{secret}"
    run_dir: "{run_dir}"
  roles:
    - liftoff.release.record
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """record.html as a run writes it: ansible-playbook runs the record role (its default formats) on the journal,
    one of whose items holds the value of a secret-named variable."""
    run_dir = tmp_path_factory.mktemp("run")
    items = list(iter_journal(JOURNAL))
    lock = next(i for i in items if i["id"] == "preflight.lock")
    lock["actual"] = f"{lock['actual']} (connected with {SECRET})"
    (run_dir / "evidence.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    playbook = run_dir.parent / f"{run_dir.name}-record.yml"
    playbook.write_text(PLAYBOOK.format(secret=SECRET, run_dir=run_dir), encoding="utf-8")
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(playbook)],
                            capture_output=True, text=True, timeout=300, check=False, cwd=REPO,
                            env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert sorted(p.name for p in run_dir.iterdir()) == ["evidence.jsonl", "record.html", "record.json", "record.md"]
    html = run_dir / "record.html"
    assert SECRET not in html.read_text(encoding="utf-8")
    return html, build(items, fold(items))


def browse(chromium: str, profile: Path, *args: str, timeout: int = 90) -> str:
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--hide-scrollbars", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"chromium exited {result.returncode}: {result.stderr[-2000:]}"
    return result.stdout


class Tags(HTMLParser):
    """Start tags with their attributes, in document order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def having(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and cls in a.get("class", "").split()]


def test_chromium_builds_the_page_it_was_given(chromium: str, page: tuple[Path, dict[str, Any]],
                                               tmp_path: Path) -> None:
    path, record = page
    dom = browse(chromium, tmp_path / "profile", "--dump-dom", path.as_uri())
    tags = Tags(dom)
    verdict = re.search(r'<section id="verdict"[^>]*>(.*?)</section>', dom, re.S)
    assert verdict and "ROLLED BACK" in verdict.group(1) and "error_ratio breached max 0.05" in verdict.group(1)
    assert [a["data-phase"] for a in tags.having("rect", "phase-bar")] == [p["name"] for p in record["phases"]]
    charts = tags.having("figure", "metric-chart")
    assert [(c["data-gate"], c["data-metric"]) for c in charts] == [
        ("verify.verdict", "error_ratio"), ("verify.verdict", "latency_p95"),
        ("rollback.gate.verdict", "error_ratio"), ("rollback.gate.verdict", "latency_p95")]
    assert len(tags.having("line", "threshold")) == 4
    breaches = [s for s in record["gate"]["metrics"][0]["samples"] if s["status"] == "fail"]
    assert len(tags.having("circle", "breach")) == len(breaches) >= 1
    assert not [t for t, _a in tags.tags if t in ("script", "img", "link", "iframe")]
    lock = re.search(r'<tr [^>]*data-item="preflight.lock"[^>]*>(.*?)</tr>', dom, re.S)
    assert lock and "(connected with ***)" in lock.group(1) and SECRET not in dom


def test_bars_and_charts_are_laid_out_to_scale(chromium: str, page: tuple[Path, dict[str, Any]],
                                               tmp_path: Path) -> None:
    path, _record = page
    text = path.read_text(encoding="utf-8")
    policy = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', text)
    assert policy, "the page declares no content security policy"
    measured = tmp_path / "measured.html"
    measured.write_text(text.replace(policy.group(0), "").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = browse(chromium, tmp_path / "profile", "--window-size=1280,1600", "--dump-dom", measured.as_uri())
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S)
    assert found, "the measuring script did not run"
    out = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert out["width"] <= out["viewport"], "the page scrolls sideways"
    assert out["verdict"].startswith("ROLLED BACK")
    phases = out["phases"]
    assert phases and all(p["w"] > 0 and p["h"] > 0 for p in phases)
    # Width per second is the same for every phase long enough not to be drawn at the minimum width.
    run = next(p for p in phases if p["phase"] == "run")
    per_second = run["w"] / run["duration"]
    for phase in phases:
        if phase["duration"] * per_second > 4:
            assert phase["w"] / phase["duration"] == pytest.approx(per_second, rel=0.03), phase["phase"]
    xs = [p["x"] for p in phases if p["phase"] != "run"]
    assert xs == sorted(xs), "phases do not follow each other on the time axis"
    assert len(out["charts"]) == 4
    for chart in out["charts"]:
        assert chart["w"] > 300 and chart["h"] > 150, chart["metric"]
        assert chart["samples"] >= 1
        assert [t["bound"] for t in chart["thresholds"]] == ["max"] and chart["thresholds"][0]["w"] > 200
    breached = next(c for c in out["charts"] if (c["gate"], c["metric"]) == ("verify.verdict", "error_ratio"))
    line = breached["thresholds"][0]
    assert breached["breaches"] and all(b["y"] + b["h"] / 2 < line["y"] for b in breached["breaches"]), \
        "a breaching sample is not drawn above the max line"


def png_rgb(data: bytes) -> np.ndarray:
    """An 8-bit, non-interlaced RGB(A) PNG as a height x width x 3 array (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IHDR":
            header = data[pos + 8:pos + 8 + length]
        elif kind == b"IDAT":
            idat.append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, stride + 1)
    image = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int64)
    for row in range(height):
        kind, line = int(raw[row, 0]), raw[row, 1:].astype(np.int64)
        if kind == 1:  # Sub: a running sum per channel
            line = np.cumsum(line.reshape(-1, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            line = (line + previous) % 256
        elif kind in (3, 4):  # Average, Paeth: each byte needs the one decoded before it
            line = _sequential(kind, line.tolist(), previous.tolist(), bpp)
        image[row] = line
        previous = image[row].astype(np.int64)
    return image.reshape(height, width, bpp)[:, :, :3]


def _sequential(kind: int, line: list[int], above: list[int], bpp: int) -> np.ndarray:
    out = [0] * len(line)
    for i, value in enumerate(line):
        left = out[i - bpp] if i >= bpp else 0
        up, corner = above[i], (above[i - bpp] if i >= bpp else 0)
        if kind == 3:
            out[i] = (value + (left + up) // 2) % 256
            continue
        p = left + up - corner
        pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
        out[i] = (value + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) % 256
    return np.array(out, dtype=np.int64)


def test_the_screenshot_shows_the_page(chromium: str, page: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path, _record = page
    shot = tmp_path / "record.png"
    browse(chromium, tmp_path / "profile", "--window-size=1280,1800", f"--screenshot={shot}", path.as_uri())
    pixels = png_rgb(shot.read_bytes())
    assert pixels.shape == (1800, 1280, 3)
    r, g, b = (pixels[:, :, i].astype(int) for i in range(3))
    background = (abs(r - 0xF6) <= 2) & (abs(g - 0xF7) <= 2) & (abs(b - 0xF9) <= 2)
    white = (r > 250) & (g > 250) & (b > 250)
    inked = 1 - (background | white).mean()
    red = ((r > 170) & (g < 90) & (b < 90)).sum()  # the ROLLED BACK badges, the failed bars, the breach
    green = ((r < 90) & (g > 110) & (b < 90)).sum()  # the phases that passed
    dark = ((r < 80) & (g < 80) & (b < 80)).sum()  # text
    assert inked > 0.05, f"only {inked:.1%} of the page is drawn"
    assert red > 2000 and green > 2000 and dark > 5000, (red, green, dark)
