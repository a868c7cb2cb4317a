"""Regenerate docs/digest.png and docs/alert.png from the demo, in headless Chromium (Debian's `chromium`).

    .venv/bin/python docs/make_pictures.py           # runs `newswatch demo` first (about two minutes)
    .venv/bin/python docs/make_pictures.py --keep    # reuses the demo warehouse of the last run

The digest is the one of the demo's busiest day (as `newswatch demo` writes it, in pipeline/defaults/demo.toml's
digest.timezone); the alert is the e-mail of that day's first new incident. Both are rendered by the same code
that mails them, served on 127.0.0.1 and screenshot 900 px wide at their full height.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import warehouse.connection  # noqa: E402
import warehouse.outbox  # noqa: E402
import warehouse.queries  # noqa: E402
from flows.cli import settings_from  # noqa: E402
from flows.deliver import read_day_digest  # noqa: E402
from pipeline.alerts import alert_detail, render_alert_html  # noqa: E402
from pipeline.digest import render_html  # noqa: E402
from tests.chromium import find_chromium, measure, screenshot, serve_directory  # noqa: E402

DEMO_CONFIG = ROOT / "pipeline" / "defaults" / "demo.toml"
WIDTH = 900


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="reuse the demo warehouse instead of running the demo")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        print("Error: chromium not found (apt-get install chromium)", file=sys.stderr)
        return 1
    settings = settings_from([str(DEMO_CONFIG)])
    if not args.keep or not Path(settings.warehouse.path).exists():
        subprocess.run([sys.executable, "-m", "flows", "demo"], cwd=ROOT, check=True)
    with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True) as con:
        day = warehouse.queries.read_busiest_day(con)
        data = read_day_digest(con, settings, day)  # type: ignore[arg-type]
        first = data.new_incidents[0].incident_id
        detail = alert_detail(next(s for s in warehouse.outbox.read_alert_sources(con) if s.alert.incident_id == first))
    pages = {"digest": render_html(data), "alert": render_alert_html(detail, settings.digest.timezone)}
    with tempfile.TemporaryDirectory(prefix="newswatch-pictures-") as tmp, serve_directory(Path(tmp)) as base:
        for name, html in pages.items():
            (Path(tmp) / f"{name}.html").write_text(html, encoding="utf-8")
            height = measure(chromium, base, Path(tmp), f"{name}.html", WIDTH)["height"]
            out = screenshot(chromium, f"{base}/{name}.html", ROOT / "docs" / f"{name}.png", WIDTH, int(height))
            print(f"{out.relative_to(ROOT)}: {WIDTH} x {height} px ({name} of {day})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
