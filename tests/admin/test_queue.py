"""The queue's saved views and the bulk actions, as a dispatcher and a handler use them."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from portal.models import AuditEntry, Case, Department, utcnow
from portal.services import workflow
from tests.factories import make_case, make_user


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def road(db, reference):
    return db.session.scalar(select(Department).where(Department.code == "ROAD"))


def spread(db, n, category_code="0101"):
    return [
        make_case(db.session, category_code=category_code, position=(30.262 + i * 0.001, 120.14))[0]
        for i in range(n)
    ]


def count_in_nav(page, view):
    found = re.search(rf'data-view="{view}"[^>]*>[^<]*<span class="count">(\d+)</span>', page)
    return int(found.group(1))


def test_the_dispatchers_first_screen_holds_every_step_waiting_for_them(client, db, login_as, road):
    new, accepted, resolved, elsewhere = spread(db, 4)
    someone = make_user(db.session, "dispatcher")
    handler = make_user(db.session, "handler", department=road)
    now = utcnow()
    for case in (accepted, resolved, elsewhere):
        workflow.accept(db.session, case, someone, case.priority, now)
    for case in (resolved, elsewhere):
        workflow.route(db.session, case, someone, road, now)
    workflow.resolve(db.session, resolved, handler, "已修复", [], None, now)
    db.session.commit()
    login_as("dispatcher")
    page = client.get("/admin/").get_data(as_text=True)
    for case in (new, accepted, resolved):
        assert case.number in page
    assert elsewhere.number not in page  # with its department: not the dispatcher's work now
    assert count_in_nav(page, "to_dispatch") == 1 and count_in_nav(page, "to_verify") == 1
    assert count_in_nav(page, "todo") == 3
    to_verify = client.get("/admin/?view=to_verify").get_data(as_text=True)
    assert resolved.number in to_verify and new.number not in to_verify
    # The counts show on every back-office page, not only the queue.
    assert count_in_nav(client.get("/admin/kpi").get_data(as_text=True), "to_verify") == 1
    # A filter shows every state, as before.
    assert elsewhere.number in client.get("/admin/?state=dispatched").get_data(as_text=True)


def test_a_handler_starts_on_the_departments_work_with_a_working_time_countdown(
    client, db, login_as, road
):
    (case,) = spread(db, 1)
    someone = make_user(db.session, "dispatcher")
    now = utcnow()
    workflow.accept(db.session, case, someone, case.priority, now)
    workflow.route(db.session, case, someone, road, now)
    db.session.commit()
    login_as("handler", department=road)
    page = client.get("/admin/").get_data(as_text=True)
    assert case.number in page and 'data-view="submitted"' not in page
    assert "工作小时" in page or "working h" in page


def test_the_heading_names_the_view_once(client, db, login_as, reference):
    login_as("dispatcher")
    heading = re.compile(r"<h1>(.*?)</h1>", re.S)
    assert heading.search(client.get("/admin/").get_data(as_text=True)).group(1) == "待办"
    chosen = client.get("/admin/?view=to_dispatch").get_data(as_text=True)
    assert heading.search(chosen).group(1) == "待办 · 待派遣"
    # A search or a filter shows cases of every view: the heading says so, not "待办" alone.
    searched = client.get("/admin/?q=井盖").get_data(as_text=True)
    assert heading.search(searched).group(1) == "待办 · 筛选结果"


@pytest.mark.parametrize("view", ["garbage", "", "mine", "todo" * 50, "%00"])
def test_any_view_parameter_answers(client, db, login_as, view):
    login_as("dispatcher")
    assert client.get("/admin/", query_string={"view": view}).status_code == 200


def test_bulk_accept_leaves_untouched_fields_as_they_were(client, db, login_as, road):
    low, normal = spread(db, 2)
    low.priority = "low"
    db.session.commit()
    before = {c.number: (c.priority, c.resolve_due_at, c.department_id) for c in (low, normal)}
    login_as("dispatcher")
    # Exactly what the queue's form sends when only the action was chosen.
    response = client.post(
        "/admin/cases/bulk",
        data={
            "numbers": [low.number, normal.number],
            "action": "accept",
            "priority": "",
            "department": "",
            f"version-{low.number}": low.version_id,
            f"version-{normal.number}": normal.version_id,
        },
    )
    assert response.status_code == 200
    for case in (low, normal):
        db.session.refresh(case)
        assert case.state == "accepted"
        assert (case.priority, case.resolve_due_at, case.department_id) == before[case.number]
    page = client.get("/admin/").get_data(as_text=True)
    assert "较低" in page or "Low" in page


def test_a_stale_bulk_route_is_refused_for_that_case_only(client, db, login_as, road):
    first, second = spread(db, 2)
    admin = make_user(db.session, "admin", name="王管理")
    light = db.session.scalar(select(Department).where(Department.code == "LIGHT"))
    versions = {f"version-{c.number}": c.version_id for c in (first, second)}
    workflow.route(db.session, first, admin, light, utcnow())
    db.session.commit()
    dispatcher = login_as("dispatcher")
    response = client.post(
        "/admin/cases/bulk",
        data={"numbers": [first.number, second.number], "action": "route", **versions},
    )
    page = response.get_data(as_text=True)
    refused = re.search(rf'class="refused" data-number="{first.number}">(.*?)</tr>', page, re.S)
    assert refused and "王管理" in refused.group(1)
    assert re.search(rf'class="done" data-number="{second.number}"', page)
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.department == light and second.department == road  # the suggested one
    actors = db.session.scalars(
        select(AuditEntry.object_id).where(AuditEntry.actor_id == dispatcher.id)
    ).all()
    assert actors == [second.number]


def test_a_bulk_action_with_an_unknown_department_changes_nothing(client, db, login_as):
    (case,) = spread(db, 1)
    login_as("dispatcher")
    response = client.post(
        "/admin/cases/bulk", data={"numbers": [case.number], "action": "route", "department": "X"}
    )
    assert response.status_code == 303
    db.session.refresh(case)
    assert case.state == "submitted"


def test_the_department_list_defaults_to_the_routing_hint(client, db, login_as, road):
    (case,) = spread(db, 1)
    case.suggested_department = None  # not stored: the hint is computed on the page
    db.session.commit()
    login_as("dispatcher")
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    select_html = re.search(r'<select id="route-department".*?</select>', page, re.S).group(0)
    assert re.search(r'<option selected value="ROAD">|<option value="ROAD" selected', select_html)


def test_case_stays_when_the_queue_deadline_has_passed(client, db, login_as, road):
    (case,) = spread(db, 1)
    case.respond_due_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    login_as("dispatcher")
    page = client.get("/admin/?view=overdue").get_data(as_text=True)
    assert case.number in page and db.session.get(Case, case.id).state == "submitted"
    # The deadline's cell says it once, in words, emphasised (not only red).
    cell = re.search(r'data-label="下一时限">(.*?)</td>', page, re.S).group(1)
    assert cell.count("已超期") == 1
    assert re.search(r'<strong class="countdown late"[^>]*>\s*（?\(?已超期', cell)


def test_a_calendar_clock_past_a_day_reads_in_days(client, db, login_as, road):
    from portal.services.sla import countdown

    (flood,) = spread(db, 1, category_code="0203")  # 路面积水: the emergency policy, calendar time
    flood.respond_due_at = utcnow() - timedelta(days=3, hours=5, minutes=10)
    db.session.commit()
    c = countdown(db.session, flood, utcnow())
    assert not c.working and c.late // 1440 == 3
    login_as("dispatcher")
    page = client.get("/admin/?view=overdue").get_data(as_text=True)
    row = re.search(rf"{flood.number}</a>.*?</tr>", page, re.S)[0]
    assert f"已超期{c.late // 1440}天{c.late % 1440 // 60}小时" in row.replace(" ", "")
    case_page = client.get(f"/admin/cases/{flood.number}").get_data(as_text=True)
    assert f"已超期{c.late // 1440}天{c.late % 1440 // 60}小时" in case_page.replace(" ", "")


def test_a_long_queue_counts_up_to_the_cap_and_still_pages_on(client, db, login_as, monkeypatch):
    monkeypatch.setattr("portal.web.COUNT_CAP", 2)
    monkeypatch.setattr("admin.queue.PAGE_SIZE", 1)
    cases = spread(db, 4)
    login_as("dispatcher")
    first = client.get("/admin/?view=submitted").get_data(as_text=True)
    assert "找到 2 件以上" in first and "第 1 页" in first and 'rel="next"' in first
    assert first.count('name="numbers"') == 1
    # Past the cap the count follows the page: page 3 still knows a fourth case exists.
    third = client.get("/admin/?view=submitted&page=3").get_data(as_text=True)
    assert "找到 3 件以上" in third and 'rel="next"' in third
    last = client.get("/admin/?view=submitted&page=4").get_data(as_text=True)
    assert "共 4 件" in last and "第 4 页，共 4 页" in last and 'rel="next"' not in last
    shown = {cases[i].number for i in range(4)}
    assert any(n in last for n in shown)


def test_the_last_page_of_a_queue_is_totalled_without_a_count(client, db, login_as, monkeypatch):
    monkeypatch.setattr("admin.queue.PAGE_SIZE", 2)
    spread(db, 3)
    login_as("dispatcher")
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        first = client.get("/admin/?view=submitted").get_data(as_text=True)
        counted = [s for s in statements if "count(*)" in s.lower()]
        statements.clear()
        last = client.get("/admin/?view=submitted&page=2").get_data(as_text=True)
        uncounted = [s for s in statements if "count(*)" in s.lower()]
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert "共 3 件" in first and "第 1 页，共 2 页" in first and counted
    # The second page holds the last case: 2 before it and 1 on it, no count needed.
    assert "共 3 件" in last and "第 2 页，共 2 页" in last and 'rel="next"' not in last
    assert not uncounted, uncounted


def test_each_queue_cell_names_its_column_for_a_phone(client, db, login_as, reference):
    make_case(db.session)
    login_as("dispatcher")
    page = client.get("/admin/").get_data(as_text=True)
    # A phone hides the header row and shows each cell's data-label before its value.
    for column in ("问题类别", "状态", "优先级", "部门", "下一时限"):
        assert f'data-label="{column}"' in page, column


def test_a_bulk_action_leads_back_to_the_view_it_was_sent_from(client, db, login_as, road):
    case, _ = make_case(db.session)
    login_as("dispatcher")
    back = "view=submitted&priority=high"
    refused = client.post("/admin/cases/bulk", data={"action": "accept", "back": back})
    assert refused.status_code == 303  # no case chosen
    assert refused.headers["Location"].endswith("/admin/?view=submitted&priority=high")
    data = {"numbers": [case.number], "action": "accept", "priority": "", "back": back}
    done = client.post("/admin/cases/bulk", data=data).get_data(as_text=True)
    assert 'href="/admin/?view=submitted&amp;priority=high"' in done
    elsewhere = client.post(
        "/admin/cases/bulk", data={"action": "accept", "back": "//evil.example/x"}
    )
    assert elsewhere.headers["Location"].split("?")[0].endswith("/admin/")  # never another path
    page = client.get("/admin/?view=submitted").get_data(as_text=True)
    assert 'name="back" value="view=submitted"' in page


def test_a_staff_members_own_bulk_action_is_counted_on_the_next_pages(
    app, client, db, auth, login_as, road
):
    from portal.services import queues

    cases = spread(db, 2)
    other = make_user(db.session, role="dispatcher")
    login_as("dispatcher")
    assert count_in_nav(client.get("/admin/").get_data(as_text=True), "submitted") == 2
    with app.test_request_context():
        before_for_other = queues.cached_counts(db.session, other, utcnow())
    app.config["QUEUE_COUNTS_BACKGROUND"] = True  # from now on outdated counts may be shown
    data = {"numbers": [c.number for c in cases], "action": "accept", "priority": ""}
    data |= {f"version-{c.number}": c.version_id for c in cases}
    result = client.post("/admin/cases/bulk", data=data).get_data(as_text=True)
    # The result page and the next one count the action in, though the cache was older.
    assert count_in_nav(result, "submitted") == 0
    assert count_in_nav(client.get("/admin/").get_data(as_text=True), "submitted") == 0
    assert count_in_nav(client.get("/admin/").get_data(as_text=True), "to_dispatch") == 2
    # Everyone else still reads the cache (counted again in the background).
    with app.test_request_context():
        assert queues.cached_counts(db.session, other, utcnow()) == before_for_other
    for thread in queues.refresh_threads:
        thread.join(10)
