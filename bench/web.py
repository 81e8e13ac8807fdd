"""The public case page over HTTP, beside a bare Flask app under the same gunicorn settings.

Both are served by gunicorn on loopback (workers and threads for 2 cores) and loaded by
wrk from its own process: 16 connections, each request for a random public case of the
database; rounds alternate the portal and the bare app, and the medians are compared.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select

from bench.harness import Run, register
from portal.extensions import db
from portal.models import Case

ROOT = Path(__file__).resolve().parent.parent
# For 2 cores, as `make serve`; BENCH_GUNICORN="--workers 3 --threads 2" tries others.
GUNICORN = os.environ.get("BENCH_GUNICORN", "--workers 2 --threads 4").split()
CONNECTIONS = 16
SECONDS = 5  # of load per round and side
SAMPLE = 1000  # distinct cases the load asks for
TARGET = 0.4  # of the bare app's requests per second
WRK_HINT = "wrk is needed for this benchmark: apt-get install -y wrk (Debian package)."


def require_wrk() -> str:
    """Return wrk's path, or stop with how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(WRK_HINT)
    return path


def sample_paths(run: Run) -> list[str]:
    """Fill the run's database and return the paths of a random sample of public cases."""
    app = run.app()
    with app.app_context():
        numbers = db.session.scalars(
            select(Case.number).where(Case.hidden.is_(False)).order_by(func.random()).limit(SAMPLE)
        ).all()
        db.engine.dispose()
    return [f"/cases/{n}" for n in numbers]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A gunicorn serving one app on a free loopback port, with its workers' peak memory."""

    def __init__(self, app: str, env: dict[str, str], probe: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "gunicorn", *GUNICORN, "--bind", f"127.0.0.1:{self.port}"]
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [*command, "--log-level", "warning", app], cwd=ROOT, env={**os.environ, **env}
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base + probe, timeout=5) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"gunicorn {app} did not start") from None
                time.sleep(0.3)

    def workers(self) -> list[int]:
        """Return the process ids of the gunicorn workers."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def peak_rss_mb(self) -> float:
        """Return the largest peak resident memory (VmHWM) among the workers, in MB."""
        peaks = []
        for pid in self.workers():
            status = Path(f"/proc/{pid}/status").read_text()
            peaks.append(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024)
        return max(peaks)

    def stop(self) -> None:
        """Stop gunicorn and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def visit(base: str, paths: list[str], times: int = 4) -> None:
    """Ask for every path a few times, so that every worker has likely served each."""

    def get(path: str) -> None:
        with urllib.request.urlopen(base + path, timeout=60) as answer:  # noqa: S310
            answer.read()

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        list(pool.map(get, paths * times))


def lua_script(paths: list[str], folder: Path) -> Path:
    """Write a wrk script asking for a random path of the list at each request."""
    listed = ",\n".join(json.dumps(p) for p in paths)
    script = folder / "paths.lua"
    script.write_text(
        f"local paths = {{\n{listed}\n}}\n"
        "local counter = 0\n"
        "function init(args)\n"
        "  counter = counter + 1\n"
        "  math.randomseed(os.time() + counter * 7919)\n"
        "end\n"
        'wrk.headers["Accept"] = "text/html"\n'
        "function request()\n"
        '  return wrk.format("GET", paths[math.random(#paths)])\n'
        "end\n"
    )
    return script


def load(wrk: str, url: str, seconds: int, connections: int, script: Path | None) -> dict:
    """Run wrk against a URL; return requests per second and latency percentiles."""
    command = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run(  # noqa: S603 - wrk from PATH, our own arguments
        [*command, url], capture_output=True, text=True, check=True
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors or "Socket errors" in output:
        # The row fails and the run goes on to the others (python -m bench lists it).
        raise RuntimeError(f"wrk saw failed requests against {url}:\n{output}")

    def latency(share: str) -> float:
        value, unit = re.search(rf"^\s+{share}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
    }


@register(
    "page",
    "the public case page over HTTP (gunicorn, wrk, 16 clients) vs a bare Flask app",
    f"≥ {TARGET} of the bare app's requests per second",
    rounds=5,
)
def run(run: Run) -> list[dict]:
    """Load the case page (kept rendered, and rendered each time) and the bare app in
    turn; return the medians and the ratios."""
    wrk = require_wrk()
    paths = sample_paths(run)
    folder = Path(tempfile.mkdtemp(prefix="bench-web-"))
    env = {  # the portal's own defaults otherwise: rate limits on, in memory
        "DATABASE_URL": run.url,
        "SECRET_KEY": "bench",
        "REDIS_URL": "",
        "UPLOAD_DIR": str(folder / "uploads"),
        "PORTAL_ENV": "development",
    }
    script = lua_script(paths, folder)
    servers: dict[str, tuple[Server, Path | None]] = {}
    figures: dict[str, list[dict]] = {name: [] for name in SIDES}
    try:
        servers["case page"] = Server("wsgi:app", env, paths[0]), script
        uncached = {**env, "PAGE_CACHE_MB": "0"}
        servers["case page uncached"] = Server("wsgi:app", uncached, paths[0]), script
        servers["bare"] = Server("bench.bare:app", {}, "/"), None
        visit(servers["case page"][0].base, paths)  # each worker renders and keeps each page
        for server, lua in servers.values():  # warm up: imports, templates, pools
            load(wrk, server.base + "/", SECONDS, CONNECTIONS, lua)
        for n in range(run.rounds):
            for name in SIDES[n % 3 :] + SIDES[: n % 3]:  # each goes first in turn
                server, lua = servers[name]
                figures[name].append(load(wrk, server.base + "/", SECONDS, CONNECTIONS, lua))
                print(f"   round {n + 1} {name}: {figures[name][-1]['rps']:.0f} requests/s")
        memory = {name: server.peak_rss_mb() for name, (server, _lua) in servers.items()}
    finally:
        for server, _lua in servers.values():
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return [_result(name, run, figures, memory) for name in SIDES[:2]]


SIDES = ["case page", "case page uncached", "bare"]


def _result(name: str, run: Run, figures: dict[str, list[dict]], memory: dict) -> dict:
    """Return one row: the portal's medians beside the bare app's, and their ratio."""

    def median(side: str, key: str) -> float:
        return statistics.median(f[key] for f in figures[side])

    result = {
        "benchmark": name,
        "database": run.database,
        "cases": run.cases,
        "connections": CONNECTIONS,
        "gunicorn": " ".join(GUNICORN),
        "rounds": run.rounds,
        "seconds": SECONDS,
        "pages": SAMPLE,
        "portal_rps": median(name, "rps"),
        "bare_rps": median("bare", "rps"),
        "portal_latency_p50_ms": median(name, "p50_ms"),
        "portal_latency_p99_ms": median(name, "p99_ms"),
        "bare_latency_p50_ms": median("bare", "p50_ms"),
        "bare_latency_p99_ms": median("bare", "p99_ms"),
        "portal_worker_peak_rss_mb": round(memory[name], 1),
        "bare_worker_peak_rss_mb": round(memory["bare"], 1),
        "rps_rounds": [round(f["rps"]) for f in figures[name]],
        "bare_rps_rounds": [round(f["rps"]) for f in figures["bare"]],
    }
    result["ratio"] = result["portal_rps"] / result["bare_rps"]
    # Without the cache: what the cache saves, not held to the target.
    result["met"] = result["ratio"] >= TARGET if name == "case page" else None
    result["portal_text"] = f"{result['portal_rps']:.0f} req/s"
    result["raw_text"] = f"{result['bare_rps']:.0f} req/s"
    result["ratio_text"] = result["summary_text"] = f"{result['ratio']:.2f}"
    result["load_average"] = round(os.getloadavg()[0], 1)  # the machine is shared
    result["note"] = (
        f"worker peak RSS {memory[name]:.0f} MB, bare {memory['bare']:.0f} MB; "
        f"load {result['load_average']}"
    )
    return result
