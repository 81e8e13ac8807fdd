"""CSRF: every route that changes state refuses a post without the form's token, and changes
nothing; the only exemptions are listed here, with the reason."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.security.world import World, concrete, fingerprint, new_client, unsafe_methods

# Routes that take unsafe methods without a CSRF token, and why that is safe.
EXEMPT = {
    "open311.request_post": (
        "Open311 clients are other systems: each request carries its api_key, no session "
        "cookie is involved, so a forged cross-site post has nothing to ride on."
    ),
    "open311.update_post": (
        "Citizens' updates come from other systems with their api_key, as requests do."
    ),
    "api.device_readings": (
        "A sensor posts its readings with its own key in X-Device-Key; it has no session."
    ),
    "api.post_detection": (
        "A video-analytics platform posts detections with its api_key; it has no session."
    ),
}

# What a real form might carry; sent so that only the missing token stops the request.
PLAUSIBLE = {
    "body": "已派人处理，请放心。",
    "reason": "问题没有解决，路面又塌了。",
    "comment": "很满意",
    "rating": "satisfied",
    "email": "resident@example.cn",
    "phone": "13800000000",
    "name": "张三",
    "title": "增加路灯",
    "description": "路面有一个很深的坑，电动车经过很危险。",
    "category": "0101",
    "lat": "30.2741",
    "lng": "120.1551",
    "priority": "urgent",
    "department": "LIGHT",
    "action": "accept",
    "numbers": "2026-000001",
    "number": "2026-000001",
    "case_number": "2026-000001",
    "agree": "y",
    "display_name": "老王",
    "password": "correct horse battery staple",
    "code": "NEWDEPT",
    "name_zh": "新部门",
    "name_en": "New department",
    "role": "admin",
}

ZH = "表单已过期或来源无效，请重新提交。"
EN = "The form had expired or was sent from elsewhere. Please try again."


def acting_role(endpoint: str) -> str | None:
    """Return the most privileged plausible actor of a route (None: a resident)."""
    if endpoint.startswith("supervisor.") and endpoint != "supervisor.apply":
        return "supervisor"
    if endpoint.startswith("admin.") or endpoint in (
        "auth.logout",
        "auth.change_password",
        "auth.sign_out_everywhere",
    ):
        return "admin"
    return None


def checked_routes(app: Flask) -> list[tuple[str, str]]:
    """Return (endpoint, method) of every unsafe-method route the walk must check."""
    return sorted(
        {
            (rule.endpoint, method)
            for rule in app.url_map.iter_rules()
            for method in unsafe_methods(rule)
            if rule.endpoint not in EXEMPT
        }
    )


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_unsafe_route_refuses_a_post_without_token(app, db, world: World, language):
    before = fingerprint(db)
    walked = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in EXEMPT or not unsafe_methods(rule):
            continue
        path = concrete(rule, world)
        for method in unsafe_methods(rule):
            role = acting_role(rule.endpoint)
            client = new_client(app, world.users.get(role), language)
            response = client.open(path, method=method, data=PLAUSIBLE)
            where = f"{method} {path} as {role or 'resident'}"
            assert response.status_code == 400, where
            page = response.get_data(as_text=True)
            assert (EN if language == "en" else ZH) in page, where
            assert (ZH if language == "en" else EN) not in page, where
            walked.append((rule.endpoint, method))
    assert sorted(set(walked)) == checked_routes(app)
    assert len(walked) >= 40  # the walk really went through the back office
    assert fingerprint(db) == before


def form_token(client: FlaskClient, path: str) -> str:
    """Return the CSRF token of the first form of a page."""
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_a_token_from_another_session_is_refused(app, db, world: World):
    stolen = form_token(new_client(app), f"/cases/{world.case.number}")
    client = new_client(app)
    client.get(f"/cases/{world.case.number}")
    before = fingerprint(db)
    response = client.post(
        f"/cases/{world.case.number}/follow", data={"email": "x@example.cn", "csrf_token": stolen}
    )
    assert response.status_code == 400
    assert fingerprint(db) == before


def test_the_same_post_with_its_token_goes_through(app, db, world: World):
    """The walk proves something only if a post with the token would have changed state."""
    client = new_client(app)
    token = form_token(client, f"/cases/{world.case.number}")
    before = fingerprint(db)
    response = client.post(
        f"/cases/{world.case.number}/follow", data={"email": "x@example.cn", "csrf_token": token}
    )
    assert response.status_code == 303
    assert fingerprint(db)["case_follower"] != before["case_follower"]


def test_exemptions_are_real_routes_that_authenticate_otherwise(app, client, db, world: World):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if unsafe_methods(rule)}
    assert set(EXEMPT) <= endpoints, "an exemption names a route that no longer exists"
    before = fingerprint(db)
    # Without its api_key an Open311 post is refused by the API, in the API's own format.
    response = client.post("/open311/v2/requests.json", data={"service_code": "0101"})
    assert response.status_code == 403
    assert response.is_json and response.json[0]["code"] == 403
    # Without the device's key, or with a wrong one, readings are refused.
    readings = f"/api/v1/devices/{world.device_code}/readings"
    sent = [{"ts": "2026-11-29T08:00:00+00:00", "values": {"depth": 30}}]
    for headers in ({}, {"X-Device-Key": "not-its-key"}):
        refused = client.post(readings, json=sent, headers=headers)
        assert refused.status_code == 401 and refused.json["error"]["code"] == 401
    # Without an api_key, a detection is refused.
    detection = client.post("/api/v1/detections", data={"kind": "cover_missing"})
    assert detection.status_code == 401 and detection.json["error"]["code"] == 401
    after = fingerprint(db)
    assert after == before
