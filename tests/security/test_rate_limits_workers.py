"""The rate limit holds across gunicorn workers: two real workers count in the same Redis."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis
from sqlalchemy import func, select

from portal.models import Case
from tests.factories import category

REDIS_URL = os.environ.get("REDIS_URL", "")
ROOT = Path(__file__).resolve().parents[2]
LIMIT = 4  # also the number of requests sent at once, so that both workers are kept busy
ROUNDS = 3

pytestmark = pytest.mark.skipif(
    not REDIS_URL, reason="REDIS_URL is not set: no Redis for the workers to share"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, method: str, path: str, body: str = "", headers: dict | None = None):
    """Send one request on a fresh connection (so either worker may take it)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            method, path, body=body, headers={"Connection": "close", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


@pytest.fixture
def server(app, db, reference, migrated, tmp_path):
    """Run gunicorn with two workers on the test database and the real Redis."""
    with redis.Redis.from_url(REDIS_URL) as connection:
        for key in connection.scan_iter("LIMITS:*"):
            connection.delete(key)
    port = free_port()
    log = tmp_path / "access.log"
    env = {
        **os.environ,
        "DATABASE_URL": migrated,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "two-workers-share-this-secret",
        "RATELIMIT_REPORT": f"{LIMIT} per hour",
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "GEOCODER": "",
        "PORTAL_ENV": "development",
    }
    errors = (tmp_path / "gunicorn.err").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            str(log),
            "--access-logformat",
            "%(p)s %(m)s %(U)s %(s)s",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    try:
        for _ in range(300):
            try:
                if request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not start: " + (tmp_path / "gunicorn.err").read_text())
        yield port, log
    finally:
        process.terminate()
        process.wait(timeout=30)
        errors.close()
        db.session.remove()


def test_the_report_limit_is_shared_by_two_workers(server, db):
    port, log = server
    status, headers, page = request(port, "GET", "/report/new")
    assert status == 200
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    code = category(db.session).code

    def post(i: int) -> int:
        form = {
            "csrf_token": token,
            "category": code,
            "lat": f"{30.2741 + i * 0.0008:.6f}",  # 89 m apart, inside the service area
            "lng": "120.155100",
            "description": "人行道上的井盖松动了，踩上去会翻。",
        }
        headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
        return request(port, "POST", "/report/new", urlencode(form), headers)[0]

    rounds = []
    with ThreadPoolExecutor(max_workers=LIMIT) as pool:
        for r in range(ROUNDS):
            rounds.append(sorted(pool.map(post, range(r * LIMIT, (r + 1) * LIMIT))))
    time.sleep(0.5)  # let the workers flush their access log lines

    served = [line.split() for line in log.read_text().splitlines() if " POST " in line]
    by_worker = Counter((pid, status) for pid, _method, _path, status in served)
    print(f"\nrounds of {LIMIT} concurrent posts: {rounds}; by worker and answer: {by_worker}")
    # Exactly LIMIT reports pass in all, whichever worker took them; then every one is refused.
    assert rounds == [[303] * LIMIT] + [[429] * LIMIT] * (ROUNDS - 1)
    assert db.session.scalar(select(func.count()).select_from(Case)) == LIMIT
    workers = {pid for pid, *_ in served}
    assert len(workers) == 2, "one worker served every request: the test proves nothing"
    # A worker refused a report before it had let LIMIT through itself: the count is shared.
    assert any(by_worker[(pid, "429")] and by_worker[(pid, "303")] < LIMIT for pid in workers)
