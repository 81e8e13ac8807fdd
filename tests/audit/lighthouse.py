"""Lighthouse on every public page, on a phone, in Chinese: `make audit` (not part of make test).

Loads the demo district into a temporary instance, serves it with gunicorn on a free port,
runs Lighthouse (mobile, simulated throttling, zh-CN) on each public page with Debian's
Chromium (CHROME_PATH), and prints the performance and accessibility scores, LCP, CLS,
total blocking time and the bytes transferred. Exits 1 when a page misses a target:
performance at least 95, and at most 100 KiB transferred for a page without charts.

Map tiles come from outside (MAP_TILE_URL), which an audit cannot measure: they are off, as
when the tile server is unreachable, and the pages show their no-tiles notice.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess  # nosec B404 - runs gunicorn and Lighthouse, with fixed arguments
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
LIGHTHOUSE = ROOT / ".audit" / "node_modules" / "lighthouse" / "cli" / "index.js"
PERFORMANCE_TARGET = 95
TRANSFER_TARGET = 100 * 1024  # bytes, for a page without charts
CHART_PAGES = {"/kpi"}
WARM_UP_SECONDS = 10
# The public pages with fixed addresses; one of each kind with an id is found by its list.
PAGES = [
    "/",
    "/cases",
    "/report/new",
    "/kpi",
    "/consultations",
    "/suggestions",
    "/notices",
    "/contractors",
    "/projects",
    "/privacy",
]
FOUND_ON = {  # list page: the pattern of the first link to follow
    "/cases": r'href="(/cases/[0-9A-Za-z-]+)"',
    "/consultations": r'href="(/consultations/\d+)"',
    "/notices": r'href="(/notices/\d+)"',
    "/": r'href="(/projects/[^"/?#]+)"',
}


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(instance: Path, port: int) -> dict[str, str]:
    """Return the settings of the audited portal: all of it inside the temporary folder."""
    return {
        **os.environ,
        "SECRET_KEY": "audit-only",
        "DATABASE_URL": f"sqlite:///{instance / 'portal.db'}",
        "UPLOAD_DIR": str(instance / "uploads"),
        "STATIC_CACHE_DIR": str(instance / "static"),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "MAP_TILE_URL": "",
        "REDIS_URL": "",
        "GEOCODER": "",
    }


def load_demo(env: dict[str, str]) -> None:
    """Migrate the temporary database and load the demo district into it."""
    code = (
        "from flask_migrate import upgrade\n"
        "from portal import create_app\n"
        "from portal.extensions import db\n"
        "from portal.models import utcnow\n"
        "from portal.services import demo\n"
        "from portal.services.photos import PhotoStore\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    upgrade()\n"
        "    demo.load(db.session, PhotoStore(app.config['UPLOAD_DIR']), now=utcnow())\n"
        "    db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)  # nosec B603


def wait_until_up(base: str, server: subprocess.Popen, seconds: float = 60) -> None:
    """Wait for the portal to answer its health check."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the portal stopped while starting")
        try:
            requests.get(f"{base}/healthz", timeout=2).raise_for_status()
            return
        except requests.RequestException:
            time.sleep(0.5)
    raise SystemExit("the portal did not start in time")


def fetch(url: str) -> tuple[int, str]:
    """GET a page in Chinese; return its status and text."""
    answer = requests.get(url, headers={"Accept-Language": "zh-CN,zh;q=0.9"}, timeout=30)
    return answer.status_code, answer.text


def public_pages(base: str) -> list[str]:
    """Return the public pages that answer 200, with one page of each kind with an id."""
    pages = []
    for path in PAGES:
        status, text = fetch(base + path)
        if status != 200:
            print(f"skipped {path}: {status}")
            continue
        pages.append(path)
        found = re.search(FOUND_ON[path], text) if path in FOUND_ON else None
        if found:
            pages.append(found.group(1))
    if "/" not in pages:
        raise SystemExit("the home page does not answer")
    return list(dict.fromkeys(pages))


def lighthouse(url: str, output: Path) -> dict:
    """Run Lighthouse on one page (mobile, simulated throttling, Chinese); return its report."""
    chrome_flags = "--headless=new --no-sandbox --disable-dev-shm-usage --lang=zh-CN"
    command = [
        "node",
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={output}",
        "--only-categories=performance,accessibility",
        "--form-factor=mobile",
        "--throttling-method=simulate",
        "--locale=zh-CN",
        '--extra-headers={"Accept-Language": "zh-CN,zh;q=0.9"}',
        f"--chrome-flags={chrome_flags}",
    ]
    subprocess.run(command, check=True, timeout=300)  # nosec B603 - fixed arguments
    return json.loads(output.read_text())


def figures(report: dict) -> dict[str, float]:
    """Return the figures printed for one page."""
    audits, categories = report["audits"], report["categories"]
    return {
        "performance": round(categories["performance"]["score"] * 100),
        "accessibility": round(categories["accessibility"]["score"] * 100),
        "lcp": audits["largest-contentful-paint"]["numericValue"] / 1000,
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        "tbt": audits["total-blocking-time"]["numericValue"],
        "bytes": audits["total-byte-weight"]["numericValue"],
    }


def misses(path: str, row: dict[str, float]) -> list[str]:
    """Return the targets a page misses."""
    wrong = []
    if row["performance"] < PERFORMANCE_TARGET:
        wrong.append(f"{path}: performance {row['performance']} < {PERFORMANCE_TARGET}")
    if path not in CHART_PAGES and row["bytes"] > TRANSFER_TARGET:
        wrong.append(f"{path}: {row['bytes'] / 1024:.0f} KiB transferred > 100 KiB")
    return wrong


def main() -> int:
    """Audit every public page; print the table; return 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", nargs="*", help="audit only these paths")
    parser.add_argument("--keep", type=Path, help="keep each page's JSON report in this folder")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        raise SystemExit(f"Lighthouse is not installed at {LIGHTHOUSE}: run make audit")
    os.environ.setdefault("CHROME_PATH", shutil.which("chromium") or "/usr/bin/chromium")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="portal-audit-") as folder:
        instance = Path(folder)
        env = environment(instance, port)
        load_demo(env)
        gunicorn = [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers=2",
            "--threads=4",
            f"--bind=127.0.0.1:{port}",
            "wsgi:app",
        ]
        server = subprocess.Popen(gunicorn, env=env, cwd=ROOT)  # nosec B603
        try:
            wait_until_up(base, server)
            pages = args.pages or public_pages(base)
            # Every worker has booted and every page was asked for once before the first
            # measure: a worker still importing the app would slow Chromium down.
            for path in pages:
                fetch(base + path)
            time.sleep(WARM_UP_SECONDS)
            rows = {}
            for number, path in enumerate(pages):
                folder = args.keep or instance
                folder.mkdir(parents=True, exist_ok=True)
                report = lighthouse(base + path, folder / f"{number:02d}.json")
                rows[path] = figures(report)
                print(f"audited {path}", file=sys.stderr)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print("\n| page | performance | accessibility | LCP s | CLS | TBT ms | transfer KiB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    wrong = []
    for path, row in rows.items():
        print(
            f"| {path} | {row['performance']} | {row['accessibility']} | {row['lcp']:.1f} | "
            f"{row['cls']:.3f} | {row['tbt']:.0f} | {row['bytes'] / 1024:.0f} |"
        )
        wrong += misses(path, row)
    for line in wrong:
        print(f"target missed: {line}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
