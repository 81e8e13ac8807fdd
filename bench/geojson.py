"""The map's GeoJSON for a district-sized box, beside the same rows fetched by raw SQL."""

from __future__ import annotations

import json
import statistics
import time
from datetime import date
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import text

from bench.data import ensure_cases
from portal import create_app
from portal.extensions import db

RESULTS = Path(__file__).parent / "results"
WARM_UP = 3
BOX = (120.13, 30.26, 120.18, 30.29)  # about 5 km × 3 km: the demo district
RAW = text(
    "SELECT c.number, c.lat, c.lng, c.state, c.created_at, k.code, k.name_zh "
    "FROM cases c JOIN category k ON k.id = c.category_id "
    "WHERE c.hidden = false AND c.lat BETWEEN :min_lat AND :max_lat "
    "AND c.lng BETWEEN :min_lng AND :max_lng "
    "ORDER BY c.created_at DESC, c.id DESC LIMIT 1000"
)


def percentile(values: list[float], share: float) -> float:
    """Return the value below which the given share of the sorted values fall."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(cases: int, rounds: int, database_url: str) -> None:
    """Measure the endpoint and raw SQL alternately; print medians and ratios."""
    url = database_url or f"sqlite:///{Path(__file__).parent / 'bench.db'}"
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False, "SECRET_KEY": "bench"}
    )
    with app.app_context():
        upgrade()
        added = ensure_cases(db.session, cases)
        print(f"database: {db.engine.dialect.name}, cases: {cases} ({added} added)")
        client = app.test_client()
        query = "/api/v1/cases.geojson?bbox=" + ",".join(map(str, BOX))
        params = dict(zip(("min_lng", "min_lat", "max_lng", "max_lat"), BOX, strict=True))
        portal, raw, features = [], [], 0
        for _ in range(WARM_UP):  # fill caches and pools before anything is timed
            client.get(query)
        for _ in range(rounds):
            began = time.perf_counter()
            response = client.get(query)
            portal.append(time.perf_counter() - began)
            features = len(response.get_json()["features"])
            began = time.perf_counter()
            with db.engine.connect() as connection:
                rows = connection.execute(RAW, params).all()
            raw.append(time.perf_counter() - began)
        assert features == len(rows), (features, len(rows))
    result = {
        "benchmark": "geojson",
        "database": url.split(":", 1)[0],
        "cases": cases,
        "features": features,
        "portal_p50_ms": statistics.median(portal) * 1000,
        "portal_p95_ms": percentile(portal, 0.95) * 1000,
        "raw_p50_ms": statistics.median(raw) * 1000,
        "raw_p95_ms": percentile(raw, 0.95) * 1000,
    }
    result["ratio_p50"] = result["portal_p50_ms"] / result["raw_p50_ms"]
    result["ratio_p95"] = result["portal_p95_ms"] / result["raw_p95_ms"]
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{date.today().isoformat()}.json"
    previous = json.loads(out.read_text()) if out.exists() else []
    out.write_text(json.dumps([*previous, result], indent=2) + "\n")
