"""Peak memory of the back office's exports (CSV, XLSX, GeoJSON) over every case.

Each export runs in a fresh process, signed in as a dispatcher with every state shown,
reading the streamed body a chunk at a time as a client would; the process reports its
peak resident memory (`ru_maxrss`) and what it held before the export began. At
`--cases N` it exports N/10 and N cases: the exports are streamed, so the peak must stay
flat (the larger within 20% of the smaller).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

from bench.harness import ROOT, Run, database_url, register

FORMATS = ("csv", "xlsx", "geojson")
FLAT = 1.2


def measure(url: str, extension: str) -> None:
    """Export every case in one format from this process; print the figures as JSON."""
    from bench.queue import dispatcher
    from portal import create_app

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False, "SECRET_KEY": "bench"}
    )
    with app.app_context():
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"], session["_fresh"] = str(dispatcher().id), True
        client.get("/admin/?state=")  # load what every request needs before the baseline
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        began = time.perf_counter()
        response = client.get(f"/admin/export/cases.{extension}?state=", buffered=False)
        size = 0
        for chunk in response.response:
            size += len(chunk)
        response.close()
        took = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"baseline_kb": before, "peak_kb": peak, "bytes": size, "seconds": took}))


def _export(url: str, extension: str) -> dict:
    code = f"from bench.exports import measure; measure({url!r}, {extension!r})"
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", code], cwd=ROOT.parent, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@register("export", "peak memory of the CSV, XLSX and GeoJSON exports", "flat: ≤ 1.2×", 1)
def run(run: Run) -> list[dict]:
    """Export N/10 and N cases in each format, each in its own process; compare the peaks."""
    sizes = (run.cases // 10, run.cases)
    urls = {}
    for cases in sizes:
        Run(run.database, cases, 0, database_url(run.database, cases)).app()
        urls[cases] = database_url(run.database, cases)
    results = []
    for extension in FORMATS:
        small, large = (_export(urls[cases], extension) for cases in sizes)
        factor = large["peak_kb"] / small["peak_kb"]
        results.append(
            {
                "benchmark": f"export {extension}",
                "database": run.database,
                "cases": run.cases,
                "peak_rss_mb": large["peak_kb"] / 1024,
                "baseline_rss_mb": large["baseline_kb"] / 1024,
                "megabytes": large["bytes"] / 1e6,
                "seconds": large["seconds"],
                "reference_peak_rss_mb": small["peak_kb"] / 1024,
                "portal_text": _text(large),
                "raw_text": f"{_text(small)} at {sizes[0]:,}",
                "ratio_text": f"{factor:.2f}",
                "summary_text": f"{large['peak_kb'] / 1024:.0f} MB, {factor:.2f}× of {sizes[0]:,}",
                "met": factor <= FLAT,
            }
        )
    return results


def _text(figures: dict) -> str:
    return (
        f"peak {figures['peak_kb'] / 1024:.0f} MB (before {figures['baseline_kb'] / 1024:.0f}), "
        f"{figures['bytes'] / 1e6:.0f} MB in {figures['seconds']:.0f} s"
    )
