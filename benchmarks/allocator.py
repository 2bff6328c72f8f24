"""Benchmark: what genvid.allocator's kept memory saves a stage, side by side with glibc's default.

    python benchmarks/allocator.py                        # I3D's features (evaluate), SVG-LP's training step
    python benchmarks/allocator.py --workloads i3d --videos 8 --pairs 3
    python benchmarks/allocator.py --workloads stage:sample@smmnist-vq --pairs 2   # a stage of a built DAG

Every measurement is a fresh process, pinned as a stage is (genvid.determinism.pin_environment, params
`repro.threads`): "kept" calls genvid.allocator.keep_freed_memory first, as every stage process does,
"default" leaves glibc's malloc as it is (GENVID_KEEP_FREED_MEMORY=0). The two alternate, pair by pair, so a drift of the machine's
speed moves both. Workloads, on random inputs of the default benchmarks' shapes:

- ``i3d``: the FVD network's features of --videos 16-frame 64x64 videos, four at a time (the evaluate
  and fvd_reference stages' work: three quarters of an evaluate stage);
- ``train:<model>``: --steps training steps of a registered one-network model at params.yaml's sizes,
  on driving-shaped clips of --batch (benchmarks/models.py's step);
- ``stage:<stage>``: a stage of dvc.yaml, its command run whole in the DAG workspace --root (which
  holds its inputs: after `make repro`); it rewrites its outputs there, as `dvc repro -f -s` would.

Printed per workload: the median of each figure (wall, user and system seconds of the workload alone,
or of the whole stage process, its minor page faults, the process's peak resident memory), the median
of the pairs' ratios, and whether every process computed the same bytes (a stage: its outputs). Printed, never asserted; the figures are the machine's.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid.allocator import SWITCH  # noqa: E402
from genvid.determinism import cpu_info, pin_environment, threads_from_params  # noqa: E402
from genvid.machine import cpu_generation  # noqa: E402

FIGURES = ("wall", "user", "sys", "faults", "peak_mib")


def child(workload: str, args: argparse.Namespace) -> dict:
    """Run ``workload`` once in this process (the allocator as GENVID_KEEP_FREED_MEMORY says, as a stage's
    process does); its figures and the digest of what it computed."""
    from genvid.allocator import keep_freed_memory

    pin_environment(threads_from_params(args.params))
    kept = keep_freed_memory()
    import torch

    from genvid.determinism import configure_torch

    configure_torch()
    torch.manual_seed(0)
    if workload == "i3d":
        from genvid.metrics.i3d import I3D

        net = I3D().eval()
        videos = torch.rand(args.videos, 16, 3, 64, 64, generator=torch.Generator().manual_seed(1))

        def work() -> bytes:
            with torch.no_grad():
                return b"".join(net.logits(videos[i:i + 4]).numpy().tobytes() for i in range(0, len(videos), 4))
    else:
        from models import step  # benchmarks/models.py: the training step it times

        from genvid import params as P
        from genvid.data.frames import CONDITIONING
        from genvid.models.registry import MODELS

        name = workload.split(":", 1)[1]
        spec = MODELS[name]
        model = spec.network(P.read_params(args.params)["models"][name], 3, 64, 8).train()
        opt = torch.optim.Adam(model.parameters(), 1e-4)
        clips = torch.rand(args.batch, 16, 3, 64, 64, generator=torch.Generator().manual_seed(1)).mul(255).round().div(255)
        given = {"cond": torch.zeros(args.batch, 16, len(CONDITIONING[spec.conditioning]))} if spec.conditioning else {}

        def work() -> bytes:
            for _ in range(args.steps):
                step(model, opt, clips, given)
            return b"".join(p.detach().numpy().tobytes() for p in model.parameters())

    before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    out = work()
    wall, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    return {"wall": wall, "user": after.ru_utime - before.ru_utime, "sys": after.ru_stime - before.ru_stime,
            "faults": after.ru_minflt - before.ru_minflt, "peak_mib": after.ru_maxrss / 1024,
            "digest": hashlib.sha256(out).hexdigest(), "kept": kept}


def digest_paths(root: Path, outs: tuple[str, ...]) -> str:
    """SHA-256 over the files of ``outs`` (files, or folders walked in order), names included."""
    h = hashlib.sha256()
    for out in outs:
        path = root / out
        for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if f.is_file():
                h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def run_stage(name: str, keep: bool, args: argparse.Namespace) -> dict:
    """The stage's own command, whole, in --root: its process's figures and its outputs' digest."""
    from workflow.dag import load_stages

    root = Path(args.root).resolve()
    found = {s.name: s for s in load_stages(root)}
    if name not in found:
        raise SystemExit(f"error: --workloads: no stage {name!r} in {root / 'dvc.yaml'}")
    cmd = shlex.split(found[name].cmd)
    cmd = [sys.executable, *cmd[1:]] if cmd[0] == "python" else cmd
    env = {**os.environ, SWITCH: "1" if keep else "0"}
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own figures (RUSAGE_CHILDREN's peak is all of them)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            last = (err.read().decode(errors="replace").strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            raise SystemExit(f"error: stage {name} failed: {last}")
    return {"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime, "faults": usage.ru_minflt,
            "peak_mib": usage.ru_maxrss / 1024, "digest": digest_paths(root, found[name].outs)}


def measure(workload: str, keep: bool, args: argparse.Namespace) -> dict:
    if workload.startswith("stage:"):
        return run_stage(workload[6:], keep, args)
    cmd = [sys.executable, __file__, "--child", workload, "--params", args.params,
           "--videos", str(args.videos), "--steps", str(args.steps), "--batch", str(args.batch)]
    done = subprocess.run(cmd, env={**os.environ, SWITCH: "1" if keep else "0"}, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise SystemExit(last if last.startswith("error: ") else f"error: {workload} failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rows(workload: str, pairs: list[tuple[dict, dict]]) -> list[str]:
    """The medians of both settings and of the pairs' kept/default ratios, one figure a column."""
    lines = []
    for label, pick in (("kept", 0), ("default", 1)):
        med = {f: statistics.median(p[pick][f] for p in pairs) for f in FIGURES}
        lines.append(f"{workload:24s} {label:8s} " + " ".join(f"{med[f]:>10.2f}" for f in FIGURES))
    ratio = {f: statistics.median(p[0][f] / p[1][f] if p[1][f] else float("nan") for p in pairs) for f in FIGURES}
    same = len({r["digest"] for pair in pairs for r in pair}) == 1
    lines.append(f"{workload:24s} {'ratio':8s} " + " ".join(f"{ratio[f]:>10.3f}" for f in FIGURES)
                 + f"   same bytes: {same}")
    if any(p[0].get("kept") is False for p in pairs):
        lines.append(f"{workload:24s} (keep_freed_memory had no effect here: not glibc's malloc)")
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default="i3d,train:svg_lp_action",
                    help="i3d, train:<model>, stage:<stage> (comma-separated)")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--videos", type=int, default=16, help="i3d: 16-frame videos, embedded four at a time")
    ap.add_argument("--steps", type=int, default=10, help="train: training steps")
    ap.add_argument("--batch", type=int, default=16, help="train: clips per step")
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--root", default=str(ROOT), help="stage: the DAG workspace it runs in")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if min(args.pairs, args.videos, args.steps, args.batch) < 1:
        raise SystemExit("error: --pairs, --videos, --steps and --batch must be at least 1")
    workloads = args.workloads.split(",")
    for w in workloads:
        if w != "i3d" and not w.startswith(("train:", "stage:")):
            raise SystemExit(f"error: --workloads: {w!r} is none of i3d, train:<model>, stage:<stage>")
    if args.child:
        print(json.dumps(child(args.child, args)), flush=True)
        return
    from genvid.models.registry import MODELS

    for w in workloads:
        if w.startswith("train:") and getattr(MODELS.get(w[6:]), "network", None) is None:
            known = ", ".join(name for name, spec in MODELS.items() if spec.network is not None)
            raise SystemExit(f"error: --workloads: {w[6:]!r} is not a registered one-network model (known: {known})")
    info = cpu_info()
    print(f"# genvid.allocator: kept freed memory against glibc's default, {args.pairs} pairs of fresh processes, "
          f"{threads_from_params(args.params)} threads (repro.threads), on {info['model'] or platform.processor()} "
          f"({cpu_generation()}, {os.cpu_count()} CPUs); i3d: {args.videos} videos; train: {args.steps} steps at "
          f"batch {args.batch}", flush=True)
    print(f"{'workload':24s} {'':8s} " + " ".join(f"{f:>10s}" for f in FIGURES))
    for w in workloads:
        pairs = [(measure(w, True, args), measure(w, False, args)) for _ in range(args.pairs)]
        print("\n".join(rows(w, pairs)), flush=True)


if __name__ == "__main__":
    main()
