"""SIGKILL gunicorn (master and workers) in the middle of the load, twice, start it again: every
case a resident was told about is there with all its photos, and after the cleanup command
no file is left without a row."""

import threading
import time

import pytest
from sqlalchemy import select

from portal.models import Case, Photo
from portal.services import photo_cleanup
from portal.services.photos import PART_SUFFIX, PhotoStore
from tests.factories import category
from tests.load.harness import Outcome, Resident, kinds, latency, photo

pytestmark = pytest.mark.load

RESIDENTS = 300
KILLS_AFTER = (100, 200)  # cases created before each kill
RETRY_FOR = 180  # seconds a resident keeps trying when the server does not answer
RETRIED = {"connection", "timeout", "502", "503"}


def stored_files(store: PhotoStore) -> list:
    return sorted(p for p in store.root.glob("??/*") if p.is_file())


def test_sigkill_in_the_middle_of_the_load_loses_no_case(app, db, server, figures):
    shared = photo(99999)
    code = category(db.session).code
    attempts: list[Outcome] = []
    final: dict[int, Outcome] = {}
    lock = threading.Lock()
    created = {kill: threading.Event() for kill in KILLS_AFTER}

    def resident(n: int) -> None:
        deadline = time.monotonic() + RETRY_FOR
        someone = Resident(
            server.base, n, code, [photo(n), shared], address=f"10.2.{n // 256}.{n % 256}"
        )
        while True:
            outcome = someone.report()
            with lock:
                attempts.append(outcome)
                done = sum(a.kind == "created" for a in attempts)
                for kill, reached in created.items():
                    if done >= kill:
                        reached.set()
            if outcome.kind not in RETRIED or time.monotonic() > deadline:
                final[n] = outcome
                return
            time.sleep(0.5)

    threads = [threading.Thread(target=resident, args=(n,)) for n in range(RESIDENTS)]
    for thread in threads:
        thread.start()
    created_before_kill, restart_seconds = [], []
    for reached in created.values():
        assert reached.wait(timeout=600), "the load never reached the kill point"
        server.kill()
        with lock:
            created_before_kill.append(sum(a.kind == "created" for a in attempts))
        restart_seconds.append(round(server.start(), 1))
    for thread in threads:
        thread.join()
    server.stop()

    db.session.expire_all()
    store = PhotoStore(app.config["UPLOAD_DIR"])
    told = {a.number for a in attempts if a.number}
    cases = {c.number: c for c in db.session.scalars(select(Case))}
    rows = db.session.scalars(select(Photo)).all()
    referenced = photo_cleanup.referenced(db.session)
    orphans = [p for p in stored_files(store) if p.name[:64] not in referenced]
    cleanup = server.flask("photos", "cleanup", "--grace", "0")
    left = stored_files(store)
    figures(
        residents=RESIDENTS,
        attempts=len(attempts),
        requests=sum(a.requests for a in attempts),
        outcomes=kinds(attempts),
        **latency([a.seconds for a in attempts if a.seconds]),
        created_before_each_kill=created_before_kill,
        seconds_to_restart=restart_seconds,
        residents_told_a_number=len(told),
        cases_found_after_crash=len(cases),
        cases_saved_but_answer_lost=len(set(cases) - told),
        residents_in_the_end=kinds(list(final.values())),
        orphan_files_before_cleanup=len(orphans),
        unfinished_temporary_files=sum(p.name.endswith(PART_SUFFIX) for p in orphans),
        cleanup=cleanup.stdout.strip().splitlines()[-1] if cleanup.stdout else cleanup.stderr,
    )
    assert created_before_kill[-1] < len(told)  # the last kill was in the middle of the load
    assert told <= set(cases), sorted(told - set(cases))[:10]
    for number in told:
        assert len(cases[number].photos) == 2, number
    assert all(store.exists(row.sha256) for row in rows)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert all(p.name[:64] in referenced and not p.name.endswith(PART_SUFFIX) for p in left)
    assert all(o.kind in RETRIED | {"created", "429"} for o in attempts), kinds(attempts)
