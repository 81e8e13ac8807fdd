"""A real streaming replica (a second cluster made with pg_basebackup) behind
DATABASE_READ_URL: public reads come from it, a writer reads their own change from the
primary, a replica that lags or stops is skipped without an error page."""

from __future__ import annotations

import io
import re
import threading

import pytest
from flask_migrate import upgrade

from portal import replica as routing
from portal.extensions import db as _db
from portal.services import demo
from tests.conftest import FreshContextClient, make_app
from tests.factories import jpeg_bytes
from tests.load.harness import PrivateCluster, StreamingReplica, require_services
from tests.portal.test_report import form_data

pytestmark = pytest.mark.load

PUBLIC = [
    "/cases",
    "/api/v1/cases.geojson?bbox=120.13,30.26,120.18,30.29",
    "/open311/v2/requests.json",
    "/kpi",
]


@pytest.fixture
def pair():
    """Start a private primary and a streaming replica of it."""
    require_services()
    primary = PrivateCluster()
    standby = None
    try:
        primary.init()
        primary.start()
        standby = StreamingReplica(primary)
        standby.init()
        standby.start()
        yield primary, standby
    finally:
        if standby is not None:
            standby.remove()
        primary.remove()


@pytest.fixture
def portal(pair, tmp_path):
    """Return the portal on the primary, reading public pages from the replica."""
    primary, standby = pair
    app = make_app(
        primary.url,
        tmp_path / "uploads",
        DATABASE_READ_URL=standby.url,
        REPLICA_MAX_LAG_SECONDS=60,
        REPLICA_CHECK_SECONDS=0,
        WTF_CSRF_ENABLED=False,
    )
    app.test_client_class = FreshContextClient
    with app.app_context():
        upgrade()
        demo.load_reference(_db.session)
        _db.session.commit()
        standby.wait_replayed()
        yield app, standby
        _db.session.remove()
        _db.engine.dispose()
        app.extensions[routing.EXTENSION].engine.dispose()


def report(client, lat: str) -> str:
    data = form_data(_db, lat=lat, photos=[(io.BytesIO(jpeg_bytes(320, 240)), "p.jpg")])
    sent = client.post("/report/new", data=data, content_type="multipart/form-data")
    assert sent.status_code == 303, sent.get_data(as_text=True)[:300]
    return sent.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


def test_public_reads_come_from_the_replica_and_writers_read_their_own(portal):
    app, standby = portal
    writer, reader = app.test_client(), app.test_client()
    first = report(writer, "30.270000")
    standby.wait_replayed()
    assert all(first in reader.get(path).get_data(as_text=True) for path in PUBLIC[:3])

    standby.sql("SELECT pg_wal_replay_pause()")  # the replica falls behind from now on
    second = report(writer, "30.275000")
    assert writer.get_cookie(routing.COOKIE) is not None
    for path in PUBLIC[:3]:
        # The writer reads from the primary: their own report is there at once.
        assert second in writer.get(path).get_data(as_text=True)
        # Everyone else reads from the replica, which has not replayed it yet.
        seen = reader.get(path)
        assert seen.status_code == 200 and second not in seen.get_data(as_text=True)
        assert first in seen.get_data(as_text=True)

    # Lagging beyond the setting, the replica is skipped: the primary answers everyone.
    app.extensions[routing.EXTENSION].max_lag = 0.01
    assert all(second in reader.get(path).get_data(as_text=True) for path in PUBLIC[:3])

    standby.sql("SELECT pg_wal_replay_resume()")
    standby.wait_replayed()
    app.extensions[routing.EXTENSION].max_lag = 60
    assert routing.Replica.check(app.extensions[routing.EXTENSION])
    assert all(second in reader.get(path).get_data(as_text=True) for path in PUBLIC[:3])


def test_the_replica_stopping_mid_run_gives_no_error_page(portal):
    app, standby = portal
    writer = app.test_client()
    number = report(writer, "30.272000")
    standby.wait_replayed()
    answers: list[tuple[str, int, bool]] = []
    stop = threading.Event()

    def visit() -> None:
        client = app.test_client()
        while not stop.is_set():
            for path in PUBLIC:
                with app.app_context():
                    seen = client.get(path)
                answers.append((path, seen.status_code, number in seen.get_data(as_text=True)))

    visitors = [threading.Thread(target=visit) for _ in range(3)]
    for visitor in visitors:
        visitor.start()
    while len(answers) < 20:
        threading.Event().wait(0.05)
    standby.stop("immediate")
    stopped_at = len(answers)
    while len(answers) < stopped_at + 40:
        threading.Event().wait(0.05)
    stop.set()
    for visitor in visitors:
        visitor.join(60)
    assert {code for _, code, _ in answers} == {200}, [a for a in answers if a[1] != 200][:5]
    assert all(found for path, _, found in answers if path != "/kpi")

    # A replica that fails after it was checked: the request is served again from the primary.
    state = app.extensions[routing.EXTENSION]
    state.usable, state.every = True, 3600.0
    state.checked_at = float("inf")
    with app.app_context():
        seen = app.test_client().get("/cases")
    assert seen.status_code == 200 and number in seen.get_data(as_text=True)
    assert not state.usable  # skipped until its next check
    assert re.search(r"<html", seen.get_data(as_text=True))
