"""Fixtures of the hostile-input tests."""

import pytest

from tests.security.world import World, build_world


@pytest.fixture
def world(app, db, reference) -> World:
    """Return one object of every kind the URL map names, each with an owner."""
    return build_world(app, db)
