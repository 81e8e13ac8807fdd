"""The public CSV of cases: the list's filters, streamed, and no personal data."""

from __future__ import annotations

import csv
import io

from tests.factories import make_case

PHONE = "13900004321"


def test_the_csv_has_public_fields_only(client, db, reference):
    case, token = make_case(
        db.session, name="李先生", phone=PHONE, email="li@example.cn", hide_name=False
    )
    hidden, _ = make_case(db.session, description="广告内容，已屏蔽。")
    hidden.hidden = True
    db.session.commit()
    response = client.get("/cases.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    for private in ("李先生", PHONE, "li@example.cn", token, case.tracking_token_hash):
        assert private not in text
    header, *lines = list(csv.reader(io.StringIO(text[1:])))
    assert header[0] == "案件编号" and "联系电话" not in header and "姓名" not in header
    assert [line[0] for line in lines] == [case.number]  # the hidden one is left out
    assert lines[0][-1].endswith(f"/cases/{case.number}")


def test_the_csv_takes_the_lists_filters(client, db, reference):
    first, _ = make_case(db.session)
    second, _ = make_case(db.session, description="井盖缺失，夜里很危险。")
    second.state = "closed"
    db.session.commit()
    lines = client.get("/cases.csv?state=closed").get_data().decode("utf-8").splitlines()
    assert len(lines) == 2 and second.number in lines[1]
    found = client.get("/cases.csv?q=井盖").get_data().decode("utf-8")
    assert second.number in found and first.number not in found
    page = client.get("/cases?state=closed").get_data(as_text=True)
    assert "/cases.csv?state=closed" in page
