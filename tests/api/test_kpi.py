"""GET /api/v1/kpi: every rate as a fraction with its counts, and clear 400s."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from portal.models import utcnow
from portal.services import kpi
from tests.kpi_month import build_october

RATES = (
    "on_time_response_rate",
    "resolution_rate",
    "on_time_resolution_rate",
    "satisfaction_rate",
    "rework_rate",
    "major_hazard_rectification_rate",
    "inspection_pass_rate",
)


def test_the_month_as_fractions_with_their_counts(client, db, reference):
    build_october(db)
    body = client.get("/api/v1/kpi?month=2026-10").get_json()
    assert body["month"] == "2026-10" and body["department"] is None
    for key in RATES:
        counts = body["counts"][key]
        assert body[key] == pytest.approx(counts["numerator"] / counts["denominator"])
        assert 0 <= body[key] <= 1
    assert body["satisfaction_rate"] == 0.5
    assert body["counts"]["satisfaction_rate"] == {"numerator": 2, "denominator": 4}
    assert body["targets"]["satisfaction_rate"] == 0.9
    assert body["targets"]["major_hazard_rectification_rate"] == 1.0
    assert body["targets"]["inspection_pass_rate"] == 0.98


def test_a_department_and_a_zone(client, db, reference):
    build_october(db)
    light = client.get("/api/v1/kpi?month=2026-10&department=LIGHT").get_json()
    assert light["department"] == "LIGHT"
    assert light["major_hazard_rectification_rate"] == 1.0
    assert light["inspection_pass_rate"] is None
    assert light["counts"]["inspection_pass_rate"] == {"numerator": 0, "denominator": 0}
    elsewhere = client.get("/api/v1/kpi?month=2026-10&zone=GS-HS").get_json()
    assert all(elsewhere[key] is None for key in RATES)


def test_an_empty_month_is_null_not_zero(client, reference):
    body = client.get("/api/v1/kpi").get_json()
    this_month = kpi.current_month(utcnow(), ZoneInfo("Asia/Shanghai"))
    assert body["month"] == f"{this_month:%Y-%m}"
    assert all(body[key] is None for key in RATES)


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("month=2026-13", "YYYY-MM"),
        ("month=november", "YYYY-MM"),
        ("month=2026-10&department=NOPE", "department"),
        ("month=2026-10&zone=NOPE", "zone"),
    ],
)
def test_bad_parameters_answer_400_with_a_message(client, reference, query, word):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = client.get(f"/api/v1/kpi?{query}")
    assert response.status_code == 400
    assert word in response.get_json()["error"]["message"]
