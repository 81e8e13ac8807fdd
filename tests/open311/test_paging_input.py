"""Paging arguments in other scripts' digits are refused with a 400, never a 500."""

import pytest

from tests.open311.conftest import BASE


@pytest.mark.parametrize("page", ["³", "١٢", "²"])
def test_a_page_number_in_other_digits_is_a_400_not_a_500(client, db, reference, page):
    # Found by the schemathesis fuzzing run on PostgreSQL: "³".isdigit() but int("³") fails.
    assert client.get(f"{BASE}/requests.json?page={page}").status_code == 400
