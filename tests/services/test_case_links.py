"""The ways back to a case: signed private links, query codes and unsubscribe links."""

from sqlalchemy import select

from portal.models import CaseFollower, utcnow
from portal.services import case_links, cases
from tests.factories import make_case


def test_a_signed_link_opens_its_case_and_nothing_else(app, db, reference):
    case, token = make_case(db.session)
    other, _ = make_case(db.session)
    signed = case_links.private_token(case)
    assert "." in signed and len(signed) <= 100
    assert cases.find_by_token(db.session, signed) is case
    assert cases.find_by_token(db.session, token) is case
    # Another case's id under this signature, or a changed signature, opens nothing.
    forged = signed.replace(str(case.id), str(other.id), 1)
    assert cases.find_by_token(db.session, forged) is None
    assert cases.find_by_token(db.session, signed[:-2] + "xx") is None


def test_a_new_token_revokes_the_signed_links(app, db, reference):
    case, _ = make_case(db.session)
    signed = case_links.private_token(case)
    _, case.tracking_token_hash = cases.new_tracking_token()
    db.session.commit()
    assert cases.find_by_token(db.session, signed) is None


def test_a_new_secret_key_keeps_old_links_only_through_the_fallbacks(app, db, reference):
    case, token = make_case(db.session)
    signed = case_links.private_token(case)
    code = case_links.query_code(token)
    app.config["SECRET_KEY"] = "a-new-secret"
    assert cases.find_by_token(db.session, signed) is None
    assert case_links.case_of_query_code(db.session, case.number, code) is None
    app.config["SECRET_KEY_FALLBACKS"] = ["test-secret"]
    assert cases.find_by_token(db.session, signed) is case
    assert case_links.case_of_query_code(db.session, case.number, code) is case


def test_the_query_code_is_six_digits_stored_only_keyed_hashed(app, db, reference):
    case, token = make_case(db.session)
    code = case_links.query_code(token)
    assert len(code) == 6 and code.isdigit()
    assert code not in case.query_code_hash and len(case.query_code_hash) == 64
    assert case_links.case_of_query_code(db.session, case.number, code) is case
    spaced = " ".join(code).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert case_links.case_of_query_code(db.session, case.number, spaced) is case
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert case_links.case_of_query_code(db.session, case.number, wrong) is None
    assert case_links.case_of_query_code(db.session, "2099-999999", code) is None


def test_a_case_without_a_query_code_opens_with_none(app, db, reference):
    case, _token = make_case(db.session)
    case.query_code_hash = ""
    db.session.commit()
    assert case_links.case_of_query_code(db.session, case.number, "") is None
    assert case_links.case_of_query_code(db.session, case.number, "000000") is None


def test_the_unsubscribe_link_stands_for_one_follower(app, db, reference):
    case, _ = make_case(db.session)
    follower = cases.follow(db.session, case, utcnow(), email="f@example.cn")
    db.session.commit()
    token = case_links.unsubscribe_token(follower)
    assert case_links.follower_of_unsubscribe(db.session, token) is follower
    assert case_links.follower_of_unsubscribe(db.session, token.replace(".", ".x")) is None
    # A private link's signature is no unsubscribe link (the salts differ).
    assert case_links.follower_of_unsubscribe(db.session, case_links.private_token(case)) is None
    case_links.unsubscribe(follower)
    db.session.commit()
    assert db.session.scalar(select(CaseFollower.email)) == ""
    assert case.followers_count == 1


def test_earlier_secret_keys_are_a_setting(tmp_path):
    from portal.config import Settings

    loaded = Settings({"SECRET_KEY_FALLBACKS": "old-one, older-one"}).load(str(tmp_path))
    assert loaded["SECRET_KEY_FALLBACKS"] == ["old-one", "older-one"]
    assert Settings({}).load(str(tmp_path))["SECRET_KEY_FALLBACKS"] == []
