"""A small world of real objects for hostile-input tests, the URL map filled from it, and a
fingerprint of the whole database to prove a refused request changed nothing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import HealthCheck, settings
from sqlalchemy import func, select, text
from werkzeug.routing import Rule

from portal.models import (
    CHECKLIST,
    Base,
    Case,
    Contractor,
    Department,
    DetectionRule,
    FollowUp,
    FollowUpRound,
    ListEntry,
    Notice,
    OutboxMessage,
    Project,
    RoutingRule,
    SiteCheck,
    SiteCheckPhoto,
    User,
    utcnow,
)
from portal.services import (
    apikeys,
    blocklist,
    case_links,
    cases,
    consultations,
    detections,
    devices,
    inspections,
    moderation,
    notices,
    password_links,
    privacy,
    replies,
    suggestions,
    supervisors,
    workflow,
)
from portal.services.photos import PhotoStore, save_for_session
from tests.factories import (
    CENTRE,
    jpeg_photo,
    make_case,
    make_consultation,
    make_facility,
    make_user,
    on_site,
)

# Examples stay few so the suite stays quick; each example goes to many parameters instead.
FEW = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Who may knock: the brief's actors, with the owner and a stranger for supervisors' objects.
ACTORS = (
    "anonymous",
    "resident",
    "supervisor",
    "other_supervisor",
    "other_handler",
    "handler",
    "dispatcher",
    "admin",
)

# What identifies the reporter of the world's case; no public page may show it.
REPORTER = {"name": "王秘密", "phone": "13912345678", "email": "wang.secret@example.cn"}


@dataclass
class World:
    """Real objects of every kind a route can name, with their owners."""

    users: dict[str, User]
    case: Case  # reported by the resident, dispatched to ROAD
    token: str  # the resident's private link to it
    other_case: Case  # another resident's, dispatched to LIGHT
    other_token: str
    finding: Case  # made by the supervisor's inspection
    project: Project
    draft_id: int  # the supervisor's unsubmitted report
    draft_note: str
    report_id: int  # the supervisor's submitted report
    check_id: int  # the supervisor's check on site of the finding, waiting for staff review
    check_sha: str  # its photo
    consultation_id: int
    comment_id: int
    comment_token: str
    other_comment_id: int
    other_comment_token: str
    suggestion_id: int
    suggestion_token: str
    other_suggestion_id: int
    other_suggestion_token: str
    notice_id: int
    draft_notice_id: int
    application_id: int
    api_key: str
    api_key_id: int  # another system's, that an admin may revoke
    contractor_id: int
    entry_id: int
    blocked_id: int  # a block-list entry
    erase_token: str  # the resident's signed link that erases their contacts
    unsubscribe_token: str  # a "me too" follower's signed link that stops the case's mail
    password_token: str  # a mailed set-password link (an account holder's, opened by them)
    template_id: int
    follow_up_id: int  # the supervisor's follow-up check (回头看) of the project
    rule_id: int
    bystander_id: int  # an account the admin may switch off without locking anyone out
    moderation_id: int  # a region of the case's photo blurred by the admin (its original kept)
    message_id: int  # a message in the outbox
    facility_code: str  # a street lamp of the register
    device_id: int  # a water-depth sensor on the project's site
    device_code: str
    device_key: str  # its own key, with which it posts readings
    detection_id: int  # a platform's detection, with its snapshot
    alarm_id: int  # the alarm that detection raised
    detection_rule_id: int  # a sensor rule (not a routing rule)


def _dispatch(session, case: Case, dispatcher: User, code: str) -> None:
    department = session.scalar(select(Department).where(Department.code == code))
    workflow.accept(session, case, dispatcher, "normal", utcnow())
    workflow.route(session, case, dispatcher, department, utcnow())


def _filled(fail: tuple[str, ...] = ()) -> dict:
    return {
        item: {
            "result": "fail" if item in fail else "pass",
            "note": "围挡倒了" if item in fail else "",
        }
        for item in CHECKLIST
    }


def _notice(s, store, author: User, title: str, project: Project, published: bool) -> Notice:
    draft = notices.NoticeDraft(
        title=title, body="本周完成管道铺设 **120 米**。", kind="progress", project=project
    )
    draft.cover = jpeg_photo("blue")
    notice = notices.save(s, author, Notice(), draft, store, utcnow())
    if published:
        notices.publish(s, author, notice, now=utcnow())
    s.commit()
    return notice


def build_world(app, db) -> World:
    """Build one object of every kind the URL map names, each with an owner."""
    s = db.session
    road = s.scalar(select(Department).where(Department.code == "ROAD"))
    light = s.scalar(select(Department).where(Department.code == "LIGHT"))
    users = {
        "supervisor": make_user(s, "supervisor", email="owner.sup@example.cn"),
        "other_supervisor": make_user(s, "supervisor", email="other.sup@example.cn"),
        "handler": make_user(s, "handler", department=road),
        "other_handler": make_user(s, "handler", department=light),
        "dispatcher": make_user(s, "dispatcher"),
        "admin": make_user(s, "admin"),
    }
    # With a second factor, so that an admin's reset page for the bystander is there.
    bystander = make_user(
        s, "handler", department=light, email="bystander@example.cn", two_factor_on=True
    )
    dispatcher = users["dispatcher"]
    store = PhotoStore(app.config["UPLOAD_DIR"])
    case, token = make_case(
        s,
        store,
        photos=1,
        name=REPORTER["name"],
        phone=REPORTER["phone"],
        email=REPORTER["email"],
        hide_name=True,
    )
    _dispatch(s, case, dispatcher, "ROAD")
    other_case, other_token = make_case(s, position=(30.275, 120.16), email="li@example.cn")
    _dispatch(s, other_case, dispatcher, "LIGHT")

    firm = Contractor(name="杭州市政建设有限公司", credit_code="91110000600037341L")
    project = Project(
        code="GS-2026-01",
        name="湖墅南路排水改造工程",
        lat=CENTRE[0],
        lng=CENTRE[1],
        geometry={"type": "Point", "coordinates": [CENTRE[1], CENTRE[0]]},
        phase="construction",
        active_site=True,
        contractor=firm,
        department=road,
    )
    s.add(project)
    s.flush()
    now = utcnow()
    report = inspections.draft(s, users["supervisor"], project, "key-submitted", now)
    inspections.save(report, _filled(fail=("fencing",)), on_site(*CENTRE, at=now), now=now)
    inspections.add_photo(s, report, "fencing", jpeg_photo("red"), store, now)
    [finding] = inspections.submit(s, report, now)
    draft = inspections.draft(s, users["supervisor"], project, "key-draft", now + timedelta(1))
    draft_note = "草稿里的私密备注"
    check_photo = jpeg_photo("teal")
    save_for_session(s, store, check_photo)
    check = SiteCheck(
        case=finding,
        supervisor=users["supervisor"],
        action="close",
        body="已整改",
        lat=CENTRE[0],
        lng=CENTRE[1],
        distance_m=0,
        flagged=True,
        review_reasons=["typed"],
        created_at=now,
    )
    s.add(SiteCheckPhoto(check=check, sha256=check_photo.sha256, width=1, height=1, created_at=now))
    inspections.save(
        draft, {"dust": {"result": "fail", "note": draft_note}}, on_site(*CENTRE, at=now), now=now
    )

    consultation = make_consultation(s, dispatcher)
    comment, comment_token = consultations.add_comment(
        s, consultation, "施工时段请避开早高峰。", utcnow(), email="c1@example.cn"
    )
    other_comment, other_comment_token = consultations.add_comment(
        s, consultation, "别人的意见。", utcnow(), email="c2@example.cn"
    )
    suggestion, suggestion_token = suggestions.send(
        s, "增加路灯", "教场路夜里太暗。", utcnow(), email="s1@example.cn"
    )
    other_suggestion, other_suggestion_token = suggestions.send(
        s, "别人的建议", "别人的内容。", utcnow(), email="s2@example.cn"
    )
    application = supervisors.apply(
        s, "申请人", "13800000000", "apply@example.cn", None, "", utcnow(), agreed_at=utcnow()
    )
    source, key = apikeys.create(s, "测试系统", utcnow())
    key_row, _ = apikeys.create(s, "将被吊销的系统", utcnow())
    entry = ListEntry(contractor=firm, kind="black", reason="多次扬尘", proposed_at=utcnow())
    s.add(entry)
    template = replies.add(s, users["admin"], "已派员", "已派员现场查看。")
    rule_id = s.scalar(select(func.min(RoutingRule.id)))
    blocked = blocklist.add(s, dispatcher, "email", "spam@example.cn", "广告", utcnow())
    follower = cases.follow(s, case, utcnow(), email="metoo@example.cn")
    follow_up = FollowUp(
        supervisor_id=users["supervisor"].id,
        project_id=project.id,
        due_on=now.date(),
        review_reasons=[],
        round=FollowUpRound(month=now.strftime("%Y-%m"), seed=1, share=0.1, run_at=now),
    )
    s.add(follow_up)
    blurred = moderation.blur_photo(
        s, case, users["admin"], case.photos[0], (0.1, 0.1, 0.3, 0.3), "人脸", store, utcnow()
    )
    facility = make_facility(s, (30.265, 120.14), code="330105012900000001")
    device, device_key = devices.register(
        s, None, devices.DeviceData(code="WD-001", kind="water_depth", project_id=project.id), now
    )
    detection, alarm = detections.receive(
        s,
        source,
        detections.Sent(
            kind="cover_missing", confidence=0.9, detected_at=now, facility_code=facility.code
        ),
        jpeg_photo("gray"),
        store,
        now,
    )
    s.commit()
    erase_token = privacy._serializer().dumps(REPORTER["email"])
    password_link = password_links.link(users["other_supervisor"], password_links.RESET)
    notice = _notice(s, store, dispatcher, "湖墅南路雨污分流改造工程进展", project, published=True)
    draft_notice = _notice(s, store, dispatcher, "未发布的草稿公告", project, published=False)
    return World(
        users=users,
        case=case,
        token=token,
        other_case=other_case,
        other_token=other_token,
        finding=finding,
        project=project,
        draft_id=draft.id,
        draft_note=draft_note,
        report_id=report.id,
        check_id=check.id,
        check_sha=check_photo.sha256,
        consultation_id=consultation.id,
        comment_id=comment.id,
        comment_token=comment_token,
        other_comment_id=other_comment.id,
        other_comment_token=other_comment_token,
        suggestion_id=suggestion.id,
        suggestion_token=suggestion_token,
        other_suggestion_id=other_suggestion.id,
        other_suggestion_token=other_suggestion_token,
        notice_id=notice.id,
        draft_notice_id=draft_notice.id,
        application_id=application.id,
        api_key=key,
        api_key_id=key_row.id,
        contractor_id=firm.id,
        entry_id=entry.id,
        blocked_id=blocked.id,
        erase_token=erase_token,
        unsubscribe_token=case_links.unsubscribe_token(follower),
        password_token=password_link.rsplit("/", 1)[1],
        template_id=template.id,
        follow_up_id=follow_up.id,
        rule_id=rule_id,
        bystander_id=bystander.id,
        moderation_id=blurred.id,
        message_id=s.scalar(select(func.min(OutboxMessage.id))),
        facility_code=facility.code,
        device_id=device.id,
        device_code=device.code,
        device_key=device_key,
        detection_id=detection.id,
        alarm_id=alarm.id,
        detection_rule_id=s.scalar(select(func.min(DetectionRule.id))),
    )


def url_values(world: World) -> dict[str, str]:
    """Return a value from the world for every URL argument the map uses."""
    return {
        "number": world.case.number,
        "token": world.token,
        "code": "ROAD",  # a department; projects take theirs below
        "user_id": str(world.bystander_id),
        "rule_id": str(world.rule_id),
        "action": "note",
        "sha256": world.case.photos[0].sha256,
        "filename": "css/site.css",
        "report_id": str(world.report_id),
        "check_id": str(world.check_id),
        "application_id": str(world.application_id),
        "contractor_id": str(world.contractor_id),
        "entry_id": str(world.entry_id),
        "notice_id": str(world.notice_id),
        "decision": "approve",
        "template_id": str(world.template_id),
        "key_id": str(world.api_key_id),
        "consultation_id": str(world.consultation_id),
        "comment_id": str(world.comment_id),
        "suggestion_id": str(world.suggestion_id),
        "follow_up_id": str(world.follow_up_id),
        "name": "cases",
        "service_request_id": world.case.number,
        "service_code": world.case.category.code,
        "fmt": "json",
        "photo_id": str(world.case.photos[0].id),
        "moderation_id": str(world.moderation_id),
        "message_id": str(world.message_id),
        "device_id": str(world.device_id),
        "alarm_id": str(world.alarm_id),
        "detection_id": str(world.detection_id),
    }


# Routes whose <code> is a project's, and the public photo route that takes a public case's.
PROJECT_CODE = {
    "public.project_page",
    "public.project_notice_feed",
    "supervisor.inspect",
    "admin.project_form",
}
# The back office's notice pages work on the draft (a published notice cannot be edited).
DRAFT_NOTICE = {
    "admin.notice_form",
    "admin.notice_detail",
    "admin.notice_admin_cover",
    "admin.notice_publish",
    "admin.notice_unschedule",
    "admin.notice_withdraw",
}
TOKENS = {
    "public.comment_status": "comment_token",
    "public.suggestion_track": "suggestion_token",
    "public.privacy_erase": "erase_token",
    "public.unsubscribe": "unsubscribe_token",
    "auth.set_password": "password_token",
    "open311.token": None,  # Open311 tokens are case numbers here
}


def concrete(rule: Rule, world: World, **replace: str) -> str:
    """Fill a rule's arguments with the world's objects (or the given replacements)."""
    values = url_values(world) | replace
    if rule.endpoint in PROJECT_CODE:
        values["code"] = replace.get("code", world.project.code)
    if rule.endpoint == "public.facility_page":
        values["code"] = replace.get("code", world.facility_code)
    if rule.endpoint == "api.device_readings":
        values["code"] = replace.get("code", world.device_code)
    if rule.endpoint == "admin.detection_rule":
        values["rule_id"] = replace.get("rule_id", str(world.detection_rule_id))
    if rule.endpoint == "admin.department":
        values["code"] = replace.get("code", "ROAD")
    if rule.endpoint in TOKENS and "token" not in replace:
        attribute = TOKENS[rule.endpoint]
        values["token"] = getattr(world, attribute) if attribute else world.case.number
    if rule.endpoint == "supervisor.verify" and "number" not in replace:
        values["number"] = world.finding.number
    if rule.endpoint in DRAFT_NOTICE:
        values["notice_id"] = str(world.draft_notice_id)
    if rule.endpoint == "admin.unblock":
        values["entry_id"] = str(world.blocked_id)
    if rule.endpoint == "admin.review_decide":
        values |= {"kind": "cases", "key": world.case.number, "decision": "release"}
    if rule.endpoint == "admin.follow_up_review":
        values["decision"] = "confirm"
    if rule.endpoint == "admin.inspection_photo":
        values["sha256"] = world.finding.photos[0].sha256
    if rule.endpoint == "admin.site_check_photo":
        values["sha256"] = world.check_sha
    if rule.endpoint == "public.pending_photo":
        values["key"] = replace.get("key", "not-a-signed-link")
    path = re.sub(
        r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_0-9]+)>",
        lambda m: values[m.group(1)],
        rule.rule,
    )
    return path


def new_client(app, user: User | None = None, language: str = "zh"):
    """Return a client of its own (own app context per request), signed in as a user."""
    from tests.conftest import FreshContextClient

    app.test_client_class = FreshContextClient
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"
    if language == "en":
        client.get("/lang/en")
    if user is not None:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
    return client


def unsafe_methods(rule: Rule) -> list[str]:
    """Return the state-changing methods a rule accepts."""
    return sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"})


def fingerprint(db) -> dict[str, tuple[int, str]]:
    """Count and hash every row of every table, to prove a request changed nothing."""
    db.session.expire_all()
    prints = {}
    with db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            order = [c for c in table.primary_key.columns] or list(table.columns)
            rows = connection.execute(table.select().order_by(*order)).all()
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            prints[table.name] = (len(rows), digest)
        connection.execute(text("SELECT 1"))
    return prints


def count(db, model) -> int:
    """Return how many rows a model's table holds."""
    return db.session.scalar(select(func.count()).select_from(model))


# Who walks each area of the URL map: its own audience, so that the page itself answers.
AREA_ACTOR = {"admin": "admin", "supervisor": "supervisor"}
# Routes a walk leaves out: they end the visitor's session or change the language of the
# pages after them, and send nothing of interest.
WALK_SKIPS = {"auth.logout", "public.switch_language"}


def get_routes(app, world: World) -> list[tuple[str, str, str]]:
    """Return (actor, endpoint, path) for every GET route, filled with the world's objects."""
    routes = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if "GET" not in rule.methods or rule.endpoint in WALK_SKIPS:
            continue
        actor = AREA_ACTOR.get(rule.endpoint.split(".")[0], "anonymous")
        routes.append((actor, rule.endpoint, concrete(rule, world)))
    return routes
