"""Staff and facilities: the case page shows the facility's history and the repeat flag,
the queue filters the cases of repeat facilities, and dispatchers get a list of them."""

from datetime import timedelta

import pytest

from portal.models import utcnow
from portal.services import workflow
from tests.factories import CENTRE, bind_category, make_case, make_facility

LAT, LNG = CENTRE


@pytest.fixture
def lamp_cases(db, reference):
    """A lamp with three cases this month (a repeat one), and a lamp with one case."""
    bind_category(db.session, "0301", "0129", "damaged")
    lamp = make_facility(db.session, CENTRE, code="330105012900000001", address="湖墅南路12号")
    quiet = make_facility(db.session, (LAT + 0.001, LNG), code="330105012900000002")
    now = utcnow()
    made = [
        make_case(db.session, category_code="0301", facility=lamp, now=now - timedelta(days=d))[0]
        for d in (20, 10, 1)
    ]
    single, _ = make_case(db.session, category_code="0301", facility=quiet, now=now)
    return {"lamp": lamp, "quiet": quiet, "cases": made, "single": single}


def test_the_case_page_shows_the_facility_history_and_the_repeat_flag(
    client, db, login_as, lamp_cases
):
    login_as("dispatcher")
    latest = lamp_cases["cases"][-1]
    page = client.get(f"/admin/cases/{latest.number}").get_data(as_text=True)
    assert "330105012900000001" in page and 'class="flag repeat-flag"' in page
    assert "3 件" in page or "3 cases" in page
    for other in lamp_cases["cases"][:-1]:
        assert f"/admin/cases/{other.number}" in page
    assert "破损" in page  # its state, and the change the first case made
    single = client.get(f"/admin/cases/{lamp_cases['single'].number}").get_data(as_text=True)
    assert "330105012900000002" in single and "repeat-flag" not in single


def test_the_queue_filters_the_cases_of_repeat_facilities(client, db, login_as, lamp_cases):
    login_as("dispatcher")
    page = client.get("/admin/?repeat=1&state=").get_data(as_text=True)
    for case in lamp_cases["cases"]:
        assert case.number in page
    assert lamp_cases["single"].number not in page
    one = client.get("/admin/?facility=330105012900000002&state=").get_data(as_text=True)
    assert lamp_cases["single"].number in one and lamp_cases["cases"][0].number not in one
    for odd in ("repeat=yes", "facility=" + "x" * 500, "facility=%E2%80%AE", "repeat=1&page=99999"):
        assert client.get(f"/admin/?{odd}").status_code == 200, odd
    assert client.get("/admin/?facility=%00").status_code == 400  # refused before the view


def test_dispatchers_list_repeat_facilities_with_counts_and_links(
    app, client, db, login_as, lamp_cases
):
    dispatcher = login_as("dispatcher")
    page = client.get("/admin/facilities/repeats").get_data(as_text=True)
    assert "330105012900000001" in page and "湖墅南路12号" in page
    assert "330105012900000002" not in page
    assert "facility=330105012900000001" in page and "repeat=1" in page
    # Refused cases do not count: the lamp drops off the list.
    workflow.reject(db.session, lamp_cases["cases"][0], dispatcher, "无效。", utcnow())
    db.session.commit()
    assert "330105012900000001" not in client.get("/admin/facilities/repeats").get_data(
        as_text=True
    )
    app.config["FACILITY_REPEAT_COUNT"] = 2
    assert "330105012900000001" in client.get("/admin/facilities/repeats").get_data(as_text=True)


def test_handlers_do_not_get_the_list(client, login_as, lamp_cases):
    login_as("handler")
    assert client.get("/admin/facilities/repeats").status_code == 403


def test_the_open_columns_say_open_cases_and_open_alarms_not_consultation_open(
    client, db, login_as, lamp_cases
):
    login_as("dispatcher")
    # "Open" alone is a consultation's state, 征集中 (inviting comments).
    repeats = client.get("/admin/facilities/repeats").get_data(as_text=True)
    assert "未办结案件" in repeats and "征集中" not in repeats
    assert 'data-label="未办结案件"' in repeats  # a phone names each cell's column
    alarms = client.get("/admin/alarms").get_data(as_text=True)
    assert "未处理的告警" in alarms and "征集中" not in alarms
