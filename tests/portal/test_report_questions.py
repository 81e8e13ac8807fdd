"""The web form asks the chosen category's extra questions and checks them like the API."""

import pytest
from sqlalchemy import select

from portal.models import Case
from tests.portal.test_report import form_data


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def test_questions_show_and_answers_are_kept(client, db, reference):
    page = client.get("/report/new").get_data(as_text=True)
    assert "补充信息：井盖破损" in page and 'name="attr-0402-cover_type"' in page
    missing = client.post("/report/new", data=form_data(db, category="0402"))
    assert missing.status_code == 422
    assert "此项为必答。" in missing.get_data(as_text=True)
    assert db.session.scalar(select(Case)) is None
    wrong = client.post(
        "/report/new", data=form_data(db, category="0402", **{"attr-0402-cover_type": "plastic"})
    )
    assert "请从所列选项中选择。" in wrong.get_data(as_text=True)
    sent = client.post(
        "/report/new",
        data=form_data(
            db, category="0402", **{"attr-0402-cover_type": "gas", "attr-0402-lane": "pavement"}
        ),
    )
    assert sent.status_code == 303
    assert db.session.scalar(select(Case)).attributes == {"cover_type": "gas", "lane": "pavement"}
