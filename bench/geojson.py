"""The map's GeoJSON for a district-sized box, beside the same rows fetched by raw SQL."""

from __future__ import annotations

from sqlalchemy import text

from bench.harness import Run, compared, register, side_by_side
from portal.extensions import db

BOX = (120.13, 30.26, 120.18, 30.29)  # about 5 km × 3 km: the demo district
RAW = text(
    "SELECT c.number, c.lat, c.lng, c.state, c.created_at, k.code, k.name_zh "
    "FROM cases c JOIN category k ON k.id = c.category_id "
    "WHERE c.hidden = false AND c.lat BETWEEN :min_lat AND :max_lat "
    "AND c.lng BETWEEN :min_lng AND :max_lng "
    "ORDER BY c.created_at DESC, c.id DESC LIMIT 1000"
)


@register("geojson", "map GeoJSON for a district-sized box vs raw SQL", "≤ 2× raw SQL", 30)
def run(run: Run) -> list[dict]:
    """Measure the endpoint and raw SQL alternately; return medians and ratios."""
    app = run.app()
    with app.app_context():
        client = app.test_client()
        query = "/api/v1/cases.geojson?bbox=" + ",".join(map(str, BOX))
        params = dict(zip(("min_lng", "min_lat", "max_lng", "max_lat"), BOX, strict=True))

        def raw() -> list:
            with db.engine.connect() as connection:
                return connection.execute(RAW, params).all()

        features = len(client.get(query).get_json()["features"])
        assert features == len(raw()), features  # the same rows, both ways
        portal, reference = side_by_side(lambda: client.get(query), raw, run.rounds)
    return [{**compared("geojson", run, portal, reference, 2.0), "features": features}]
