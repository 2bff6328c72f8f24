"""Benchmark: the driving page under load and faults (issue 47 item 5), on the loopback address only.

    python benchmarks/drive_soak.py                                   # driving-svg_lp_action, 4 clients x 200 presses
    python benchmarks/drive_soak.py --out benchmarks/results/drive-soak-<machine>.txt
    python benchmarks/drive_soak.py --profile tiny --size 32 --clients 2 --presses 10   # smoke scale (tests)

The page's real server (genvid.drive.app: uvicorn, the FastAPI app, the Engine) listens on a free port
of 127.0.0.1 in a thread of this process. Its model is the run's trained one where ``make repro`` left
it under --root, else freshly initialised (benchmarks/drive.py's fresh_engine). Then:

1. **Soak**: ``--clients`` threads, each with its own keep-alive connection, start a session and press
   ``--presses`` times, cycling through the held actions and the slider. Every answer must be 200 with
   its frames; per press, the milliseconds per generated frame are kept (PNG encoding and HTTP
   included). The process's resident memory is read after the first tenth of the presses (warm) and at
   the end: the growth between them is reported, as is every percentile below.
2. **Faults**, after the soak on the same server: an oversized body (declared and undeclared length),
   malformed JSON, wrong types, an unknown session, an unknown path; each must be answered with a 4xx
   and one JSON error line.
3. The server must still answer ``/api/info``.

The loops are bounded (clients x presses, a timeout on every request); the script prints its figures
(never asserting a time) and exits 1 when a press failed, a fault was not one JSON error line, or the
server stopped answering. ``--out`` writes the same lines to a file (benchmarks/results/, rendered on
docs/results.md).
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from drive import fresh_engine  # noqa: E402  (benchmarks/drive.py)

from genvid import params as P  # noqa: E402
from genvid.determinism import configure_torch, cpu_info  # noqa: E402
from genvid.drive.app import DEFAULT_HOST, serving  # noqa: E402
from genvid.drive.loading import load_engine  # noqa: E402
from genvid.layout import run_paths  # noqa: E402
from genvid.profiles import apply, load_profile  # noqa: E402

TIMEOUT = 60.0  # seconds any one request may take


def rss_mb() -> float:
    """This process's resident memory (MB), from /proc (0 where there is none)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def call(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
         headers: dict | None = None) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    return response.status, response.read()


def client(port: int, clip: int, presses: int, actions: list[str], out: dict, warm: threading.Barrier) -> None:
    """One user: a session, then ``presses`` presses; per press (ms per frame) or the error."""
    conn = http.client.HTTPConnection(DEFAULT_HOST, port, timeout=TIMEOUT)
    try:
        status, body = call(conn, "POST", "/api/sessions", json.dumps({"clip": clip}).encode())
        if status != 200:
            out["errors"].append(f"start: {status} {body[:200]!r}")
            return
        session = json.loads(body)["session"]
        for i in range(presses):
            if i == max(1, presses // 10):
                warm.wait(TIMEOUT)
            request = {"steer": round(0.05 * ((i % 5) - 2), 3)} if i % 3 == 2 else {"action": actions[i % len(actions)]}
            t0 = time.perf_counter()
            status, body = call(conn, "POST", f"/api/sessions/{session}/press", json.dumps(request).encode())
            elapsed = time.perf_counter() - t0
            frames = json.loads(body).get("frames", []) if status == 200 else []
            if status != 200 or not frames:
                out["errors"].append(f"press {i}: {status} {body[:200]!r}")
                continue
            out["ms"].append(1000 * elapsed / len(frames))
    except (OSError, http.client.HTTPException, ValueError) as err:
        out["errors"].append(f"{type(err).__name__}: {err}")
    finally:
        conn.close()


FAULTS = (  # (what, path, body, extra headers): each must get a 4xx and one JSON error line
    ("a body of 64 KiB", "PRESS", b'{"action": "' + b"l" * (1 << 16) + b'"}', {}),
    ("a body of 64 KiB, sent in chunks", "PRESS", b'{"action": "' + b"l" * (1 << 16) + b'"}',
     {"Transfer-Encoding": "chunked"}),
    ("malformed JSON", "PRESS", b"{not json", {}),
    ("a wrong type", "PRESS", b'{"steer": "left"}', {}),
    ("an unknown field", "/api/sessions", b'{"clip": 0, "seed": 1}', {}),
    ("an unknown session", "/api/sessions/nope/press", b'{"action": "left"}', {}),
    ("an unknown path", "/api/nothing", b"{}", {}),
)


def chunked(body: bytes, size: int = 8192) -> bytes:
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"


def faults(port: int) -> list[tuple[str, int, str]]:
    """(what, status, the error line or what was wrong) per fault."""
    conn = http.client.HTTPConnection(DEFAULT_HOST, port, timeout=TIMEOUT)
    status, body = call(conn, "POST", "/api/sessions", b'{"clip": 0}')
    session = json.loads(body)["session"] if status == 200 else "none"
    results = []
    for what, path, payload, headers in FAULTS:
        path = path.replace("PRESS", f"/api/sessions/{session}/press")
        conn = http.client.HTTPConnection(DEFAULT_HOST, port, timeout=TIMEOUT)
        try:
            if headers.get("Transfer-Encoding") == "chunked":
                conn.putrequest("POST", path)
                conn.putheader("Content-Type", "application/json")
                conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders(chunked(payload))
                response = conn.getresponse()
                status, body = response.status, response.read()
            else:
                status, body = call(conn, "POST", path, payload)
            error = json.loads(body).get("error")
            ok = 400 <= status < 500 and isinstance(error, str) and "\n" not in error and error
            results.append((what, status, error if ok else f"NOT ONE JSON ERROR LINE: {body[:200]!r}"))
        except (OSError, http.client.HTTPException, ValueError) as err:
            results.append((what, 0, f"NOT ANSWERED: {type(err).__name__}: {err}"))
        finally:
            conn.close()
    return results


def engine_for(args, raw: dict, tmp: Path):
    trained = not args.profile and (run_paths(args.run, P.run(raw, args.run).benchmark, args.root).model_dir
                                    / "run.json").is_file()
    if trained:
        return load_engine(args.params, args.run, args.root, frames_per_press=args.frames_per_press), "trained"
    size = args.size or P.benchmark(raw, P.run(raw, args.run).benchmark).collect.resolution
    (tmp / args.run).mkdir()
    return fresh_engine(raw, args.run, size, tmp / args.run, args.frames_per_press), "fresh"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--profile", help="a profile of profiles/ (a fresh model at its sizes)")
    ap.add_argument("--root", default=str(ROOT), help="where a trained model and its data are looked for")
    ap.add_argument("--run", default="driving-svg_lp_action")
    ap.add_argument("--size", type=int, help="a fresh model's frame size (default: the benchmark's)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--presses", type=int, default=200, help="presses per client")
    ap.add_argument("--frames-per-press", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default: the page's, 1)")
    ap.add_argument("--out", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)
    configure_torch()
    torch.set_num_threads(args.threads)
    raw = P.read_params(args.params)
    if args.profile:
        raw = apply(raw, load_profile(args.profile, ROOT / "profiles"))
    with tempfile.TemporaryDirectory() as tmp:
        engine, weights = engine_for(args, raw, Path(tmp))
        h, w = engine.clips[0].context.shape[1:3]
        actions = list(engine.actions)
        results = {i: {"ms": [], "errors": []} for i in range(args.clients)}
        memory: dict[str, float] = {}
        started = time.perf_counter()
        with serving(engine) as port:
            warm = threading.Barrier(args.clients + 1)
            threads = [threading.Thread(target=client, args=(port, i % len(engine.clips), args.presses, actions,
                                                              results[i], warm), daemon=True)
                       for i in range(args.clients)]
            for t in threads:
                t.start()
            with contextlib.suppress(threading.BrokenBarrierError):
                warm.wait(TIMEOUT)
            memory["warm"] = rss_mb()
            for t in threads:
                t.join(TIMEOUT * args.presses)
            memory["end"] = rss_mb()
            wall = time.perf_counter() - started
            fault_results = faults(port)
            conn = http.client.HTTPConnection(DEFAULT_HOST, port, timeout=TIMEOUT)
            try:
                alive = call(conn, "GET", "/api/info")[0] == 200
            except (OSError, http.client.HTTPException):
                alive = False
    ms = [m for r in results.values() for m in r["ms"]]
    errors = [e for r in results.values() for e in r["errors"]]
    q = statistics.quantiles(ms, n=20) if len(ms) >= 2 else [float("nan")] * 19
    lines = [f"# the driving page under load: {args.run} ({weights}, {h}x{w}), {args.clients} clients x "
             f"{args.presses} presses, {args.frames_per_press} frame(s) a press, torch threads {args.threads}, "
             f"{cpu_info()['model'] or platform.machine()}, {os.cpu_count()} CPUs",
             f"presses answered: {len(ms)} of {args.clients * args.presses}; errors: {len(errors)}",
             f"ms per frame as a client waits (HTTP, queueing behind the others, model, PNG): median {statistics.median(ms) if ms else float('nan'):.1f}, "
             f"p95 {q[18]:.1f}, slowest {max(ms) if ms else float('nan'):.1f}; wall {wall:.1f} s",
             f"resident memory: {memory['warm']:.0f} MB warm, {memory['end']:.0f} MB at the end "
             f"({memory['end'] - memory['warm']:+.0f} MB over the last nine tenths of the presses)",
             "faults, each answered by one JSON error line:"]
    lines += [f"  {what}: {status} {error}" for what, status, error in fault_results]
    lines.append(f"server still answering /api/info: {'yes' if alive else 'NO'}")
    lines += [f"  error: {e}" for e in errors[:5]]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = args.out.with_name(f".{args.out.name}.tmp")
        tmp_out.write_text(text)
        os.replace(tmp_out, args.out)
    bad_faults = [f for f in fault_results if f[2].startswith("NOT ")]
    return 1 if errors or bad_faults or not alive or len(ms) != args.clients * args.presses else 0


if __name__ == "__main__":
    sys.exit(main())
