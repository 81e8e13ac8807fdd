"""Security headers on every answer, no inline script in any page, and cookies a script or
another site cannot use: a walk over the URL map of a loaded demo district."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask, Response
from flask_login import login_user
from sqlalchemy import select

from portal.models import (
    Case,
    Consultation,
    Contractor,
    Department,
    DetectionRule,
    Device,
    Facility,
    FollowUp,
    FollowUpRound,
    Inspection,
    InspectionPhoto,
    Notice,
    Photo,
    Project,
    User,
    utcnow,
)
from portal.services import (
    accounts,
    apikeys,
    case_links,
    cases,
    consultations,
    demo,
    detections,
    moderation,
    password_links,
    privacy,
    suggestions,
)
from portal.services.photos import PhotoStore
from tests.conftest import load_demo, make_app
from tests.factories import jpeg_photo, make_case, make_consultation, make_user, totp_code

STATIC = Path(__file__).resolve().parents[2] / "static"
REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}
# <script> blocks that are data, never run (and allowed by a CSP without 'unsafe-inline').
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}
ONE_YEAR = 31_536_000


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


# What every answer must carry.


def policy(header: str) -> dict[str, list[str]]:
    """Parse a Content-Security-Policy into its directives."""
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives.setdefault(words[0].lower(), words[1:])
    return directives


def header_problems(response: Response, https: bool = False) -> list[str]:
    """Return what is wrong with the security headers of one answer."""
    wrong = []
    csp = policy(response.headers.get("Content-Security-Policy", ""))
    scripts = csp.get("script-src", csp.get("default-src"))
    if scripts is None:
        wrong.append("no script-src nor default-src")
    for name in ("script-src", "script-src-elem", "script-src-attr", "default-src"):
        unsafe = {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(csp.get(name, []))
        if unsafe:
            wrong.append(f"{name} allows {sorted(unsafe)}")
    if csp.get("frame-ancestors") != ["'none'"]:
        wrong.append(f"frame-ancestors {csp.get('frame-ancestors')}")
    if csp.get("object-src") != ["'none'"]:
        wrong.append(f"object-src {csp.get('object-src')}")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        wrong.append("no X-Content-Type-Options: nosniff")
    if response.headers.get("Referrer-Policy") not in REFERRER_POLICIES:
        wrong.append(f"Referrer-Policy {response.headers.get('Referrer-Policy')}")
    hsts = response.headers.get("Strict-Transport-Security")
    if https and not (hsts and int(re.search(r"max-age=(\d+)", hsts).group(1)) >= ONE_YEAR):
        wrong.append(f"over HTTPS, Strict-Transport-Security is {hsts}")
    if not https and hsts:
        wrong.append("Strict-Transport-Security over plain HTTP")
    return wrong


class ScriptFinder(HTMLParser):
    """Collect what a CSP without 'unsafe-inline' would block, or an attacker would want."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.inline: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=…> event handler")
            if value and re.match(r"\s*(javascript|vbscript):", value, re.IGNORECASE):
                self.found.append(f"<{tag} {name}={value[:40]!r}> script URL")
        if tag == "script":
            given = dict(attrs)
            executable = (given.get("type") or "").lower() not in DATA_SCRIPT_TYPES
            self.inline = "" if executable and not given.get("src") else None
            # A script that blocks the page's parsing keeps a phone waiting (make audit).
            if given.get("src") and "defer" not in given and "async" not in given:
                self.found.append(f"<script src={given['src'][:40]!r}> without defer")

    def handle_data(self, data: str) -> None:
        if self.inline is not None:
            self.inline += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self.inline is not None:
            if self.inline.strip():
                self.found.append(f"inline <script>: {self.inline.strip()[:60]!r}")
            self.inline = None


def page_problems(html: str) -> list[str]:
    """Return the inline scripts, event handlers, script URLs and scripts without defer of a
    page."""
    finder = ScriptFinder()
    finder.feed(html)
    finder.close()
    return finder.found


def test_the_checks_can_fail():
    bad = "<p onclick='x()'>a</p><a href=' JavaScript:alert(1)'>b</a><script>alert(1)</script>"
    bad += '<script src="/static/js/a.js"></script>'
    good = '<script defer src="/static/js/a.js"></script>'
    good += '<script type="application/json">{}</script>'
    assert len(page_problems(bad)) == 4 and page_problems(good) == []
    unsafe = Response(headers={"Content-Security-Policy": "script-src 'self' 'unsafe-inline'"})
    assert len(header_problems(unsafe)) >= 5


# The walk.


@pytest.fixture
def district(app, db):
    """Load the demo district plus one of each thing a private link points at."""
    store = PhotoStore(app.config["UPLOAD_DIR"])
    load_demo(app)
    case, token = make_case(db.session, store, photos=1)
    staff = db.session.scalar(select(User).where(User.role == "admin"))
    consultation = db.session.scalar(
        select(Consultation).where(Consultation.closes_on >= utcnow().date())
    ) or make_consultation(db.session, staff)
    comment, comment_token = consultations.add_comment(
        db.session, consultation, "建议夜间不要施工，附近有学校和医院。", utcnow()
    )
    suggestion, suggestion_token = suggestions.send(
        db.session, "建议增加路灯", "小区门口晚上太暗了，建议增加两盏路灯。", utcnow()
    )
    follower = cases.follow(db.session, case, utcnow(), email="metoo@example.cn")
    blurred = moderation.blur_photo(
        db.session, case, staff, case.photos[0], (0.1, 0.1, 0.3, 0.3), "人脸", store, utcnow()
    )
    db.session.commit()
    site = db.session.scalar(select(Project).where(Project.active_site).order_by(Project.code))
    published = select(Notice).where(Notice.publish_at <= utcnow(), Notice.withdrawn_at.is_(None))
    notice = db.session.scalar(
        published.where(Notice.cover_sha256.is_not(None))
    ) or db.session.scalar(published)
    inspection_photo = db.session.scalar(select(InspectionPhoto))
    walker = db.session.scalar(select(User).where(User.role == "supervisor", User.active))
    round_ = FollowUpRound(month=utcnow().strftime("%Y-%m"), seed=1, share=0.1, run_at=utcnow())
    follow_up = FollowUp(
        round=round_, supervisor_id=walker.id, project_id=site.id, due_on=utcnow().date()
    )
    db.session.add(follow_up)
    # A platform's detection with its snapshot, and the alarm it raised on a demo facility.
    source, _key = apikeys.create(db.session, "城市之眼平台", utcnow())
    lamp = db.session.scalar(select(Facility).order_by(Facility.code))
    detection, alarm = detections.receive(
        db.session,
        source,
        detections.Sent(
            kind="cover_missing", confidence=0.9, detected_at=utcnow(), facility_code=lamp.code
        ),
        jpeg_photo("gray"),
        store,
        utcnow(),
    )
    db.session.commit()
    return {
        "case": case,
        "values": {
            "number": case.number,
            "sha256": case.photos[0].sha256,
            "notice_id": notice.id,
            "consultation_id": consultation.id,
            "comment_id": comment.id,
            "suggestion_id": suggestion.id,
            "code": site.code,
            "report_id": db.session.scalar(select(Inspection.id)),
            "check_id": _site_check(db, store),
            "follow_up_id": follow_up.id,
            "contractor_id": db.session.scalar(select(Contractor.id)),
            "service_code": case.category.code,
            "service_request_id": case.number,
            "photo_id": case.photos[0].id,
            "moderation_id": blurred.id,
            "device_id": db.session.scalar(select(Device.id).order_by(Device.id)),
            "alarm_id": alarm.id,
            "detection_id": detection.id,
        },
        "by_endpoint": {
            "public.track": {"token": token},
            "public.comment_status": {"token": comment_token},
            "public.suggestion_track": {"token": suggestion_token},
            "open311.token": {"token": "no-such-token"},
            "public.privacy_erase": {"token": privacy._serializer().dumps("wang@example.cn")},
            "public.unsubscribe": {"token": case_links.unsubscribe_token(follower)},
            "auth.set_password": {
                "token": password_links.link(staff, password_links.RESET).rsplit("/", 1)[1]
            },
            "public.switch_language": {"code": "en"},
            "public.pending_photo": {"key": "not-a-signed-link"},
            "admin.department": {"code": db.session.scalar(select(Department.code))},
            # The demo dispatcher is enrolled in two-factor sign-in: its reset page is there.
            "admin.reset_two_factor": {
                "user_id": db.session.scalar(select(User.id).where(User.role == "dispatcher"))
            },
            "admin.one_map_layer": {"name": "cases"},
            "admin.detection_rule": {
                "rule_id": db.session.scalar(select(DetectionRule.id).order_by(DetectionRule.id))
            },
            "public.facility_page": {"code": lamp.code},
            "admin.inspection_photo": {
                "sha256": inspection_photo.sha256 if inspection_photo else case.photos[0].sha256
            },
        },
        "private": {
            "tracking": [[case.number, token]],
            "comment_tokens": [[comment.id, comment_token]],
            "suggestion_tokens": [[suggestion.id, suggestion_token]],
        },
    }


def _site_check(db, store: PhotoStore) -> int:
    """Return a supervisor's check on site of a demo finding, held for staff review."""
    from portal.models import SiteCheck, SiteCheckPhoto
    from portal.services.photos import save_for_session
    from tests.factories import jpeg_photo

    finding = db.session.scalar(select(Case).where(Case.source == "inspection"))
    photo = jpeg_photo("navy")
    save_for_session(db.session, store, photo)
    check = SiteCheck(
        case=finding,
        supervisor=finding.inspection.supervisor,
        action="close",
        body="已整改",
        lat=finding.lat,
        lng=finding.lng,
        distance_m=0,
        flagged=True,
        review_reasons=["typed"],
    )
    db.session.add(SiteCheckPhoto(check=check, sha256=photo.sha256, width=1, height=1))
    db.session.commit()
    return check.id


def urls_of(app: Flask, district: dict, blueprints: tuple[str, ...]) -> tuple[list[str], list]:
    """Return a URL for every GET route of some blueprints, and the routes left unfilled."""
    urls, unfilled = [], []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint.split(".")[0] not in blueprints:
            continue
        if rule.endpoint == "public.switch_language":
            continue  # walked last: it changes the language of every page after it
        if rule.endpoint == "static":
            urls += [f"/static/{p.relative_to(STATIC)}" for p in STATIC.rglob("*") if p.is_file()]
            continue
        values = {**district["values"], **district["by_endpoint"].get(rule.endpoint, {})}
        needed = rule.arguments - set(rule.defaults or {}) - {"fmt"}
        if needed - set(values):
            unfilled.append((rule.rule, sorted(needed - set(values))))
            continue
        given = {name: values[name] for name in needed}
        for fmt in ("json", "xml") if "fmt" in rule.arguments else (None,):
            _domain, path = rule.build({**given, **({"fmt": fmt} if fmt else {})})
            urls.append(path)
    return sorted(set(urls)), unfilled


def walk(client, urls: list[str], https: bool = False) -> tuple[dict, list[str]]:
    """GET every URL; return the count of answers by status and every problem found."""
    statuses: dict[int, int] = {}
    wrong = []
    base = "https://localhost" if https else "http://localhost"
    for url in urls:
        with client.get(url, base_url=base) as response:
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                wrong.append(f"{url}: {response.status_code}")
            wrong += [f"{url}: {p}" for p in header_problems(response, https)]
            if response.mimetype == "text/html":
                wrong += [f"{url}: {p}" for p in page_problems(response.get_data(as_text=True))]
    return statuses, wrong


def test_every_page_carries_the_headers_and_no_inline_script(app, client, db, district, auth):
    with client.session_transaction() as session:
        session.update(district["private"])
    public, unfilled = urls_of(app, district, ("public", "auth", "open311", "api", "static"))
    assert not unfilled, f"routes the walk cannot fill in: {unfilled}"
    statuses, wrong = walk(client, public)
    admin = make_user(db.session, "admin")
    auth.login(admin)
    back_office, unfilled = urls_of(app, district, ("admin",))
    assert not unfilled, f"routes the walk cannot fill in: {unfilled}"
    more, wrong_inside = walk(
        client, [*back_office, "/account", "/account/password", "/account/two-factor"]
    )
    supervisor = db.session.scalar(select(User).where(User.role == "supervisor", User.active))
    auth.login(supervisor)
    areas, unfilled = urls_of(app, district, ("supervisor",))
    assert not unfilled, f"routes the walk cannot fill in: {unfilled}"
    # Not enrolled: the enrollment page, with its inline SVG QR code.
    theirs, wrong_supervisor = walk(client, [*areas, "/account/two-factor"])
    auth.logout()
    _statuses, wrong_last = walk(client, ["/lang/en", "/", "/report/new", "/kpi"])
    print(
        f"\nwalked {len(public)} public, {len(back_office) + 3} back-office and {len(areas) + 1} "
        f"supervisor URLs; statuses: public {statuses}, back office {more}, supervisor {theirs}"
    )
    problems = wrong + wrong_inside + wrong_supervisor + wrong_last
    assert not problems, "\n".join(problems)
    assert statuses.get(200, 0) >= 40 and more.get(200, 0) >= 25 and theirs.get(200, 0) >= 2


# HTTPS: HSTS only when the request really came over HTTPS.


def test_hsts_only_over_https(client, reference):
    assert header_problems(client.get("/"), https=False) == []
    assert header_problems(client.get("/", base_url="https://localhost"), https=True) == []
    forged = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forged.headers  # no proxy is trusted


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXIES": 1}])
def test_hsts_behind_a_trusted_proxy(client, reference):
    proxied = client.get("/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "1.2.3.4"})
    assert header_problems(proxied, https=True) == []
    plain = client.get("/", headers={"X-Forwarded-Proto": "http", "X-Forwarded-For": "1.2.3.4"})
    assert "Strict-Transport-Security" not in plain.headers


# Cookies.


def cookie_flags(response: Response) -> dict[str, set[str]]:
    """Return the attributes of each cookie an answer sets, by cookie name (lower case)."""
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        name, _sep, rest = header.partition("=")
        attributes = {part.strip().lower() for part in rest.split(";")[1:]}
        cookies[name] = attributes
    return cookies


@pytest.fixture
def production(monkeypatch, migrated, tmp_path):
    """Return the portal configured as it runs in production (PORTAL_ENV=production)."""
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-of-some-length")
    monkeypatch.setenv("PUBLIC_URL", "https://localhost")  # the one host production answers
    application = make_app(migrated, tmp_path / "uploads", WTF_CSRF_ENABLED=False)
    assert application.config["PORTAL_ENV"] == "production"
    with application.app_context():
        yield application
        from tests.conftest import _db, empty_tables

        _db.session.rollback()
        empty_tables()
        _db.session.remove()
        _db.engine.dispose()


def sign_in(client, db) -> Response:
    user = make_user(db.session, "dispatcher", email="d@example.cn")
    user.password_hash = accounts.hash_password("correct horse battery")
    db.session.commit()
    data = {"email": "d@example.cn", "password": "correct horse battery"}
    second = client.post("/login", data=data, base_url="https://localhost")
    assert second.headers["Location"] == "/login/verify"
    code = {"code": totp_code(db.session, user)}
    return client.post("/login/verify", data=code, base_url="https://localhost")


def test_production_cookies_are_secure_httponly_and_lax(production):
    from portal.extensions import db

    demo.load_reference(db.session)
    db.session.commit()
    client = production.test_client()
    signed_in = sign_in(client, db)
    assert signed_in.status_code == 303
    switched = client.get("/lang/en", base_url="https://localhost")
    for response in (signed_in, switched):
        cookies = cookie_flags(response)
        assert set(cookies) == {"session"}  # the language is kept in the session, no cookie
        assert {"secure", "httponly", "samesite=lax"} <= cookies["session"]
    # Flask-Login's remember-me cookie, should a login ever ask for it.
    with production.test_request_context("/", base_url="https://localhost"):
        login_user(db.session.scalar(select(User)), remember=True)
        remembered = production.process_response(production.make_response("ok"))
    flags = cookie_flags(remembered)
    assert {"secure", "httponly", "samesite=lax"} <= flags["remember_token"]


def test_development_cookies_are_httponly_and_lax_but_work_over_http(client, db, reference):
    signed_in = sign_in(client, db)
    flags = cookie_flags(signed_in)["session"]
    assert {"httponly", "samesite=lax"} <= flags and "secure" not in flags


# Files: photos inline as JPEG, exports as attachments; never sniffed.


def test_served_files_have_the_right_type_and_disposition(app, client, db, district, auth):
    photo = db.session.scalar(select(Photo))
    notice = db.session.scalar(select(Notice).where(Notice.cover_sha256.is_not(None)))
    images = [f"/photos/{photo.sha256}.jpg", f"/photos/{photo.sha256}.thumb.jpg"]
    if notice is not None:
        images.append(f"/notices/{notice.id}/cover.jpg")
    for url in images:
        with client.get(url) as response:
            assert response.status_code == 200, url
            assert response.mimetype == "image/jpeg", url
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            disposition = response.headers.get("Content-Disposition", "inline")
            assert disposition.startswith("inline"), url
    auth.login(make_user(db.session, "admin"))
    downloads = {
        "/cases.csv": ("text/csv", ".csv"),
        "/admin/export/cases.csv": ("text/csv", ".csv"),
        "/admin/export/cases.geojson": ("application/geo+json", ".geojson"),
        "/admin/export/cases.xlsx": (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ".xlsx",
        ),
        "/admin/reports/monthly.xlsx": (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ".xlsx",
        ),
        "/admin/audit.csv": ("text/csv", ".csv"),
    }
    for url, (mimetype, extension) in downloads.items():
        with client.get(url) as response:
            assert response.status_code == 200, url
            assert response.mimetype == mimetype, url
            assert response.headers["X-Content-Type-Options"] == "nosniff", url
            disposition = response.headers["Content-Disposition"]
            assert re.fullmatch(
                rf'attachment; filename=("?)[\w.-]+{re.escape(extension)}\1', disposition
            )
            response.get_data()  # the streamed body is produced without an error
