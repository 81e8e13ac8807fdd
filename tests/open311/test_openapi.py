"""The OpenAPI description matches the routes, and fuzzing it finds no server error."""

from __future__ import annotations

import re

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import select

from portal.models import Case
from tests.open311.conftest import BASE


def test_the_description_lists_exactly_the_routes(app, client):
    described = client.get(f"{BASE}/openapi.json").get_json()
    documented = {
        (method.upper(), path.replace("{format}", "<fmt>"))
        for path, operations in described["paths"].items()
        for method in operations
    }
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("open311.") and rule.endpoint != "open311.openapi":
            path = rule.rule.removeprefix(BASE)
            path = re.sub(r"<any\([^)]*\):fmt>", "<fmt>", path)
            path = re.sub(r"<([a-z_]+)>", r"{\1}", path).replace("{fmt}", "<fmt>")
            routed |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed


def test_fuzzing_finds_no_server_error(app, db, api_key):
    schema = schemathesis.openapi.from_wsgi(f"{BASE}/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 9

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def fuzz(case):
            if case.method == "POST" and isinstance(case.body, dict):
                case.body["api_key"] = api_key
            case.call_and_validate(checks=[not_a_server_error])

        fuzz()
    # Whatever was posted went through the same checks: every case has a real place.
    assert all(c.source == "api" for c in db.session.scalars(select(Case)))
