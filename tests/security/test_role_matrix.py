"""Who gets in where: every route of the URL map, for every kind of visitor, against an explicit
table; objects that belong to someone else stay closed to them."""

from __future__ import annotations

import pytest

from portal.services.cases import new_tracking_token
from tests.security.world import (
    ACTORS,
    World,
    concrete,
    new_client,
)

OK, LOGIN, REFUSED, NOT_FOUND, ELSEWHERE = "ok", "login", "refused", "not found", "elsewhere"


def access(default: str, **actors: str) -> dict[str, str]:
    """Return what each actor gets from a route: `default` unless named."""
    assert set(actors) <= set(ACTORS)
    return {actor: actors.get(actor, default) for actor in ACTORS}


PUBLIC = access(OK)
# A private link: only its holder has the token; everyone else tries one of their own making.
PRIVATE_LINK = access(NOT_FOUND, resident=OK)
# The page right after sending: only the browser that sent it is shown the private link.
JUST_SENT = access(ELSEWHERE, resident=OK)
SIGNED_IN = access(OK, anonymous=LOGIN, resident=LOGIN)
SUPERVISORS = access(REFUSED, anonymous=LOGIN, resident=LOGIN, supervisor=OK, other_supervisor=OK)
OWN_INSPECTION = access(REFUSED, anonymous=LOGIN, resident=LOGIN, supervisor=OK)
STAFF = access(OK, anonymous=LOGIN, resident=LOGIN, supervisor=REFUSED, other_supervisor=REFUSED)
CASE_WORK = STAFF | {"other_handler": REFUSED}
DISPATCH = access(REFUSED, anonymous=LOGIN, resident=LOGIN, dispatcher=OK, admin=OK)
ADMIN = access(REFUSED, anonymous=LOGIN, resident=LOGIN, admin=OK)
# The code step of signing in: without a right password just before, it sends back to sign in.
SECOND_STEP = access(LOGIN)

# Every endpoint of the URL map; a new route without an entry fails the test.
ROUTES = {
    "static": PUBLIC,
    "public.index": PUBLIC,
    "public.healthz": PUBLIC,
    "public.switch_language": PUBLIC,
    "public.case_list": PUBLIC,
    "public.case_page": PUBLIC,
    "public.cases_csv": PUBLIC,
    "public.follow": PUBLIC,
    "public.photo": PUBLIC,
    "public.report_new": PUBLIC,
    "public.report_done": PUBLIC,
    # A report form's pending photo: only through the signed link that form was given.
    "public.pending_photo": access(NOT_FOUND),
    "public.track": PRIVATE_LINK,
    "public.erase_contact": PRIVATE_LINK,
    "public.privacy_page": PUBLIC,
    "public.privacy_erase": PRIVATE_LINK,  # the signed link mailed to the resident
    "public.track_lookup": PUBLIC,
    "public.track_open": PUBLIC,  # a case number and its query code
    "public.track_link": PUBLIC,  # mails only to the address given with the case
    "public.report_send_link": PUBLIC,  # mails only for the browser that reported
    "public.follow_email": PUBLIC,  # only to this browser's own "me too"
    "public.unsubscribe": PRIVATE_LINK,  # the signed link in a follower's mail
    "admin.block_list": DISPATCH,
    "admin.unblock": DISPATCH,
    "admin.review_queue": DISPATCH,
    "admin.facility_repeats": DISPATCH,
    "admin.review_decide": DISPATCH,
    "public.rate": PRIVATE_LINK,
    "public.reopen": PRIVATE_LINK,
    "public.add_info": PRIVATE_LINK,
    "public.reporter_updates": PRIVATE_LINK,
    "public.kpi_page": PUBLIC,
    "public.contractor_list": PUBLIC,
    "public.project_list": PUBLIC,
    "public.project_page": PUBLIC,
    "public.project_notice_feed": PUBLIC,
    "public.notice_list": PUBLIC,
    "public.notice_page": PUBLIC,
    "public.notice_cover": PUBLIC,
    "public.notice_feed": PUBLIC,
    "public.consultation_list": PUBLIC,
    "public.consultation_page": PUBLIC,
    "public.comment": PUBLIC,
    "public.comment_sent": JUST_SENT,
    "public.comment_status": PRIVATE_LINK,
    "public.suggestion_list": PUBLIC,
    "public.suggestion_new": PUBLIC,
    "public.suggestion_sent": JUST_SENT,
    "public.suggestion_track": PRIVATE_LINK,
    "auth.login": PUBLIC,
    "auth.logout": PUBLIC,
    "auth.change_password": SIGNED_IN,
    "auth.account": SIGNED_IN,
    "auth.sign_out_everywhere": SIGNED_IN,
    "auth.forgot_password": PUBLIC,
    "auth.set_password": PRIVATE_LINK,
    "auth.verify_login": SECOND_STEP,
    "auth.two_factor_page": SIGNED_IN,
    "auth.regenerate_recovery_codes": SIGNED_IN,
    "auth.disable_two_factor": SIGNED_IN,
    "supervisor.apply": PUBLIC,
    "supervisor.index": SUPERVISORS,
    "supervisor.inspect": SUPERVISORS,
    "supervisor.report": OWN_INSPECTION,
    "supervisor.verify": OWN_INSPECTION,
    "api.cases_geojson": PUBLIC,
    "api.cases_nearby": PUBLIC,
    "api.facilities_nearby": PUBLIC,
    "api.kpi_month": PUBLIC,
    "open311.discovery": PUBLIC,
    "open311.openapi": PUBLIC,
    "open311.services_list": PUBLIC,
    "open311.service_definition": PUBLIC,
    "open311.requests_list": PUBLIC,
    "open311.request_one": PUBLIC,
    "open311.request_post": PUBLIC,  # with an api_key, whoever sends it
    "open311.token": PUBLIC,
    "open311.updates": PUBLIC,
    "open311.update_post": PUBLIC,  # with an api_key, whoever sends it
    "admin.index": STAFF,
    "admin.kpi_page": STAFF,
    "admin.export_csv": STAFF,
    "admin.export_xlsx": STAFF,
    "admin.export_geojson": STAFF,
    "admin.case_page": CASE_WORK,
    "admin.act": CASE_WORK,
    "admin.bulk": DISPATCH,
    "admin.new_case": DISPATCH,
    "admin.monthly_workbook": DISPATCH,
    "admin.inspection_list": DISPATCH,
    "admin.inspection_detail": DISPATCH,
    "admin.inspection_photo": DISPATCH,
    "admin.moderate_redact": DISPATCH,
    "admin.moderate_hide_photo": DISPATCH,
    "admin.moderate_blur_photo": DISPATCH,
    "admin.moderate_hide_case": DISPATCH,
    "admin.moderation_undo": ADMIN,
    "admin.moderation_original": DISPATCH,
    "admin.case_photo": CASE_WORK,
    "admin.outbox_page": ADMIN,
    "admin.outbox_retry": ADMIN,
    "admin.site_check_list": DISPATCH,
    "admin.site_check_detail": DISPATCH,
    "admin.site_check_photo": DISPATCH,
    "admin.spot_checks": DISPATCH,
    "admin.consultation_admin": DISPATCH,
    "admin.consultation_new": DISPATCH,
    "admin.consultation_detail": DISPATCH,
    "admin.consultation_respond": DISPATCH,
    "admin.moderate": DISPATCH,
    "admin.suggestion_admin": DISPATCH,
    "admin.decide_suggestion": DISPATCH,
    "admin.notice_admin_list": DISPATCH,
    "admin.notice_form": DISPATCH,
    "admin.notice_detail": DISPATCH,
    "admin.notice_admin_cover": DISPATCH,
    "admin.notice_publish": DISPATCH,
    "admin.notice_unschedule": DISPATCH,
    "admin.notice_withdraw": DISPATCH,
    "admin.users": ADMIN,
    "admin.toggle_user": ADMIN,
    "admin.reset_two_factor": ADMIN,
    "admin.departments": ADMIN,
    "admin.department": ADMIN,
    "admin.rules": ADMIN,
    "admin.delete_rule": ADMIN,
    "admin.zone_list": ADMIN,
    "admin.calendar_page": ADMIN,
    "admin.audit": ADMIN,
    "admin.audit_csv": ADMIN,
    "admin.projects": ADMIN,
    "admin.project_form": ADMIN,
    "admin.contractors": ADMIN,
    "admin.applications": ADMIN,
    "admin.decide": ADMIN,
    "admin.supervisor_list": ADMIN,
    "admin.suspend_supervisor": ADMIN,
    "admin.lists": ADMIN,
    "admin.decide_entry": ADMIN,
    "admin.reply_templates": ADMIN,
    "admin.delete_reply_template": ADMIN,
    "admin.api_keys": ADMIN,
    "admin.revoke_api_key": ADMIN,
    "admin.api_key_mail": ADMIN,
    "admin.one_map_page": STAFF,
    "admin.one_map_layer": STAFF,
    "admin.hotspot_list": DISPATCH,
    "admin.follow_up_rounds": DISPATCH,
    "admin.follow_up_review": DISPATCH,
    "supervisor.follow_up": OWN_INSPECTION,
    # The facility register: its public pages, and the admins' import and downloads.
    "public.facility_page": PUBLIC,
    "api.facilities_geojson": PUBLIC,
    "admin.facility_import": ADMIN,
    "admin.facility_export_csv": ADMIN,
    "admin.facility_export_geojson": ADMIN,
    # Sensors: every staff member watches devices and works alarms (the alarm's steps check
    # the role themselves); only admins register devices and change detection rules.
    "admin.device_list": STAFF,
    "admin.device_page": STAFF,
    "admin.device_series": STAFF,
    "admin.device_new": ADMIN,
    "admin.device_import": ADMIN,
    "admin.alarm_queue": STAFF,
    "admin.alarm_bulk": STAFF,
    "admin.alarm_page": STAFF,
    "admin.detection_snapshot": STAFF,
    "admin.detection_rules": ADMIN,
    "admin.detection_rule": ADMIN,
    "api.device_readings": PUBLIC,  # with the device's own key, whoever sends it
    "api.post_detection": PUBLIC,  # with a platform's api_key, whoever sends it
}

# A valid-looking token that opens nothing: what a visitor without the link can try.
FOREIGN = {
    "token": new_tracking_token()[0],
}


def outcome(response, method: str) -> str:
    """Classify an answer: let through, sent to sign in, refused, or not there."""
    status, location = response.status_code, response.headers.get("Location", "")
    if status in (301, 302, 303) and "/login" in location:
        return LOGIN
    if status in (403,):
        return REFUSED
    if status in (404, 410):  # 410: a signed link that is not (or no longer) valid
        return NOT_FOUND
    if status in (301, 302, 303) and method == "GET":
        return ELSEWHERE
    if 200 <= status < 400:
        return OK
    # A post that got past the guards and was refused as a form (no data was sent).
    if method == "POST" and status in (400, 409, 422):
        return OK
    return f"status {status}"


def matches(got: str, expected: str, endpoint: str) -> bool:
    """Tell whether an answer is what the table expects."""
    if expected == OK and got == ELSEWHERE:
        # Redirects that are the page's normal answer to a visitor (not a sign-in).
        return endpoint in REDIRECTING
    if expected == REFUSED:
        return got in (REFUSED, NOT_FOUND)
    return got == expected


# Routes whose normal answer to a plain GET is a redirect.
REDIRECTING = {
    "public.switch_language",
    "public.report_done",  # to the public case page, when this browser did not report it
    "auth.login",  # a signed-in visitor goes to their start page
    "admin.alarm_bulk",  # a refusal's address, opened again: back to the alarm queue
}


# Routes that end the session: tried after every other.
SIGN_OUT = ("/account/sign-out-everywhere", "/logout")


# What a GET to a route needs in its query string to be a real request.
QUERY = {
    "api.cases_geojson": {"bbox": "120.1,30.2,120.2,30.3"},
    "api.cases_nearby": {"lat": "30.2741", "lng": "120.1551", "category": "0101"},
    "admin.one_map_layer": {"bbox": "120.1,30.2,120.2,30.3"},
    "api.facilities_nearby": {"lat": "30.2741", "lng": "120.1551", "type": "0129"},
    "api.facilities_geojson": {"bbox": "120.13,30.26,120.18,30.29"},
}


@pytest.fixture
def app_config():
    """Switch CSRF off: this test is about who gets past the guards, not about tokens."""
    return {"WTF_CSRF_ENABLED": False}


def data_for(endpoint: str, world: World) -> dict:
    """Return what a post to a route carries (nothing but what it needs to be heard)."""
    if endpoint == "open311.request_post":
        return {"api_key": world.api_key}
    if endpoint == "open311.update_post":
        return {"api_key": world.api_key, "service_request_id": world.case.number}
    if endpoint == "api.post_detection":
        return {"api_key": world.api_key}
    return {}


def headers_for(endpoint: str, world: World) -> dict:
    """Return the headers a request to a route carries: a device sends its key in one."""
    if endpoint == "api.device_readings":
        return {"X-Device-Key": world.device_key}
    return {}


def client_of(app, world: World, actor: str):
    """Return a client for an actor; the resident's browser remembers what it sent."""
    client = new_client(app, world.users.get(actor))
    if actor == "resident":
        with client.session_transaction() as session:
            session["comment_tokens"] = [[world.comment_id, world.comment_token]]
            session["suggestion_tokens"] = [[world.suggestion_id, world.suggestion_token]]
    return client


def test_every_route_is_in_the_table(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(ROUTES) == set(), "new routes need an entry in ROUTES"
    assert set(ROUTES) - endpoints == set(), "ROUTES names routes that are gone"


@pytest.mark.parametrize("actor", ACTORS)
def test_role_matrix_over_the_url_map(app, db, world: World, actor: str):
    client = client_of(app, world, actor)
    wrong = []
    # Signing out last, so that every other route is tried signed in.
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule in SIGN_OUT, r.rule)):
        expected = ROUTES[rule.endpoint][actor]
        replace = FOREIGN if "<token>" in rule.rule and actor != "resident" else {}
        if rule.endpoint == "open311.token":
            replace = {}
        path = concrete(rule, world, **replace)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(
                path,
                method=method,
                data=data_for(rule.endpoint, world),
                headers=headers_for(rule.endpoint, world),
                query_string=QUERY.get(rule.endpoint) if method == "GET" else None,
            )
            response.close()
            got = outcome(response, method)
            assert response.status_code < 500, f"{method} {path} as {actor}"
            if not matches(got, expected, rule.endpoint):
                wrong.append(f"{method} {path} ({rule.endpoint}): expected {expected}, got {got}")
    assert wrong == [], f"as {actor}:\n" + "\n".join(wrong)
