"""Headless Chromium (Debian's `chromium`) for the mail checks and the docs pictures: pages served from a
directory on 127.0.0.1, measured at a given width inside an iframe of that width, or screenshot.

Chromium is started with no network use of its own (no sync, no component updates, no background
networking) and a throw-away profile; it only ever loads the loopback server.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--disable-extensions", "--disable-default-apps", "--mute-audio"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (ephemeral port) for the files under `root`; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _run(chromium: str, args: list[str], timeout: float = 120) -> str:
    with tempfile.TemporaryDirectory(prefix="newswatch-chromium-") as profile:
        done = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


# Measures the page in the iframe once everything has loaded and writes the result into the DOM, which
# --dump-dom prints: the viewport and document widths, every element sticking out of the viewport, the
# height and amount of visible text, and the activity-strip cells (size and colour).
_HARNESS = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0">
<iframe id="page" src="{page}" style="width:{width}px;height:{height}px;border:0;display:block"></iframe>
<script>
window.addEventListener("load", function () {{
  var w = document.getElementById("page").contentWindow, doc = w.document, root = doc.documentElement;
  var outside = [];
  doc.querySelectorAll("body *").forEach(function (el) {{
    var r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > w.innerWidth + 0.5 || r.left < -0.5))
      outside.push(el.tagName + " " + Math.round(r.left) + ".." + Math.round(r.right) + " " +
                   (el.textContent || "").trim().slice(0, 60));
  }});
  var cells = [];
  doc.querySelectorAll("td[bgcolor]").forEach(function (td) {{
    var r = td.getBoundingClientRect();
    cells.push([Math.round(r.width), Math.round(r.height), w.getComputedStyle(td).backgroundColor]);
  }});
  var out = {{innerWidth: w.innerWidth, scrollWidth: root.scrollWidth, bodyScrollWidth: doc.body.scrollWidth,
             height: Math.ceil(doc.body.getBoundingClientRect().bottom +
                     parseFloat(w.getComputedStyle(doc.body).marginBottom)), text: doc.body.innerText, outside: outside.slice(0, 10), cells: cells}};
  var pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}});
</script></body></html>
"""


def measure(chromium: str, base_url: str, root: Path, page: str, width: int, height: int = 800) -> dict[str, Any]:
    """Load `page` (a file under `root`, served at `base_url`) in an iframe `width` px wide and return what the
    harness measured (see _HARNESS)."""
    harness = root / f"_measure_{width}_{Path(page).stem}.html"
    harness.write_text(_HARNESS.format(page=page, width=width, height=height), encoding="utf-8")
    dom = _run(chromium, [f"--window-size={width + 40},{height + 100}", "--dump-dom", f"{base_url}/{harness.name}"])
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    if found is None:
        raise RuntimeError(f"the harness wrote no measurement for {page} at {width} px: {dom[-500:]}")
    from html import unescape

    return json.loads(unescape(found.group(1)))  # type: ignore[no-any-return]


def screenshot(chromium: str, url: str, out: Path, width: int, height: int) -> Path:
    """A PNG of `url` in a window `width` x `height` px."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(chromium, [f"--window-size={width},{height}", f"--screenshot={out}", url])
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot to {out}")
    return out


def png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """(width, height, number of distinct byte values in the decoded scanlines) of a PNG: a blank page
    decodes to a handful of values, a rendered one to hundreds."""
    data = path.read_bytes()
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def must_run_here() -> bool:
    """In CI (CI=true) a missing chromium is a failure, not a skip: .ci/run installs it."""
    return os.environ.get("CI", "").lower() == "true"
