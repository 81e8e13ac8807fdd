"""A facility's public page: type, small map, state and its public cases."""

from sqlalchemy import select

from portal.models import FacilityType
from portal.services import facility_register as register
from tests.factories import make_case


def lamp(db):
    lamps = db.session.scalar(select(FacilityType).where(FacilityType.code == "0129"))
    facility = register.create(
        db.session, lamps, {"type": "Point", "coordinates": [120.15511, 30.27411]}
    )
    db.session.commit()
    return facility


def test_shows_type_state_map_and_public_cases(client, db, reference):
    facility = lamp(db)
    case, _ = make_case(db.session, category_code="0301", name="王先生", phone="13700000000")
    hidden, _ = make_case(db.session, category_code="0301", position=(30.2800, 120.1600))
    case.facility_id = hidden.facility_id = facility.id
    hidden.hidden = True
    db.session.commit()
    response = client.get(f"/facilities/{facility.code}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert facility.code in page and "路灯" in page and "完好" in page
    assert 'id="facility-map"' in page and 'id="map-fallback"' in page  # no tiles: the text
    assert case.number in page and hidden.number not in page
    assert "王先生" not in page and "13700000000" not in page


def test_english_page(client, db, reference):
    facility = lamp(db)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get(f"/facilities/{facility.code}").get_data(as_text=True)
    assert "Street light" in page and "Intact" in page
    assert "No case has been reported about this facility." in page


def test_unknown_codes_are_404(client, db, reference):
    assert client.get("/facilities/%00").status_code in (400, 404)
    for code in ("3301050129999999", "x" * 300, "..", "330105'--"):
        assert client.get(f"/facilities/{code}").status_code == 404


def test_every_state_badge_has_a_colour_behind_its_white_text(app):
    """The badge's text is white: a state without a background colour would be invisible."""
    from pathlib import Path

    from portal.web import FACILITY_STATE_LABELS

    css = (Path(app.root_path).parent / "static" / "css" / "site.css").read_text()
    for state in FACILITY_STATE_LABELS:
        assert f".facility-state-{state} {{ background:" in css, state


def test_the_case_page_names_its_facility_with_a_link(client, db, reference):
    facility = lamp(db)
    case, _ = make_case(db.session, category_code="0301")
    case.facility_id = facility.id
    db.session.commit()
    page = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert f'href="/facilities/{facility.code}"' in page and "路灯" in page
