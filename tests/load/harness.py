"""What the load and fault tests share: a gunicorn to start and kill, residents who report
over HTTP, a private PostgreSQL cluster to stop and start, and the figures they print."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SHOWN_NUMBER = re.compile(r'<strong class="case-number">([^<]+)</strong>')
DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"


def require_services() -> None:
    """Skip unless PostgreSQL and Redis are configured (a skip fails CI's service pass)."""
    if not DATABASE_URL.startswith("postgresql") or not REDIS_URL:
        pytest.skip("load tests need DATABASE_URL on PostgreSQL and REDIS_URL")


def free_port() -> int:
    """Return a TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def photo(index: int, size: tuple[int, int] = (320, 240)) -> bytes:
    """Return a small real JPEG whose content is unique to the index."""
    colour = (index % 256, (index // 256) % 256, 90 + index % 7 * 20)
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


class Gunicorn:
    """The portal served by gunicorn in its own process group, on loopback."""

    def __init__(self, env: dict[str, str], log: Path, workers: int = 4, threads: int = 8):
        # A crash in C code (a worker "sent SIGSEGV") leaves its Python stack in the log.
        self.env = {**os.environ, "PYTHONFAULTHANDLER": "1", **env}
        self.log = log
        self.workers, self.threads = workers, threads
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> float:
        """Start the server and wait until it answers; return the seconds it took."""
        began = time.monotonic()
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            f"--workers={self.workers}",
            f"--threads={self.threads}",
            f"--bind=127.0.0.1:{self.port}",
            "--backlog=2048",
            "--timeout=120",
            "wsgi:app",
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        while time.monotonic() - began < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {self.log}")
            try:
                if requests.get(f"{self.base}/report/new", timeout=5).status_code == 200:
                    return time.monotonic() - began
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout} s: see {self.log}")

    def kill(self) -> None:
        """SIGKILL the master and every worker at once (the whole process group)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """Stop gracefully, then make sure nothing of it is left."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # workers that outlived the master

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        """Run an operator command with the server's settings."""
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )


@dataclass
class Outcome:
    """What one attempt to report gave the resident."""

    kind: str  # created, or the HTTP status, or connection / timeout
    number: str = ""  # the case number the answer told (the redirect to the confirmation)
    shown: str = ""  # the case number the confirmation page showed
    seconds: float = 0.0  # how long the report's POST took
    requests: int = 0
    retry_after: str = ""
    bilingual: bool = False
    detail: str = ""


@dataclass
class Resident:
    """One resident reporting a problem through the form, with photos."""

    base: str
    index: int
    category: str
    photos: list[bytes]
    address: str = ""  # sent as X-Forwarded-For behind a trusted proxy
    email: str = ""
    timeout: float = 120

    def report(self, barrier: threading.Barrier | None = None) -> Outcome:
        """Open the form, then send the report; return what came back."""
        # One connection per request: a kept-alive one may be closed by the server while the
        # resident waits at the gate, and a POST on it is not retried.
        headers = {"Accept-Language": "zh-CN,zh;q=0.9", "Connection": "close"}
        if self.address:
            headers["X-Forwarded-For"] = self.address
        outcome = Outcome(kind="")
        with requests.Session() as session:
            try:
                form = session.get(f"{self.base}/report/new", headers=headers, timeout=self.timeout)
                outcome.requests += 1
                if barrier is not None:  # every resident has the form: all send at once
                    waiting, barrier = barrier, None
                    waiting.wait(timeout=300)
                if form.status_code != 200:
                    return _answered(outcome, form)
                token = CSRF.search(form.text)
                fields = self._fields(token.group(1) if token else "")
                started = time.perf_counter()
                # As the page's script does: the cases nearby it showed, so that sending the
                # report goes past them (a retry after a lost answer finds its own case).
                shown = session.get(
                    f"{self.base}/api/v1/cases/nearby",
                    params={k: fields[k] for k in ("lat", "lng", "category")},
                    headers=headers,
                    timeout=self.timeout,
                )
                outcome.requests += 1
                if shown.status_code == 200:
                    fields["nearby_declined"] = shown.json().get("offer", "")
                answer = session.post(
                    f"{self.base}/report/new",
                    data=fields,
                    files=[
                        ("photos", (f"photo{n}.jpg", content, "image/jpeg"))
                        for n, content in enumerate(self.photos)
                    ],
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
                outcome.seconds = time.perf_counter() - started
                outcome.requests += 1
                if answer.status_code != 303:
                    return _answered(outcome, answer)
                location = answer.headers["Location"]
                outcome.number = location.rstrip("/").rsplit("/", 1)[-1]
                outcome.kind = "created"
                done = session.get(f"{self.base}{location}", headers=headers, timeout=self.timeout)
                outcome.requests += 1
                shown = SHOWN_NUMBER.search(done.text)
                outcome.shown = shown.group(1) if shown else ""
            except requests.Timeout as error:
                outcome.kind = outcome.kind or "timeout"
                outcome.detail = str(error)
            except requests.ConnectionError as error:
                outcome.kind = outcome.kind or "connection"
                outcome.detail = str(error)
            finally:
                if barrier is not None:  # failed before the gate: do not hold the others
                    barrier.wait(timeout=300)
        return outcome

    def _fields(self, token: str) -> dict[str, str]:
        # A grid inside the demo district (the service area), points 78 m and more apart.
        lat = 30.2621 + (self.index % 40) * 0.0007
        lng = 120.1351 + (self.index // 40 % 13) * 0.0035
        return {
            "csrf_token": token,
            "category": self.category,
            "lat": f"{lat:.6f}",
            "lng": f"{lng:.6f}",
            "description": f"路面塌陷，第 {self.index} 位居民在此报告，请尽快处理。",
            "email": self.email,
        }


def _answered(outcome: Outcome, answer: requests.Response) -> Outcome:
    outcome.kind = str(answer.status_code)
    outcome.retry_after = answer.headers.get("Retry-After", "")
    outcome.bilingual = "服务暂时不可用" in answer.text and "temporarily unavailable" in answer.text
    return outcome


def run_all(residents: list[Resident], barrier: bool = False) -> list[Outcome]:
    """Let every resident report at the same time, each in a thread; return the outcomes."""
    results: list[Outcome | None] = [None] * len(residents)
    gate = threading.Barrier(len(residents)) if barrier else None

    def work(n: int) -> None:
        results[n] = residents[n].report(gate)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(residents))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r if r is not None else Outcome(kind="no answer") for r in results]


def latency(seconds: list[float]) -> dict[str, str]:
    """Return p50, p95 and p99 of a list of durations, in milliseconds."""
    if len(seconds) < 2:
        return {"p50/p95/p99_ms": "n/a"}
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {
        "p50/p95/p99_ms": f"{cuts[49] * 1000:.0f} / {cuts[94] * 1000:.0f} / {cuts[98] * 1000:.0f}"
    }


def kinds(outcomes: list[Outcome]) -> dict[str, int]:
    """Count outcomes by kind."""
    return dict(Counter(o.kind for o in outcomes).most_common())


def clear_limits() -> None:
    """Forget the rate-limit counters in this run's own Redis database."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = client.keys("LIMITS*")
    if keys:
        client.delete(*keys)
    client.close()


class PrivateCluster:
    """A throwaway PostgreSQL cluster, run as the postgres user, that a test may stop."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        shutil.chown(self.home, "postgres", "postgres")
        self.data = self.home / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(
            [RUNUSER, "-u", "postgres", "--", *command],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def init(self) -> None:
        """Create the cluster, trusting local connections."""
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C",
        )  # fmt: skip

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.home / "log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop it (fast: roll back open transactions and disconnect everyone)."""
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Stop it if it runs and delete its files."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop("immediate")
        shutil.rmtree(self.home, ignore_errors=True)


class StreamingReplica(PrivateCluster):
    """A hot standby of a private cluster, made with pg_basebackup, on a port of its own."""

    def __init__(self, primary: PrivateCluster) -> None:
        super().__init__()
        self.primary = primary

    def init(self) -> None:
        """Copy the running primary and write the settings that make this copy follow it."""
        self._as_postgres(
            str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port),
            "-U", "postgres", "-D", str(self.data), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip

    def sql(self, statement: str) -> object:
        """Run one statement on the replica, return its single value."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.connect() as connection:
                return connection.execute(text(statement)).scalar()
        finally:
            engine.dispose()

    def wait_replayed(self, timeout: float = 30) -> None:
        """Wait until the replica has replayed everything the primary has written."""
        from sqlalchemy import create_engine, text

        primary = create_engine(self.primary.url)
        try:
            with primary.connect() as connection:
                target = connection.execute(text("SELECT pg_current_wal_lsn()")).scalar()
        finally:
            primary.dispose()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")
            if done:
                return
            time.sleep(0.1)
        raise TimeoutError("the replica did not catch up")
