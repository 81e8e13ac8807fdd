"""Open311 intake helpers that need no request."""

import pytest

from portal.services.open311_intake import full_name


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("伟", "王", "王伟"),  # a Chinese name: family name first, no space
        ("小明", "欧阳", "欧阳小明"),
        ("Wei", "Wang", "Wei Wang"),  # a Latin name as sent
        ("伟", "Wang", "伟 Wang"),  # mixed: left as sent
        ("", "王", "王"),
        (" 伟 ", None, "伟"),
        (None, None, ""),
    ],
)
def test_full_name_reads_as_the_resident_writes_it(first, last, expected):
    assert full_name(first, last) == expected
