"""Benchmark: do the models learn? Learning curves against copy-last, with the pipeline's own code.

    python benchmarks/learning.py --run driving-feature_flow --every 100
    python benchmarks/learning.py --run driving-svg_lp_action --set train.steps=1200 --set train.batch_size=16 \\
        --every 300 --label bs16
    python benchmarks/learning.py --run smmnist-vq --points 0.5,1      # a family of several networks

A point of the curve is the run's model after k training steps, sampled and scored exactly as the DAG
does it: the train stage's code trains the run once (its loop, seeds and data), copying the weights at
every ``--every`` steps; each copy is written back as the family writes its model folder, then the
``sample`` and ``evaluate`` stages score it on the protocol (best and mean of N, FVD, the counterfactual
clips' controllability and the motion accuracy where the benchmark has them). The benchmark's copy-last
run is scored the same way, on the same clips, once. Per metric the script prints the first step and the
first minute at which the model beats copy-last ("never" is a result).

A family of several networks trained in turn (the VQ family's VQ-VAE, then its priors on the VQ-VAE's
codes) has no meaningful intermediate copy: its later networks learned from the earlier ones' final
weights. Its points (``--points``, fractions of every component's steps) are separate runs from scratch.

Clips: the protocol's test clips, the leaderboard's. A chronological benchmark's validation ranges cannot
stand in for them (the split file must stay in train, validation, test order, and SM-MNIST's and Dynamics'
frames files hold their test sets only), so settings chosen from these curves were chosen on the clips the
leaderboard reports: a selection effect of a few settings per family, stated wherever those settings are.

Times are this process's wall seconds of training alone (scoring happens after training), on however many
threads ``repro.threads`` gives, on the CPU generation each entry names (``cpu``: one results file
spans the generations of a vendor's model name); run it alone on the machine. Everything happens under ``--scratch``
(git-ignored); results are appended to ``--out`` (default benchmarks/results/learning-<machine>.json), one
entry per (run, label), replacing an entry of the same key.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The stages' pins (ATen and oneDNN held at AVX2, the thread count of repro.threads) before numpy or torch
# load, as stages/__init__.py sets them for `python -m stages.<name>`: a curve's model is then the one
# the DAG's train stage would make, bit for bit (curves measured before this, "pinned": false in the
# results file, ran on the machine's own kernels).
from genvid.determinism import params_path_from_argv, pin_environment, threads_from_params  # noqa: E402

PINNED = not ({"numpy", "torch"} & sys.modules.keys())
if PINNED:
    pin_environment(threads_from_params(params_path_from_argv(sys.argv[1:]) if __name__ == "__main__"
                                        else ROOT / "params.yaml"))

import torch  # noqa: E402

from genvid import params as P  # noqa: E402
from genvid.context import run_context  # noqa: E402
from genvid.determinism import seed_everything  # noqa: E402
from genvid.io import read_json, write_json  # noqa: E402
from genvid.layout import METRIC_WEIGHTS, benchmark_paths  # noqa: E402
from genvid.machine import cpu_generation  # noqa: E402
from genvid.models.family import Fitted, train_sections  # noqa: E402
from genvid.models.registry import get  # noqa: E402
from genvid.models.store import write_run_record  # noqa: E402
from genvid.train.curves import write_curves_tsv  # noqa: E402
from stages import evaluate as evaluate_stage  # noqa: E402
from stages import sample as sample_stage  # noqa: E402
from stages import train as train_stage  # noqa: E402

# metric -> True where higher is better; the scores compared with copy-last at every point
HEADLINE = {"psnr": True, "ssim": True, "lpips": False, "lpips_mean": False, "fvd": False,
            "cf_ssim": True, "sensitivity": True, "direction": True, "motion_acc": True}
KEEP = ("psnr", "ssim", "lpips", "lpips_mean", "fvd", "diversity", "cf_lpips", "cf_ssim", "sensitivity",
        "direction", "shift_gap", "motion_acc")


def machine() -> str:
    """"amd-epyc" / "intel-xeon" / the processor name, for the results file's name."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip().lower()
                break
    except OSError:
        name = platform.processor().lower()
    for vendor, tag in (("epyc", "amd-epyc"), ("xeon", "intel-xeon"), ("ryzen", "amd-ryzen")):
        if vendor in name:
            return tag
    return "-".join(name.split()[:2]) or "cpu"


def parse_sets(items: list[str]) -> dict[str, Any]:
    """--set models.nf=32 --set train.steps=600 -> {"models": {"nf": 32}, "train": {"steps": 600}} (YAML values)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        parts = key.split(".")
        if not sep or parts[0] not in ("models", "train") or len(parts) < 2:
            raise SystemExit(f"error: --set {item!r}: expected models.<key>=<value> or train.<key>=<value>")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        node[parts[-1]] = parsed
    return out


def merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class Scratch:
    """A root folder the stages run in, with the real benchmark's data, FVD reference, counterfactual
    clips, motion classifier and metric weights linked in."""

    def __init__(self, folder: Path, raw: dict, benchmark: str, data_root: Path = ROOT):
        self.root, self.raw, self.benchmark = folder, raw, benchmark
        self.params = folder / "params.yaml"
        data, mine = benchmark_paths(benchmark, data_root), benchmark_paths(benchmark, folder)
        mine.frames.parent.mkdir(parents=True, exist_ok=True)
        for name in ("frames", "split", "stats", "fvd_reference", "counterfactuals", "motion_classifier"):
            src, dst = getattr(data, name), getattr(mine, name)
            if not src.exists():
                raise SystemExit(f"error: {src} is missing: run the data stages first (dvc repro fvd_reference@{benchmark} "
                                 f"counterfactuals@{benchmark} motion_classifier@{benchmark})")
            if dst.is_symlink() and dst.resolve() != src.resolve():
                dst.unlink()
            if not dst.is_symlink():
                os.symlink(src.resolve(), dst)
        weights = folder / METRIC_WEIGHTS["lpips"].parent
        if not weights.exists():
            weights.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(ROOT / METRIC_WEIGHTS["lpips"].parent, weights)
        self.write_params(raw)

    def write_params(self, raw: dict) -> None:
        self.raw = raw
        self.params.parent.mkdir(parents=True, exist_ok=True)
        self.params.write_text(yaml.safe_dump(raw, sort_keys=False))


def scratch_params(raw: dict, run: str, overrides: dict, every: int | None) -> dict:
    """params.yaml with the run's overrides extended by ``overrides``, checkpoints every ``every`` steps,
    and no long-horizon protocol (its 32-frame futures would cost more than the point itself)."""
    raw = copy.deepcopy(raw)
    entry = raw["runs"][run]
    entry["overrides"] = merge(entry.get("overrides") or {}, overrides)
    bench = raw["benchmarks"][entry["benchmark"]]
    bench.pop("long_horizon", None)
    if every is not None:
        spec = get(entry["model"])
        run_cfg = P.run(raw, run, "params.yaml")
        for component in train_sections(spec, run_cfg):
            keys = ["train"] if len(spec.components) == 1 else ["train", component]
            node = entry["overrides"]
            for key in keys:
                node = node.setdefault(key, {})
            node["ckpt_every"] = every
    return raw


def score(scratch: Scratch, run: str) -> dict[str, Any]:
    """sample@run and evaluate@run in the scratch root; the run's scores.json flattened (``flat_scores``)."""
    args = ["--params", str(scratch.params), "--run", run, "--root", str(scratch.root)]
    sample_stage.main(args)
    evaluate_stage.main([*args, "--no-progress"])
    return flat_scores(read_json(scratch.root / "reports" / scratch.benchmark / "runs" / run / "scores.json"))


def flat_scores(scores: dict[str, Any]) -> dict[str, Any]:
    """The ``KEEP`` numbers of a scores.json at 6 decimals (FVD 4): finer than metrics.json's, so a curve's
    point compares with the DAG's scores.json, and with the counterfactual LPIPS metrics.json leaves out."""
    out: dict[str, Any] = {}
    series = scores.get("series", {}).get("predictions", {})
    for m in ("psnr", "ssim", "lpips"):
        if m in series:
            out[m] = round(series[m]["best_seq"]["average"]["mean"], 6)
    if "lpips" in series:  # the stretch target's rule: mean of N (a blur cannot hide behind a lucky sample)
        out["lpips_mean"] = round(series["lpips"]["mean"]["average"]["mean"], 6)
    fvd = scores.get("fvd", {}).get("predictions")
    if fvd:
        out["fvd"] = round(fvd["mean"], 4)
    if scores.get("diversity", {}).get("mean") is not None:
        out["diversity"] = round(scores["diversity"]["mean"], 6)
    control = scores.get("controllability") or {}
    if control and not control.get("skipped"):
        out["cf_lpips"] = round(control["fidelity"]["lpips"]["mean"], 6)
        out["cf_ssim"] = round(control["fidelity"]["ssim"]["mean"], 6)
        if control["sensitivity"]["mean"] == control["sensitivity"]["mean"]:  # not NaN
            out["sensitivity"] = round(control["sensitivity"]["mean"], 6)
        direction = control.get("direction") or {}
        if "mean" in direction:
            out["direction"] = round(direction["mean"], 6)
        if isinstance(direction.get("shift_gap"), dict):
            out["shift_gap"] = direction["shift_gap"]["mean"]
    motion = scores.get("motion") or {}
    if motion.get("skipped") is None and "mean_of_n" in motion:
        out["motion_acc"] = round(motion["mean_of_n"]["mean"], 6)
    return {k: out[k] for k in KEEP if k in out}


def snapshot_training(ctx, spec) -> tuple[dict[str, list[tuple[int, float, dict]]], float]:
    """Train the run once (the train stage's code), copying each component's weights at every checkpoint;
    {component: [(step, wall seconds of training so far, state_dict)]} and the total seconds."""
    copies: dict[str, list[tuple[int, float, dict]]] = {}
    clock = {"start": time.perf_counter(), "paused": 0.0}

    def on_checkpoint(component: str, step: int, model: torch.nn.Module) -> None:
        pause = time.perf_counter()  # every ``every`` steps and the last (the loop's checkpoints)
        elapsed = pause - clock["start"] - clock["paused"]
        state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        copies.setdefault(component, []).append((step, elapsed, state))
        clock["paused"] += time.perf_counter() - pause

    shutil.rmtree(ctx.workdir, ignore_errors=True)  # from scratch: a resumed run would not be timed
    train_stage.train(ctx, spec, on_checkpoint=on_checkpoint)
    return copies, time.perf_counter() - clock["start"] - clock["paused"]


def write_copy(ctx, spec, component: str, state: dict, step: int) -> None:
    """The model folder as the family writes it after training, with the weights copied at ``step``."""

    def replay(c) -> Fitted:
        seed_everything(0)
        model = c.build()
        model.load_state_dict(state)
        model.to(ctx.device).eval()
        folder = ctx.report_dir / "curves" / c.name
        write_curves_tsv([], folder / "train.tsv", folder / "val.tsv")
        return Fitted(model, [], {})

    shutil.rmtree(ctx.model_dir, ignore_errors=True)
    spec.train(ctx, replay)
    write_run_record(ctx)
    print(f"learning {ctx.run.name}: {component} at step {step} written", file=sys.stderr)


def beats(points: list[dict], baseline: dict) -> dict[str, Any]:
    """Per metric, the first point better than copy-last's value: its step and minute, or "never"."""
    out: dict[str, Any] = {}
    for metric, higher in HEADLINE.items():
        if metric not in baseline or not any(metric in p["scores"] for p in points):
            continue
        first = next((p for p in points if metric in p["scores"] and
                      (p["scores"][metric] > baseline[metric] if higher else p["scores"][metric] < baseline[metric])), None)
        out[metric] = "never" if first is None else {"step": first["step"], "minutes": round(first["seconds"] / 60, 2)}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a run of params.yaml")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--set", action="append", default=[], help="models.<key>=<v> or train.<key>=<v> (the run's overrides)")
    parser.add_argument("--every", type=int, default=0, help="score every this many steps (one-network families)")
    parser.add_argument("--points", default="0.25,0.5,1", help="fractions of the steps, several-network families")
    parser.add_argument("--label", default="", help="this curve's name beside the run (default: the --set values)")
    parser.add_argument("--scratch", default=str(ROOT / "benchmarks" / ".learning"))
    parser.add_argument("--data-root", default=str(ROOT),
                        help="where the benchmark's data stages wrote (another recording; its params: --params)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / f"learning-{machine()}.json"))
    args = parser.parse_args(argv)

    raw = P.read_params(args.params)
    if args.run not in raw.get("runs", {}):
        raise SystemExit(f"error: {args.params}: runs.{args.run} is not a run")
    bench_name = raw["runs"][args.run]["benchmark"]
    spec = get(raw["runs"][args.run]["model"])
    baseline_run = next((r for r, e in raw["runs"].items() if e["benchmark"] == bench_name and e["model"] == "copy_last"), None)
    if baseline_run is None:
        raise SystemExit(f"error: {args.params}: benchmark {bench_name} has no copy_last run to compare with")
    overrides = parse_sets(args.set)
    label = args.label or ",".join(args.set) or (f"points {args.points}" if args.points else "params")
    torch.set_num_threads(int(raw.get("repro", {}).get("threads", 2)))

    data_root = Path(args.data_root).resolve()
    folder = Path(args.scratch) / (bench_name if data_root == ROOT else f"{bench_name}-{data_root.name}")
    one_network = len(spec.components) == 1
    every = args.every if one_network else None
    if one_network and not every:
        raise SystemExit("error: --every is needed for a one-network family")
    sraw = scratch_params(raw, args.run, overrides, every)
    scratch = Scratch(folder, sraw, bench_name, data_root)

    cache = folder / "copy_last.json"
    baseline = read_json(cache) if cache.exists() else None
    if baseline is None or baseline.get("params") != sraw["benchmarks"][bench_name]:
        train_stage.main(["--params", str(scratch.params), "--run", baseline_run, "--root", str(folder)])
        baseline = {"params": sraw["benchmarks"][bench_name], "scores": score(scratch, baseline_run)}
        write_json(cache, baseline)
    print(f"learning: {baseline_run} on the test clips: {baseline['scores']}")

    points: list[dict] = []
    if one_network:
        ctx, _ = run_context(scratch.params, args.run, folder)
        copies, _ = snapshot_training(ctx, spec)
        (component, taken), = copies.items()
        for step, seconds, state in taken:
            write_copy(ctx, spec, component, state, step)
            points.append({"step": step, "seconds": round(seconds, 1), "scores": score(scratch, args.run)})
            print(f"learning {args.run} [{label}] step {step} ({seconds / 60:.1f} min): {points[-1]['scores']}", flush=True)
    else:
        run_cfg = P.run(sraw, args.run, str(scratch.params))
        full = {c: values["steps"] for c, (_, values) in train_sections(spec, run_cfg).items()}
        for fraction in (float(f) for f in args.points.split(",")):
            steps = {c: max(1, round(n * fraction)) for c, n in full.items()}
            scratch.write_params(scratch_params(raw, args.run, merge(overrides, {"train": {
                c: {"steps": n} for c, n in steps.items()}}), None))
            ctx, _ = run_context(scratch.params, args.run, folder)
            shutil.rmtree(ctx.workdir, ignore_errors=True)
            start = time.perf_counter()
            train_stage.train(ctx, spec)
            seconds = time.perf_counter() - start
            points.append({"step": steps, "fraction": fraction, "seconds": round(seconds, 1),
                           "scores": score(scratch, args.run)})
            print(f"learning {args.run} [{label}] {steps} ({seconds / 60:.1f} min): {points[-1]['scores']}", flush=True)

    run_cfg = P.run(scratch.raw, args.run, str(scratch.params))
    entry = {"run": args.run, "label": label, "benchmark": bench_name, "model": spec.name,
             "collect": sraw["benchmarks"][bench_name]["collect"],
             "clips": "test", "pinned": PINNED, "threads": torch.get_num_threads(), "cpu": cpu_generation(),
             "models": run_cfg.model_params, "train": run_cfg.train_params,
             "copy_last": baseline["scores"], "points": points, "beats_copy_last": beats(points, baseline["scores"])}
    out = Path(args.out)
    results = read_json(out) if out.exists() else {"machine": machine(), "entries": []}
    results["entries"] = [e for e in results["entries"] if (e["run"], e["label"]) != (args.run, label)] + [entry]
    results["entries"].sort(key=lambda e: (e["run"], e["label"]))
    write_json(out, results)
    print(f"learning {args.run} [{label}]: beats copy-last: {json.dumps(entry['beats_copy_last'])} -> {out}")


if __name__ == "__main__":
    main()
