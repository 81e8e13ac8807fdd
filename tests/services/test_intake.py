"""What looks like someone's phone or identity number in a report's text."""

import pytest

from portal.services import intake


@pytest.mark.parametrize(
    "text, found",
    [
        ("邻居电话13800138000总占道", ["13800138000"]),
        ("打 +86 138-0013-8000 找他", ["+86 138-0013-8000"]),
        ("座机0571-87654321", ["0571-87654321"]),
        ("身份证号11010519491231002X", ["11010519491231002X"]),
        ("身份证号11010519491231002x", ["11010519491231002x"]),
        ("编号 110105194912310021 校验位不对", []),  # a wrong check digit: not an ID number
        ("案件 2026-000123，井盖 12 个", []),
        ("订单号 1380013800012345", []),  # a longer number that merely holds 11 digits
        ("", []),
        (None, []),
    ],
)
def test_personal_data_in_text(text, found):
    assert intake.personal_data(text) == found


def test_identity_check_digit():
    assert intake.is_identity_number("11010519491231002X")
    assert intake.is_identity_number("440524188001010014")
    assert not intake.is_identity_number("440524188001010015")
    assert not intake.is_identity_number("4405241880010100X4")
