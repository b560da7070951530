#!/usr/bin/env python
"""Replay at the speed limit: how close replay through the relay comes to offline wandb.

One command (``make bench`` or ``python benchmarks/run.py [--cycles N]``) measures,
in one run, each mode in a process of its own (wandb-core is per process and the
SDK reads its environment once):

1. ``offline``: the floor, ``WANDB_MODE=offline``;
2. ``replay``: through the relay, from cassettes recorded in step 3 of this run;
3. ``record``: through the relay, against a stand-in W&B backend;
4. the example suite (``examples/trainer``): recording it against the stand-in
   vs replaying those cassettes, wall time and in-test time;
5. the relay alone: replayed GraphQL requests/s on one core, loading a
   1,000-interaction cassette, and relay memory growth while recording a
   200 MB upload;
6. scrubbing: the record path's scrubbing (hooks, personal data, secrets) of
   recorded bodies, per MB, against parsing the same bodies as JSON.

Each cycle is the same flow: ``wandb.init``, two ``run.log``, one checkpoint
artifact (a tiny torch ``state_dict``), ``run.finish``. A table is printed and
the same numbers written to ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
PROJECT = "wandb-cassettes-bench"
UPLOAD_MB = 200
LOAD_INTERACTIONS = 1000
SECTIONS = ("cycles", "scale", "suite", "rps", "load", "upload", "scrub")
#: Module sizes of the scale section (``--full`` adds 1,000 in every mode); a replay of
#: :data:`ULIMIT_SIZE` tests under ``ulimit -n 1024`` runs either way.
SCALE_SIZES = (1, 10, 100)
FULL_SIZES = (1, 10, 100, 1000)
ULIMIT_SIZE = 1000

TARGETS = {
    "replay_cycle_ratio": 1.5,  # median replay cycle (after the first) / offline
    "first_cycle_extra_s": 0.2,  # first replay cycle - first offline cycle
    "suite_speedup": 20.0,  # record wall time / replay wall time of the example suite
    # marginal cost of a replayed test / of the same test offline with the same settings
    "scale_marginal_ratio": 1.3,
    "scale_per_test_ratio": 1.3,  # the same, on each test's own time (median)
    "one_test_wall_ratio": 1.1,  # `pytest` of one test, replayed / offline-quiet wall
    "scale_flat_ratio": 1.2,  # replayed per-test time, largest module / N=10
    "scale_rss_growth_mb": 30.0,  # pytest and wandb-core peak RSS, largest module - N=10
    "relay_rps": 2000.0,
    "load_ms": 50.0,
    "upload_growth_mb": 50.0,
    # scrubbing a 10x longer body / the shorter one (a pattern that backtracks over a body,
    # or a scan per row, would make it ~100x)
    "scrub_growth_x10": 30.0,
}


# -- helpers ---------------------------------------------------------------------------


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _clean_env() -> dict[str, str]:
    """The parent's environment without anything that steers the SDK or the plugin."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WANDB_") and k not in ("HTTP_PROXY", "HTTPS_PROXY")
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _proc_status(field: str) -> int:
    """A ``/proc/self/status`` field in bytes (VmRSS, VmHWM)."""
    text = Path("/proc/self/status").read_text()
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) * 1024 if m else 0


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def _me(worker: str) -> list[str]:
    return [sys.executable, __file__, "--worker", worker]


def _worker(args: list[str], *, timeout: float = 900, env: dict[str, str] | None = None) -> Any:
    """Run ``run.py --worker ...`` in a fresh process; return the JSON it wrote."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = fh.name
    try:
        cmd = [sys.executable, __file__, "--worker", *args, "--result", out]
        proc = subprocess.run(cmd, env=env or _clean_env(), timeout=timeout, cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(f"benchmark worker failed ({proc.returncode}): {' '.join(args)}")
        return json.loads(Path(out).read_text())
    finally:
        os.unlink(out)


# -- workers: the wandb flow in one mode ---------------------------------------------------


def _flow(i: int, ckpt_dir: Path, steps: dict[str, list[float]]) -> None:
    import torch
    import wandb

    t = time.perf_counter()
    run = wandb.init(project=PROJECT, name=f"bench-{i}", config={"cycle": i, "lr": 0.1})
    t1 = time.perf_counter()
    run.log({"loss": 1.0, "epoch": 1})
    run.log({"loss": 0.5, "epoch": 2})
    t2 = time.perf_counter()
    torch.manual_seed(i)
    model = torch.nn.Linear(4, 2)
    path = ckpt_dir / f"{i}" / "checkpoint.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    artifact = wandb.Artifact("bench-checkpoint", type="model", metadata={"cycle": i})
    artifact.add_file(str(path), name="checkpoint.pt", policy="immutable")
    run.log_artifact(artifact, aliases=["latest"])
    t3 = time.perf_counter()
    run.finish()
    t4 = time.perf_counter()
    durations = {"init": t1 - t, "log": t2 - t1, "artifact": t3 - t2, "finish": t4 - t3}
    for name, dt in durations.items():
        steps.setdefault(name, []).append(dt)


def worker_cycles(ns: argparse.Namespace) -> dict[str, Any]:
    t_proc = time.perf_counter()
    import torch  # noqa: F401  (before timing: the test process has it anyway)

    from wandb_cassettes import store as cas
    from wandb_cassettes.runtime import REPLAY_API_KEY, new_seed, sdk_env, seeded_ids

    mode = ns.mode
    cassettes = Path(ns.cassettes)
    busy: list[float] = []
    relay_busy: list[float] = []
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{mode}-"))
    relay = None
    if mode == "offline":
        env = sdk_env("http://127.0.0.1:9", REPLAY_API_KEY, workdir)
        env["WANDB_MODE"] = "offline"
    else:
        from wandb_cassettes.record import Relay

        original = Relay._handle

        async def timed(self: Relay, request: Any) -> Any:
            t = time.perf_counter()
            try:
                return await original(self, request)
            finally:
                busy.append(time.perf_counter() - t)

        Relay._handle = timed  # type: ignore[method-assign]  (measures relay time per cycle)
        relay = Relay(ns.upstream).start()
        key = ns.api_key if mode == "record" else REPLAY_API_KEY
        env = sdk_env(relay.url, key, workdir)
    os.environ.update(env)
    t_imp = time.perf_counter()
    import wandb
    import wandb.sdk.launch  # (the plugin pre-imports it at relay start)

    import_s = time.perf_counter() - t_imp
    times: list[float] = []
    loads: list[float] = []
    steps: dict[str, list[float]] = {}
    errors: list[str] = []
    requests = 0
    for i in range(ns.cycles):
        test_id = f"benchmarks/run.py::cycle[{i}]"
        path = cassettes / f"cycle-{i}.yaml"
        t0 = time.perf_counter()
        rep = rec = None
        if mode == "replay":
            assert relay is not None
            recorded = cas.load(path)
            loads.append(time.perf_counter() - t0)
            rep = relay.replay(recorded)
            seed = str(recorded.metadata["seed"])
        elif mode == "record":
            assert relay is not None
            seed = new_seed()
            meta = cas.new_metadata(relay.upstream, seed=seed, test=test_id)
            rec = relay.record(cas.Cassette(metadata=meta, path=path), secrets=[ns.api_key])
        else:
            seed = "offline"
        with seeded_ids(seed, test_id):
            _flow(i, workdir / "ckpt", steps)
        if relay is not None:
            relay.activate(None)
        if rec is not None:
            cas.save(rec.cassette, path)
            requests += len(rec.cassette)
            errors += rec.upstream_errors
        if rep is not None:
            errors += [str(e) for e in rep.errors]
            errors += [f"unplayed #{j} {ix.method} {ix.uri}" for j, ix in rep.matcher.unplayed()]
            requests += len(rep.matcher._played)
        times.append(time.perf_counter() - t0)
        relay_busy.append(sum(busy))
        busy.clear()
    if relay is not None:
        errors += [f"stray {s}" for s in relay.stray]
        relay.stop()
    wandb.teardown()
    return {
        "mode": mode,
        "cycles": times,
        "steps": steps,
        "cassette_load": loads,
        "relay_busy": relay_busy,
        "requests_per_cycle": requests / max(ns.cycles, 1),
        "wandb_import_s": import_s,
        "process_s": time.perf_counter() - t_proc,
        "errors": errors,
    }


# -- workers: the relay alone ------------------------------------------------------------


def worker_relay_serve(ns: argparse.Namespace) -> dict[str, Any]:
    """A replaying relay pinned to CPU 0; serves until stdin says stop."""
    _pin(0)
    from wandb_cassettes import store as cache
    from wandb_cassettes.record import Relay

    recorded = cache.load_cached(ns.cassette)
    relay = Relay(ns.upstream).start()
    rep = relay.replay(recorded)
    print(relay.url, flush=True)
    sys.stdin.readline()  # "start"
    cpu0 = time.process_time()
    print("ok", flush=True)
    sys.stdin.readline()  # "stop"
    cpu = time.process_time() - cpu0
    relay.stop()
    return {"cpu_s": cpu, "errors": len(rep.errors), "played": len(rep.matcher._played)}


def _http_load(
    host: str, port: int, bodies: list[bytes], conns: int, seconds: float, prefix: str = ""
) -> tuple[int, float]:
    """Keep-alive HTTP/1.1 clients on raw sockets, one request in flight per connection.

    A few microseconds of client work per request, so the relay, not the client,
    is what is measured (an aiohttp or http.client client costs as much CPU as
    the relay itself).
    """
    import selectors
    import socket

    requests = [
        (
            f"POST {prefix}/graphql HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Basic eDp5\r\n"
            f"Content-Length: {len(b)}\r\n\r\n"
        ).encode()
        + b
        for b in bodies
    ]
    sel = selectors.DefaultSelector()
    state: dict[socket.socket, list[Any]] = {}
    for k in range(conns):
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        state[sock] = [k, bytearray()]
        sock.send(requests[k % len(requests)])
        sel.register(sock, selectors.EVENT_READ)
    done, t0 = 0, time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        for key, _ in sel.select(1.0):
            sock = key.fileobj  # type: ignore[assignment]
            st = state[sock]
            buf = st[1]
            buf += sock.recv(1 << 16)
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            head = bytes(buf[:head_end]).lower()
            m = re.search(rb"content-length:\s*(\d+)", head)
            length = int(m.group(1)) if m else 0
            if len(buf) < head_end + 4 + length:
                continue
            if head[9:12] != b"200" or b"connection: close" in head:
                raise RuntimeError(f"relay answered {bytes(buf[: head_end + 4 + length])!r}")
            del buf[: head_end + 4 + length]
            done += 1
            st[0] += 1
            sock.send(requests[st[0] % len(requests)])
    elapsed = time.perf_counter() - t0
    for sock in state:
        sock.close()
    return done, elapsed


def worker_rps_client(ns: argparse.Namespace) -> dict[str, Any]:
    """Keep-alive GraphQL clients pinned to CPU 1: one connection, then ``--conns`` at once."""
    _pin(1)
    bodies = [b.encode() for b in json.loads(Path(ns.bodies).read_text())]
    url = urlsplit(ns.url)  # the relay's base URL: its path is the session's secret
    host, port, prefix = url.hostname or "", url.port or 80, url.path
    _http_load(host, port, bodies, 1, 0.3, prefix)  # warm-up
    print("ready", flush=True)
    sys.stdin.readline()
    n1, t1 = _http_load(host, port, bodies, 1, ns.seconds, prefix)
    n2, t2 = _http_load(host, port, bodies, ns.conns, ns.seconds, prefix)
    return {
        "sequential": {"requests": n1, "seconds": t1, "rps": n1 / t1},
        "concurrent": {"requests": n2, "seconds": t2, "rps": n2 / t2, "conns": ns.conns},
    }


def worker_load(ns: argparse.Namespace) -> dict[str, Any]:
    """Load a 1,000-interaction cassette: parsing the YAML, then from the parsed-cassette cache."""
    from vcr.serializers import yamlserializer

    from wandb_cassettes import store as cache
    from wandb_cassettes import store as cas

    path = Path(ns.cassette)
    text = path.read_text()
    os.environ[cache.CACHE_ENV] = "off"
    t0 = time.perf_counter()
    parsed = cas.load(path)
    yaml_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    yamlserializer.deserialize(text)
    yaml_only = time.perf_counter() - t0
    os.environ[cache.CACHE_ENV] = str(path.parent / "cache")
    t0 = time.perf_counter()
    cache.load_cached(path)  # a miss: parses, then writes the entry
    miss = time.perf_counter() - t0
    cached = []
    for _ in range(7):
        t0 = time.perf_counter()
        again = cache.load_cached(path)
        cached.append(time.perf_counter() - t0)
    if again != parsed:
        raise SystemExit("the cached cassette differs from the parsed one")
    return {
        "interactions": len(parsed),
        "bytes": len(text.encode()),
        "yaml_s": yaml_load,
        "yaml_parse_only_s": yaml_only,
        "cache_miss_s": miss,
        "cached_first_s": cached[0],
        "cached_median_s": _median(cached),
    }


def worker_upload_mem(ns: argparse.Namespace) -> dict[str, Any]:
    """A recording relay; reports its peak RSS growth around an upload driven by the parent."""
    from wandb_cassettes.record import Relay
    from wandb_cassettes.store import Cassette

    relay = Relay(ns.upstream).start()
    rec = relay.record(Cassette(metadata={"upstream": ns.upstream}), secrets=["x" * 40])
    print(relay.url, flush=True)
    sys.stdin.readline()  # warm-up done: reset the peak
    Path("/proc/self/clear_refs").write_text("5")
    base_rss, base_hwm = _proc_status("VmRSS"), _proc_status("VmHWM")
    print("ok", flush=True)
    sys.stdin.readline()  # upload done
    hwm, rss = _proc_status("VmHWM"), _proc_status("VmRSS")
    relay.stop()
    last = rec.cassette.interactions[-1]
    return {
        "baseline_rss": base_rss,
        "baseline_hwm": base_hwm,
        "peak_hwm": hwm,
        "after_rss": rss,
        "growth_bytes": hwm - base_rss,
        "recorded_body": repr(last.request_body),
        "interactions": len(rec.cassette),
    }


def worker_scrub(ns: argparse.Namespace) -> dict[str, Any]:
    """Scrub recorded cassettes as recording does (one session per cassette), pass after pass.

    The bodies: the cycles recorded in this run and the example suite's cassettes. The
    first pass (loading the secret rules, e.g. compiling a rule catalogue) is reported
    apart from the median pass; the yardstick is ``json.loads`` of the same bodies.
    """
    from wandb_cassettes import store as cas
    from wandb_cassettes.redact import CassetteScrubber, Scrubber

    paths = sorted(Path(ns.cassettes).glob("cycle-*.yaml"))
    paths += sorted((ROOT / "cassettes").rglob("*.yaml"))
    loaded = [cas.load(p) for p in paths]
    texts = [
        t
        for c in loaded
        for ix in c.interactions
        for t in (ix.uri, ix.request_text() or "", cas.body_text(ix.response_body) or "")
        if t
    ]
    size = sum(len(t.encode()) for t in texts)
    scrubber = Scrubber(secrets=(ns.api_key,))

    def scrub_all() -> float:
        t0 = time.perf_counter()
        for c in loaded:
            session = CassetteScrubber(scrubber)
            for ix in c.interactions:
                session.record(ix)
            session.finish(c)
        return time.perf_counter() - t0

    def parse_all() -> float:
        t0 = time.perf_counter()
        for t in texts:
            with contextlib.suppress(ValueError):
                json.loads(t)
        return time.perf_counter() - t0

    def history(rows: int) -> cas.Interaction:
        """A file_stream post of ``rows`` history rows (~75 bytes each)."""
        rows_ = [
            {"_step": i, "loss": i / 3, "_timestamp": 1.7e9 + i, "t": "hello world"}
            for i in range(rows)
        ]
        uri = "https://api.wandb.ai/files/e/p/r/file_stream"
        return cas.Interaction("POST", uri, request_body=json.dumps(rows_))

    def fastest(ix: cas.Interaction) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            CassetteScrubber(scrubber).record(ix)
            times.append(time.perf_counter() - t0)
        return min(times)

    first = scrub_all()
    small, large = history(2_000), history(20_000)  # 150 KB and 1.5 MB
    growth = fastest(large) / fastest(small)
    passes: list[float] = []
    parses: list[float] = []
    deadline = time.perf_counter() + ns.seconds
    while len(passes) < 3 or (time.perf_counter() < deadline and len(passes) < 50):
        passes.append(scrub_all())
        parses.append(parse_all())
    return {
        "cassettes": len(loaded),
        "interactions": sum(len(c.interactions) for c in loaded),
        "bytes": size,
        "first_pass_s": first,
        "pass_s": _median(passes),
        "json_s": _median(parses),
        "passes": len(passes),
        "growth_x10": growth,
    }


# -- orchestration ---------------------------------------------------------------------------


def bench_cycles(ns: argparse.Namespace, wb: Any, cassettes: Path, full: bool) -> dict[str, Any]:
    """Record ``ns.cycles`` cassettes (always: later sections use them), then offline and
    replay processes, alternating for ``ns.rounds`` rounds (a busy machine then skews both)."""
    cycles = ns.cycles if full else 2
    common = ["--cycles", str(cycles), "--cassettes", str(cassettes)]
    common += ["--upstream", wb.base_url, "--api-key", wb.api_key]
    out: dict[str, Any] = {}
    print(f"[cycles] record x{cycles} against the stand-in ...", flush=True)
    with _latency(wb, ns.latency_ms):
        out["record"] = _worker(["cycles", "--mode", "record", *common])
    if not full:
        return {}
    rounds: dict[str, list[dict[str, Any]]] = {"offline": [], "replay": []}
    for r in range(ns.rounds):
        for mode in ("offline", "replay"):
            print(f"[cycles] {mode} x{cycles} (round {r + 1}/{ns.rounds}) ...", flush=True)
            seen = len(wb.requests)
            res = _worker(["cycles", "--mode", mode, *common])
            if len(wb.requests) != seen:
                res["errors"].append(f"{mode} reached the stand-in")
            rounds[mode].append(res)
    for mode, results in rounds.items():
        out[mode] = _pool(results)
    out["record"] = _pool([out["record"]])
    return out


def _pool(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One mode's rounds as one: ``first`` = each process's first cycle, ``later`` the rest."""
    pooled: dict[str, Any] = {
        "mode": results[0]["mode"],
        "rounds": results,
        "first": [r["cycles"][0] for r in results],
        "later": [c for r in results for c in r["cycles"][1:]],
        "steps": {},
        "relay_busy": [c for r in results for c in r["relay_busy"][1:]],
        "cassette_load": [c for r in results for c in r["cassette_load"]],
        "requests_per_cycle": results[0]["requests_per_cycle"],
        "errors": [e for r in results for e in r["errors"]],
    }
    for r in results:
        for k, v in r["steps"].items():
            pooled["steps"].setdefault(k, []).extend(v[1:])
    return pooled


@contextlib.contextmanager
def _latency(wb: Any, ms: float) -> Iterator[None]:
    """Make the stand-in answer every request ``ms`` later (a remote W&B, roughly)."""
    if ms > 0:
        wb.inject_fault("/", delay=ms / 1000, times=None)
    try:
        yield
    finally:
        if ms > 0:
            wb.clear_faults()


def _junit_times(suite: ET.Element) -> dict[str, float]:
    cases = suite.findall("testcase")
    marked = [
        float(c.get("time", 0)) for c in cases if c.get("classname", "").endswith("TestWithWandb")
    ]
    return {
        "wandb_test_times_s": marked,
        "session_s": float(suite.get("time", 0)),
        "tests_s": sum(float(c.get("time", 0)) for c in cases),
        "wandb_tests_s": sum(marked),
        "tests": float(len(cases)),
    }


def bench_suite(ns: argparse.Namespace, wb: Any, tmp: Path) -> dict[str, Any]:
    cassette_dir = tmp / "suite-cassettes"
    env = _clean_env()
    base = [sys.executable, "-m", "pytest", "examples/trainer", "-p", "no:randomly", "-q"]
    base += ["-o", f"wandb_cassette_dir={cassette_dir}", "-p", "no:cacheprovider"]
    out: dict[str, Any] = {}
    runs = [
        ("record", ["--record-mode=rewrite", "--wandb-upstream", wb.base_url], True),
        ("replay", ["--record-mode=none", "--block-network"], False),
    ]
    for name, extra, with_key in runs:
        junit = tmp / f"suite-{name}.xml"
        run_env = dict(env, WANDB_API_KEY=wb.api_key) if with_key else env
        print(f"[suite] {name} examples/trainer ...", flush=True)
        with _latency(wb, ns.latency_ms if with_key else 0):
            import scale

            wall, suite = scale.pytest_session(
                [*base, *extra, f"--junitxml={junit}"],
                ROOT,
                run_env,
                junit,
                f"example suite {name}",
                timeout=1800,
            )
        out[name] = {"wall_s": wall, **_junit_times(suite)}
    # What bounds the wall time outside the tests: interpreter + imports + collection.
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import torch, wandb, wandb.sdk.launch, aiohttp, vcr"],
        env=env,
        check=True,
    )
    out["imports_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run(
        [*base, "--collect-only", "-q"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    out["collect_s"] = time.perf_counter() - t0
    return out


def bench_scale(ns: argparse.Namespace, wb: Any, tmp: Path) -> dict[str, Any]:
    """A module of N tests in every mode (see benchmarks/scale.py), and the ulimit row."""
    import scale

    sizes = list(FULL_SIZES if ns.full else SCALE_SIZES)
    return scale.measure(
        tmp / "scale",
        sizes,
        rounds=ns.rounds,
        upstream=wb.base_url,
        api_key=wb.api_key,
        base_env=_clean_env(),
        quiet=scale.quiet_settings(),
        ulimit_size=ULIMIT_SIZE,
    )


def _is_mutation(gql: Any) -> bool:
    return gql is None or bool(gql.document.is_mutation)


def _graphql_bodies(cassette_path: Path, dest: Path) -> int:
    from wandb_cassettes import store as cas
    from wandb_cassettes.protocol import parse_request

    c = cas.load(cassette_path)
    bodies = [
        ix.request_text()
        for ix in c
        if ix.method == "POST" and ix.uri.endswith("/graphql") and ix.request_text()
    ]
    # Queries only: replay answers a query as often as asked, never a mutation twice
    # (a test that repeats a change is not the test that was recorded).
    bodies = [b for b in bodies if not _is_mutation(parse_request(b))]
    dest.write_text(json.dumps(bodies))
    return len(bodies)


def bench_rps(ns: argparse.Namespace, upstream: str, cassette: Path, tmp: Path) -> dict[str, Any]:
    bodies = tmp / "bodies.json"
    n_bodies = _graphql_bodies(cassette, bodies)
    env = _clean_env()
    res_s, res_c = tmp / "serve.json", tmp / "client.json"
    out_s, out_c = ["--result", str(res_s)], ["--result", str(res_c)]
    load = ["--seconds", str(ns.rps_seconds), "--conns", "8"]
    server = subprocess.Popen(
        [*_me("relay-serve"), "--cassette", str(cassette), "--upstream", upstream, *out_s],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert server.stdin and server.stdout
    url = server.stdout.readline().strip()
    client = subprocess.Popen(
        [*_me("rps-client"), "--url", url, "--bodies", str(bodies), *out_c, *load],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert client.stdin and client.stdout
    client.stdout.readline()  # warmed up
    server.stdin.write("start\n")
    server.stdin.flush()
    server.stdout.readline()
    client.stdin.write("go\n")
    client.stdin.flush()
    client.wait(timeout=120)
    server.stdin.write("stop\n")
    server.stdin.flush()
    server.wait(timeout=60)
    s, c = json.loads(res_s.read_text()), json.loads(res_c.read_text())
    total = c["sequential"]["requests"] + c["concurrent"]["requests"]
    return {
        **c,
        "relay_cpu_s": s["cpu_s"],
        "relay_cpu_us_per_request": 1e6 * s["cpu_s"] / max(total, 1),
        "relay_errors": s["errors"],
        "distinct_bodies": n_bodies,
    }


def _thousand(cassettes: Path, dest: Path) -> Path:
    from wandb_cassettes import store as cas

    pool = [ix for p in sorted(cassettes.glob("cycle-*.yaml")) for ix in cas.load(p)]
    first = cas.load(next(iter(sorted(cassettes.glob("cycle-*.yaml")))))
    interactions = [pool[i % len(pool)] for i in range(LOAD_INTERACTIONS)]
    return cas.save(cas.Cassette(interactions, dict(first.metadata)), dest)


def bench_upload(tmp: Path) -> dict[str, Any]:
    from aiohttp import web

    from wandb_cassettes.record import BackgroundServer

    received = {"bytes": 0}

    async def sink(request: web.Request) -> web.Response:
        if request.path == "/graphql":  # hands out the storage URL (the relay forwards no other)
            # Another host than the upstream's, as W&B's storage is: the same server by name.
            storage = f"http://localhost:{server.port}/bucket/blob"
            return web.json_response({"data": {"uploadUrl": storage}})
        async for chunk in request.content.iter_chunked(1 << 20):
            received["bytes"] += len(chunk)
        return web.Response(text="")

    app = web.Application(client_max_size=0)
    app.router.add_route("*", "/{tail:.*}", sink)
    res = tmp / "upload.json"
    with BackgroundServer(app) as server:
        relay = subprocess.Popen(
            [*_me("upload-mem"), "--upstream", server.url, "--result", str(res)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=_clean_env(),
        )
        assert relay.stdin and relay.stdout
        relay_url = urlsplit(relay.stdout.readline().strip())
        host, port = relay_url.hostname or "", relay_url.port or 80
        path = (
            f"{relay_url.path}/_ext/http/localhost:{server.port}/bucket/blob?X-Goog-Signature=abc"
        )
        asked = http.client.HTTPConnection(host, port, timeout=30)
        asked.request("POST", f"{relay_url.path}/graphql", b"{}")
        assert asked.getresponse().read()  # the upstream hands out the storage URL
        asked.close()

        def put(size: int) -> float:
            conn = http.client.HTTPConnection(host, port, timeout=300)
            chunk = os.urandom(1 << 20)
            t0 = time.perf_counter()
            conn.putrequest("PUT", path)
            conn.putheader("Content-Length", str(size))
            conn.putheader("Content-Type", "application/octet-stream")
            conn.endheaders()
            sent = 0
            while sent < size:
                piece = chunk[: min(len(chunk), size - sent)]
                conn.send(piece)
                sent += len(piece)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200, resp.status
            conn.close()
            return time.perf_counter() - t0

        put(4 << 20)  # warm-up: client session, code paths
        relay.stdin.write("baseline\n")
        relay.stdin.flush()
        relay.stdout.readline()
        received["bytes"] = 0
        seconds = put(UPLOAD_MB << 20)
        relay.stdin.write("done\n")
        relay.stdin.flush()
        relay.wait(timeout=60)
    out: dict[str, Any] = json.loads(res.read_text())
    out["upload_s"] = seconds
    out["upstream_received"] = received["bytes"]
    return out


def orchestrate(ns: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from wandb_cassettes_standin import StandinBackend

    results: dict[str, Any] = {
        "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
        "cycles_per_mode": ns.cycles,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    import wandb_cassettes

    results["machine"]["wandb_cassettes"] = wandb_cassettes.__version__
    only = set(ns.only.split(","))
    if only - set(SECTIONS):
        raise SystemExit(f"--only: unknown section(s) {sorted(only - set(SECTIONS))}")
    with tempfile.TemporaryDirectory(prefix="wandb-cassettes-bench-") as tmpname:
        tmp = Path(tmpname)
        cassettes = tmp / "cycles"
        cassettes.mkdir()
        with StandinBackend() as wb:
            api_key = wb.api_key
            results["wandb"] = subprocess.run(
                [sys.executable, "-c", "import wandb; print(wandb.__version__)"],
                capture_output=True,
                text=True,
                env=_clean_env(),
            ).stdout.strip()
            results["modes"] = bench_cycles(ns, wb, cassettes, "cycles" in only)
            if "scale" in only:
                results["scale"] = bench_scale(ns, wb, tmp)
            if "suite" in only:
                results["suite"] = bench_suite(ns, wb, tmp)
            if "rps" in only:
                print("[relay] replayed requests per second ...", flush=True)
                results["relay_rps"] = bench_rps(ns, wb.base_url, cassettes / "cycle-0.yaml", tmp)
        if "load" in only:
            print(f"[relay] loading a {LOAD_INTERACTIONS}-interaction cassette ...", flush=True)
            big = _thousand(cassettes, tmp / "load" / "thousand.yaml")
            results["cassette_load"] = _worker(["load", "--cassette", str(big)])
        if "upload" in only:
            print(f"[relay] recording a {UPLOAD_MB} MB upload ...", flush=True)
            results["upload"] = bench_upload(tmp)
        if "scrub" in only:
            print("[scrub] scrubbing recorded bodies ...", flush=True)
            results["scrub"] = _worker(
                ["scrub", "--cassettes", str(cassettes), "--api-key", api_key]
            )
    results["summary"] = summarize(results)
    return results


def summarize(r: dict[str, Any]) -> dict[str, Any]:
    s: dict[str, Any] = {}
    checks: dict[str, tuple[float, bool]] = {}
    modes = r.get("modes")
    if modes:
        s["modes"] = {}
        off_first = _median(modes["offline"]["first"])
        off_rest = _median(modes["offline"]["later"])
        for name in ("offline", "replay", "record"):
            m = modes[name]
            first, rest = _median(m["first"]), _median(m["later"])
            s["modes"][name] = {
                "first_s": first,
                "median_s": rest,
                "ratio_first": first / off_first,
                "ratio_median": rest / off_rest,
                "steps_median_s": {k: _median(v) for k, v in m["steps"].items()},
                "relay_busy_median_s": _median(m["relay_busy"]) if m["relay_busy"] else 0.0,
                "requests_per_cycle": m["requests_per_cycle"],
                "processes": len(m["rounds"]),
                "errors": len(m["errors"]),
            }
        rep = s["modes"]["replay"]
        extra = rep["first_s"] - off_first
        checks["replay_cycle_ratio"] = (rep["ratio_median"], rep["ratio_median"] <= 1.5)
        checks["first_cycle_extra_s"] = (extra, extra <= TARGETS["first_cycle_extra_s"])
    if "scale" in r:
        import scale

        rows = scale.summarize(r["scale"])
        s["scale"] = rows
        sizes = sorted(r["scale"]["sizes"])
        big, small = sizes[-1], 10
        rep, quiet = rows[f"{big}:replay"], rows[f"{big}:offline-quiet"]
        # Wall differences between module sizes: on a loaded machine one of them can come
        # out negative (the smaller module ran slower); such a ratio means nothing, and is
        # never a pass.
        if rep.get("marginal_s", 0) > 0 and quiet.get("marginal_s", 0) > 0:
            ratio = rep["marginal_s"] / quiet["marginal_s"]
            checks["scale_marginal_ratio"] = (ratio, ratio <= TARGETS["scale_marginal_ratio"])
        else:
            checks["scale_marginal_ratio"] = (float("nan"), False)
        # The same target on each test's own time (junit: set-up, call, teardown; median of
        # the tests after the first), which the machine's load skews less than walls do.
        per_test = rep["per_test_s"] / quiet["per_test_s"] if quiet["per_test_s"] else float("nan")
        checks["scale_per_test_ratio"] = (per_test, per_test <= TARGETS["scale_marginal_ratio"])
        one = rows["1:replay"]["wall_s"] / rows["1:offline-quiet"]["wall_s"]
        checks["one_test_wall_ratio"] = (one, one <= TARGETS["one_test_wall_ratio"])
        drift = rep["per_test_s"] / rows[f"{small}:replay"]["per_test_s"]
        checks["scale_flat_ratio"] = (drift, drift <= TARGETS["scale_flat_ratio"])
        ulimit = r["scale"].get("ulimit")
        growth = max(
            rows[f"{big}:replay"]["pytest_hwm_mb"] - rows[f"{small}:replay"]["pytest_hwm_mb"],
            rows[f"{big}:replay"]["core_hwm_mb"] - rows[f"{small}:replay"]["core_hwm_mb"],
        )
        if ulimit and ulimit["size"] > big:  # the largest replay is the ulimit row
            base = rows[f"{small}:replay"]
            growth = max(
                (ulimit.get("pytest_hwm_kb") or 0) / 1024 - base["pytest_hwm_mb"],
                (ulimit.get("core_hwm_kb") or 0) / 1024 - base["core_hwm_mb"],
            )
        checks["scale_rss_growth_mb"] = (growth, growth < TARGETS["scale_rss_growth_mb"])
    if "suite" in r:
        su = r["suite"]
        wall = su["record"]["wall_s"] / su["replay"]["wall_s"]
        intest = su["record"]["wandb_tests_s"] / max(su["replay"]["wandb_tests_s"], 1e-9)
        s["suite"] = {"wall_speedup": wall, "wandb_tests_speedup": intest}
        checks["suite_speedup"] = (wall, wall >= TARGETS["suite_speedup"])
    if "relay_rps" in r:
        rps = max(r["relay_rps"]["sequential"]["rps"], r["relay_rps"]["concurrent"]["rps"])
        checks["relay_rps"] = (rps, rps >= TARGETS["relay_rps"])
    if "cassette_load" in r:
        load_ms = 1000 * r["cassette_load"]["cached_first_s"]
        checks["load_ms"] = (load_ms, load_ms < TARGETS["load_ms"])
    if "upload" in r:
        growth = r["upload"]["growth_bytes"] / 2**20
        checks["upload_growth_mb"] = (growth, growth < TARGETS["upload_growth_mb"])
    if "scrub" in r:
        sc = r["scrub"]
        mb = sc["bytes"] / 1e6
        s["scrub"] = {
            "ms_per_mb": 1000 * sc["pass_s"] / mb,
            "json_ms_per_mb": 1000 * sc["json_s"] / mb,
            "x_json": sc["pass_s"] / sc["json_s"],
            "first_pass_s": sc["first_pass_s"],
        }
        growth = sc["growth_x10"]
        checks["scrub_growth_x10"] = (growth, growth < TARGETS["scrub_growth_x10"])
    s["targets"] = {
        k: {"value": v, "target": TARGETS[k], "met": ok} for k, (v, ok) in checks.items()
    }
    return s


def render(r: dict[str, Any]) -> str:
    s = r["summary"]
    lines = [
        f"wandb-cassettes benchmark: {r['cycles_per_mode']} cycles per mode "
        f"(init, 2 logs, 1 checkpoint artifact, finish); wandb {r.get('wandb', '?')}, "
        f"{r['machine']['cpus']} CPUs",
    ]
    if "modes" in s:
        lines += [
            "",
            "| mode | first cycle | median later cycle | x offline (first / later) "
            "| requests/cycle | relay busy/cycle | init / log / artifact / finish (later) |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name in ("offline", "replay", "record"):
            m = s["modes"][name]
            st = m["steps_median_s"]
            steps = " / ".join(f"{1000 * st[k]:.0f}" for k in ("init", "log", "artifact", "finish"))
            busy = f"{1000 * m['relay_busy_median_s']:.1f} ms" if name != "offline" else "-"
            lines.append(
                f"| {name} | {m['first_s']:.3f} s | {m['median_s']:.3f} s | "
                f"{m['ratio_first']:.2f} / {m['ratio_median']:.2f} | "
                f"{m['requests_per_cycle']:.0f} | {busy} | {steps} ms |"
            )
        loads = r["modes"]["replay"]["cassette_load"]
        lines.append(
            f"\n{s['modes']['replay']['processes']} offline and replay processes, alternating; "
            f"first cycle = median of their first cycles, later = median of all later cycles. "
            f"replay: cassette load per cycle (median) {1000 * _median(loads):.1f} ms"
        )
    if "scale" in s:
        import scale

        lines += scale.render(r["scale"], s["scale"])
    if "suite" in r:
        su = r["suite"]
        lines += [
            "",
            "| example suite | wall | pytest session | all tests | wandb tests |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name in ("record", "replay"):
            x = su[name]
            lines.append(
                f"| {name} | {x['wall_s']:.2f} s | {x['session_s']:.2f} s | "
                f"{x['tests_s']:.2f} s | {x['wandb_tests_s']:.2f} s |"
            )
        for name in ("record", "replay"):
            times = su[name]["wandb_test_times_s"]
            lines.append(
                f"{name}: wandb tests one by one "
                + ", ".join(f"{t:.2f}" for t in times)
                + " s (the first pays wandb-core start and torch/SDK lazy imports)"
            )
        lines.append(
            f"\nsuite: record/replay wall {s['suite']['wall_speedup']:.2f}x, wandb tests "
            f"{s['suite']['wandb_tests_speedup']:.2f}x; start-up floor: imports "
            f"{su['imports_s']:.2f} s, pytest --collect-only {su['collect_s']:.2f} s"
        )
    lines.append("")
    if "relay_rps" in r:
        rp = r["relay_rps"]
        lines.append(
            f"relay replay: {rp['sequential']['rps']:.0f} req/s on 1 keep-alive connection, "
            f"{rp['concurrent']['rps']:.0f} req/s on {rp['concurrent']['conns']}; relay CPU "
            f"{rp['relay_cpu_us_per_request']:.0f} us/request (one core)"
        )
    if "cassette_load" in r:
        ld = r["cassette_load"]
        lines.append(
            f"cassette load, {ld['interactions']} interactions ({ld['bytes'] / 1e6:.2f} MB): "
            f"cached {1000 * ld['cached_first_s']:.1f} ms (median "
            f"{1000 * ld['cached_median_s']:.1f}); uncached (YAML) {1000 * ld['yaml_s']:.1f} ms, "
            f"of which vcrpy's YAML parse {1000 * ld['yaml_parse_only_s']:.1f} ms; "
            f"first load (parse + cache write) {1000 * ld['cache_miss_s']:.1f} ms"
        )
    if "upload" in r:
        up = r["upload"]
        lines.append(
            f"recording a {UPLOAD_MB} MB upload: relay peak RSS "
            f"+{up['growth_bytes'] / 2**20:.1f} MB ({up['upload_s']:.2f} s, "
            f"{up['upstream_received'] / 2**20:.0f} MB reached upstream)"
        )
    if "scrub" in r:
        sc, ss = r["scrub"], s["scrub"]
        lines.append(
            f"scrubbing recorded bodies ({sc['interactions']} interactions of "
            f"{sc['cassettes']} cassettes, {sc['bytes'] / 1e6:.2f} MB): "
            f"{ss['ms_per_mb']:.1f} ms per MB (median of {sc['passes']} passes), "
            f"{ss['x_json']:.1f}x a json.loads of the same bodies "
            f"({ss['json_ms_per_mb']:.1f} ms per MB); first pass "
            f"{1000 * ss['first_pass_s']:.0f} ms (loads the rules)"
        )
    lines += ["", "| target | value | goal | met |", "| --- | --- | --- | --- |"]
    fmt = {
        "replay_cycle_ratio": ("replay later cycle / offline", "{:.2f}x", "<= {}x"),
        "first_cycle_extra_s": ("first replay - first offline", "{:+.3f} s", "<= {} s"),
        "scale_marginal_ratio": (
            "marginal per test: replay / offline-quiet (largest N)",
            "{:.2f}x",
            "<= {}x",
        ),
        "scale_per_test_ratio": (
            "per-test time (median): replay / offline-quiet (largest N)",
            "{:.2f}x",
            "<= {}x",
        ),
        "one_test_wall_ratio": ("one test: replay / offline-quiet wall", "{:.2f}x", "<= {}x"),
        "scale_flat_ratio": ("replayed per-test time, largest N / N=10", "{:.2f}x", "<= {}x"),
        "scale_rss_growth_mb": ("peak RSS growth, largest N - N=10", "{:.1f} MB", "< {} MB"),
        "suite_speedup": ("suite record / replay wall", "{:.2f}x", ">= {}x"),
        "relay_rps": ("relay replayed req/s", "{:.0f}", ">= {:.0f}"),
        "load_ms": ("1,000-interaction load (cached)", "{:.1f} ms", "< {} ms"),
        "upload_growth_mb": ("200 MB upload RSS growth", "{:.1f} MB", "< {} MB"),
        "scrub_growth_x10": ("scrubbing a 10x longer body / the shorter", "{:.1f}x", "< {}x"),
    }
    for key, t in s["targets"].items():
        label, vf, gf = fmt[key]
        lines.append(
            f"| {label} | "
            f"{vf.format(t['value']) if t['value'] == t['value'] else 'unmeasured (load)'} | "
            f"{gf.format(t['target'])} | "
            f"{'yes' if t['met'] else 'NO'} |"
        )
    modes = r.get("modes") or {}
    errs = {k: v["errors"] for k, v in modes.items() if v["errors"]}
    if errs:
        lines.append(f"\nERRORS: {json.dumps(errs, indent=1)[:3000]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cycles", type=int, default=10, help="cycles per mode (default 10)")
    p.add_argument("--out", default=str(RESULTS), help="results JSON (default %(default)s)")
    p.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})",
    )
    p.add_argument("--rps-seconds", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=2, help="offline/replay process pairs (default 2)")
    p.add_argument(
        "--full",
        action="store_true",
        help=f"scale: every mode at {FULL_SIZES} tests (default {SCALE_SIZES}; the ulimit row "
        f"replays {ULIMIT_SIZE} either way)",
    )
    p.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="delay every stand-in answer while recording (default 0: loopback speed)",
    )
    # internal: worker processes
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    p.add_argument("--cassettes", help=argparse.SUPPRESS)
    p.add_argument("--cassette", help=argparse.SUPPRESS)
    p.add_argument("--upstream", help=argparse.SUPPRESS)
    p.add_argument("--api-key", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--bodies", help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    p.add_argument("--conns", type=int, default=8, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    if ns.worker:
        workers = {
            "cycles": worker_cycles,
            "relay-serve": worker_relay_serve,
            "rps-client": worker_rps_client,
            "load": worker_load,
            "upload-mem": worker_upload_mem,
            "scrub": worker_scrub,
        }
        result = workers[ns.worker](ns)
        Path(ns.result).write_text(json.dumps(result, indent=1))
        return 0
    results = orchestrate(ns)
    out = Path(ns.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results["table"] = render(results)
    out.write_text(json.dumps(results, indent=1))
    print()
    print(results["table"])
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    sys.exit(main())
