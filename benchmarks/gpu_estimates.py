"""Estimates for the GPU runbook (docs/gpu.md): memory per GPU and hours of the thesis profile.

    python benchmarks/gpu_estimates.py                 # counts, estimates, CUDA audit (under a minute)
    python benchmarks/gpu_estimates.py --calibrate     # also one real CPU step per component (minutes)
    python benchmarks/gpu_estimates.py --json out.json # the figures as JSON too
    python benchmarks/gpu_estimates.py --profile tiny  # every step at the tiny profile's sizes (the smoke test)

Measured here, on the CPU:

- FLOPs of one training step (forward + backward) of each component of the thesis profile's
  driving-vq run (params.yaml merged with profiles/thesis.yaml: the 3D VQ-VAE and the top and
  bottom 3D PixelSNAIL priors) at its batch size, counted by torch.utils.flop_counter.FlopCounterMode
  (matrix products and convolutions; elementwise work is not counted). The count runs on the meta
  device: the same dispatch as on the CPU, without the arithmetic; --calibrate repeats it on real
  CPU tensors at batch 1 (the counts agree exactly) and times it.
- Saved-activation bytes of that step: every tensor autograd keeps for the backward pass, seen
  through torch.autograd.graph.saved_tensors_hooks, once per storage, weights excluded.
  --calibrate compares the peak RSS growth of a real CPU step with weights + gradients + saved
  activations (measured x1.26 for the top prior, x1.77 for the small VQ-VAE: 0.63 against 0.35 GiB).
- A dispatch trace of a training step of each component and of the prior sampler for the ops that
  torch documents as raising on CUDA under torch.use_deterministic_algorithms(True).

Derived from the thesis: the V100 rate each reported time implies for genvid's step (FLOPs x steps /
time; seed 000 Ch. 5: one V100 32 GB; 28 h VQ-VAE §5.2.3, 37 h top prior §5.3.1, 38 h bottom prior
§5.3.2, Fig. 5.6). Only the VQ-VAE's is below the V100's float32 peak (28 %); genvid's priors at
the thesis sizes cost more per step than the thesis's times allow, so the hours below use the
VQ-VAE's rate for all three components.

Estimates (printed as such; none of them is a GPU measurement):

- Hours on one V100 = FLOPs per step x steps / (the VQ-VAE's implied fraction of float32 peak x
  15.7 TFLOP/s). Other GPUs: divided by min(float32 rate ratio, memory bandwidth ratio) to the V100
  (datasheet figures): genvid trains in float32 with TF32 off (genvid.determinism.configure_torch),
  so the tensor cores' TF32/bf16 rates do not apply.
- N GPUs (distributed.nproc; each rank takes batch / N of the same global batch) = one GPU's hours
  / N + a ring all-reduce of the gradients each step (2 (N-1)/N x 4 bytes x parameters over an
  NVLink all-reduce bandwidth). Ideal otherwise: a GPU at batch 8/N may run below its rate at 8.
- Memory per GPU = weights + gradients + AdamW's two moments (16 bytes per parameter, float32)
  + saved activations at batch / N x ACTIVATION_OVERHEAD + CUDA_CONTEXT_GIB (CUDA context,
  cuDNN/cuBLAS workspaces, allocator slack).
- The passes genvid now runs on the CPU after each fit (genvid.models.vq.family moves each model
  to the CPU: the VQ-VAE's evaluation on every split, the code extraction of every clip, each
  prior's evaluation on every split), as forward FLOPs x clips / this CPU's float32 matmul rate.
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid import params as P  # noqa: E402
from genvid.models.vq.pixelsnail3d import PixelSNAIL3d, code_cross_entropy  # noqa: E402
from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig  # noqa: E402
from genvid.models.vq.priors import prior_config  # noqa: E402
from genvid.profiles import apply, load_profile  # noqa: E402

RUN = "driving-vq"
COMPONENTS = ("vqvae", "prior_top", "prior_bottom")
# seed 000, Ch. 5 (one V100 32 GB): hours of the final run of each component, and where the thesis says so
THESIS_HOURS = {"vqvae": (28.0, "§5.2.3"), "prior_top": (37.0, "§5.3.1"), "prior_bottom": (38.0, "§5.3.2, Fig. 5.6")}
# Datasheet float32 (non-tensor-core) TFLOP/s and memory bandwidth TB/s; NVLink all-reduce bus bandwidth GB/s
# (about 70 % of the link's one-way rate: V100 NVLink2 150 GB/s, A100 NVLink3 300, H100 NVLink4 450).
GPUS = {
    "V100 SXM2 32 GB": {"fp32": 15.7, "bw": 0.90, "nvlink": 105.0, "mem_gib": 32},
    "A100 SXM 80 GB": {"fp32": 19.5, "bw": 2.04, "nvlink": 210.0, "mem_gib": 80},
    "H100 SXM 80 GB": {"fp32": 66.9, "bw": 3.35, "nvlink": 315.0, "mem_gib": 80},
}
REFERENCE = "V100 SXM2 32 GB"
ACTIVATION_OVERHEAD = 1.3  # peak / (state + saved activations): --calibrate measured x1.26 for the top prior
CUDA_CONTEXT_GIB = 1.0  # CUDA context, cuDNN/cuBLAS workspaces, allocator fragmentation
NPROCS = (1, 2, 4, 8)
GIB = 2**30


# ----------------------------------------------------------------------------- the thesis profile

def thesis_setup(root: Path = ROOT, profile: str = "thesis") -> dict:
    """The thesis profile's driving-vq run: configs, batch sizes, steps, clip shape, data sizes
    (``profile``: another profile's, e.g. benchmarks/gpu.py's smoke test at the tiny one's)."""
    raw = apply(P.read_params(root / "params.yaml"), load_profile(profile, root / "profiles"))
    source = f"params.yaml + profiles/{profile}.yaml"
    run = P.run(raw, RUN, source)
    bench = P.benchmark(raw, run.benchmark, source)
    res, clip_len = bench.collect.resolution, int(run.model_params["clip_len"])
    vq_cfg = VQVAEConfig.from_dict(run.model_params["vqvae"], f"models.{run.model}.vqvae")
    with torch.device("meta"):
        top, bottom = VQVAE3D(vq_cfg).code_shapes(clip_len, res, res)
    info = {"shapes": {"top": top, "bottom": bottom}, "codebook_size": vq_cfg.codebook_size}
    priors = {level: prior_config(run.model_params[f"prior_{level}"], level, info, f"prior_{level}")
              for level in ("top", "bottom")}
    frames = bench.collect.episodes * bench.collect.frames_per_episode
    split = bench.split
    # Clips the post-fit passes read: train at train_stride, val/test at eval_stride (per-episode
    # window edges ignored: under 1 % at 1,000 frames per episode).
    clips = {"train": int(frames * split.train) // bench.clips.train_stride,
             "val": int(frames * split.val) // bench.clips.eval_stride,
             "test": int(frames * split.test) // bench.clips.eval_stride}
    train = {c: run.train_params[c] for c in COMPONENTS}
    return {"vq_cfg": vq_cfg, "priors": priors, "res": res, "clip_len": clip_len,
            "channels": vq_cfg.in_channels, "top": top, "bottom": bottom, "train": train, "clips": clips,
            "frames": frames, "train_stride": bench.clips.train_stride, "eval_stride": bench.clips.eval_stride}


# ----------------------------------------------------------------------------- one training step

def build(setup: dict, component: str, batch: int, device: str) -> tuple[torch.nn.Module, tuple]:
    """The component in training mode and one batch of inputs (random frames or codes)."""
    with torch.device(device):
        if component == "vqvae":
            model = VQVAE3D(setup["vq_cfg"]).train()
            x = torch.randn(batch, setup["channels"], setup["clip_len"], setup["res"], setup["res"])
            return model, (x,)
        level = component.removeprefix("prior_")
        cfg = setup["priors"][level]
        model = PixelSNAIL3d(cfg).train()
        codes = torch.randint(0, cfg.num_codes, (batch, *cfg.shape))
        cond = torch.randint(0, cfg.cond_codes, (batch, *cfg.cond_shape)) if cfg.cond_shape else None
        return model, (codes, cond)


def objective(model: torch.nn.Module, component: str, inputs: tuple) -> torch.Tensor:
    """The training loss as the loop computes it, without its .item() logging (none on meta)."""
    if component == "vqvae":
        (x,) = inputs
        out = model(x)
        return F.mse_loss(out.recon, x) + model.cfg.beta * out.commitment_loss  # seed 000 eq. 5.3
    codes, cond = inputs
    return code_cross_entropy(model(codes, cond), codes)  # genvid.models.vq.priors.prior_objective


def count_step(setup: dict, component: str, batch: int, device: str = "meta") -> dict:
    """FLOPs (forward, forward + backward) and saved-activation bytes of one training step."""
    from torch.utils.flop_counter import FlopCounterMode

    model, inputs = build(setup, component, batch, device)
    weights = {p.untyped_storage()._cdata for p in model.parameters()}  # counted as state, not activations
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()  # views of one tensor share it: counted once (meta tensors too)
        if storage._cdata not in weights:
            storages[storage._cdata] = storage.nbytes()
        return t

    counter = FlopCounterMode(display=False)  # one context: re-entering it would reset the counts
    with counter:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = objective(model, component, inputs)
        forward = counter.get_total_flops()
        loss.backward()
    params = sum(p.numel() for p in model.parameters())
    out = {"flops_fwd": forward, "flops_step": counter.get_total_flops(), "saved_bytes": sum(storages.values()),
           "largest_saved": max(storages.values(), default=0), "params": params, "batch": batch, "recompute_bytes": 0}
    cfg = getattr(model, "config", None)
    if getattr(cfg, "checkpoint", False):  # a prior recomputing its SNAIL blocks: while one block is recomputed
        # in the backward its activations are held too (one block's share of what the plain step keeps)
        plain = {**setup, "priors": {**setup["priors"], component.removeprefix("prior_"): replace(cfg, checkpoint=False)}}
        whole = count_step(plain, component, batch, device)["saved_bytes"]
        out["recompute_bytes"] = (whole - out["saved_bytes"]) // cfg.snail_blocks
    return out


def forward_flops(setup: dict, component: str) -> dict[str, int]:
    """FLOPs of one clip's forward pass without gradients (the post-fit passes): the whole model,
    and for the VQ-VAE also its encoder alone (code extraction)."""
    from torch.utils.flop_counter import FlopCounterMode

    model, inputs = build(setup, component, 1, "meta")
    model.eval()
    out = {}
    with torch.no_grad():
        if component == "vqvae":
            with FlopCounterMode(display=False) as counter:
                model.encode(inputs[0])
            out["encode"] = counter.get_total_flops()
        with FlopCounterMode(display=False) as counter:
            model(*inputs)
        out["forward"] = counter.get_total_flops()
    return out


# ----------------------------------------------------------------------------- CPU calibration

def calibrate_worker(component: str, batch: int, threads: int, profile: str = "thesis") -> dict:
    """One real CPU step, counted and timed (best of two), and the process's peak RSS growth."""
    torch.set_num_threads(threads)
    setup = thesis_setup(profile=profile)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    counted = count_step(setup, component, batch, "cpu")  # builds, runs forward + backward, counts
    first = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    model, inputs = build(setup, component, batch, "cpu")
    t0 = time.perf_counter()
    objective(model, component, inputs).backward()
    return {**counted, "seconds": min(first, time.perf_counter() - t0), "rss_growth": peak - base,
            "threads": torch.get_num_threads()}


def calibrate(component: str, batch: int, threads: int, profile: str = "thesis") -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", component, str(batch), str(threads), profile],
                          capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"calibration of {component} failed:\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def available_memory() -> int:
    """MemAvailable of /proc/meminfo in bytes (0 where unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# ----------------------------------------------------------------------------- estimates

def speed(gpu: str) -> float:
    """A GPU's float32 training speed in V100 units: the slower of its float32 rate ratio and its
    memory-bandwidth ratio to the V100's."""
    ref = GPUS[REFERENCE]
    return min(GPUS[gpu]["fp32"] / ref["fp32"], GPUS[gpu]["bw"] / ref["bw"])


def thesis_rates(counts: dict, setup: dict) -> dict:
    """What each thesis time implies: the V100's achieved FLOP/s if it had run genvid's model."""
    out = {}
    for c in COMPONENTS:
        steps = int(setup["train"][c]["steps"])
        hours, where = THESIS_HOURS[c]
        achieved = counts[c]["flops_step"] * steps / (hours * 3600)
        out[c] = {"steps": steps, "batch": int(setup["train"][c]["batch_size"]), "thesis_hours": hours,
                  "thesis_section": where, "achieved_tflops": achieved / 1e12,
                  "fraction_of_fp32_peak": achieved / (GPUS[REFERENCE]["fp32"] * 1e12)}
    return out


def estimate(counts: dict, setup: dict, efficiency: float) -> dict:
    """Memory per GPU and hours per component, GPU model and process count (all estimates).
    ``efficiency``: the fraction of the V100's float32 peak genvid's steps are assumed to reach."""
    out: dict = {}
    v100_rate = efficiency * GPUS[REFERENCE]["fp32"] * 1e12
    for c in COMPONENTS:
        n, cfg = counts[c], setup["train"][c]
        steps, batch = int(cfg["steps"]), int(cfg["batch_size"])
        v100_hours = n["flops_step"] * steps / v100_rate / 3600
        per_sample_saved = (n["saved_bytes"] + n.get("recompute_bytes", 0)) / n["batch"]
        row = {"v100_hours": v100_hours, "gpus": {}}
        for gpu, spec in GPUS.items():
            one = v100_hours / speed(gpu)
            per_n = {}
            for nproc in NPROCS:
                if batch % nproc:
                    continue
                activations = per_sample_saved * batch / nproc * ACTIVATION_OVERHEAD
                mem = (16 * n["params"] + activations) / GIB + CUDA_CONTEXT_GIB
                ring = 2 * (nproc - 1) / nproc * 4 * n["params"] / (spec["nvlink"] * 1e9)  # seconds per step
                per_n[nproc] = {"mem_gib": mem, "fits": mem <= spec["mem_gib"],
                                "hours": one / nproc + ring * steps / 3600, "allreduce_hours": ring * steps / 3600}
            row["gpus"][gpu] = per_n
        out[c] = row
    return out


def cpu_passes(setup: dict, cpu_flops: float) -> dict:
    """Hours of the post-fit passes (evaluation, code extraction, prior scores) were they run on this CPU:
    what a CPU-only run of the profile spends on them (on a GPU they run there: genvid.train.run)."""
    clips = setup["clips"]
    every = clips["train"] + clips["val"] + clips["test"]
    vq, top, bottom = (forward_flops(setup, c) for c in COMPONENTS)
    stride = setup["eval_stride"]
    passes = {  # evaluate_vqvae reads every split at the evaluation stride (train too)
        "VQ-VAE evaluation (3 splits)": vq["forward"] * (clips["train"] * setup["train_stride"] // stride
                                                         + clips["val"] + clips["test"]),
        "code extraction (every clip)": vq["encode"] * every,
        "top prior evaluation (3 splits)": top["forward"] * every,
        "bottom prior evaluation (3 splits)": bottom["forward"] * every,
    }
    return {name: {"flops": flops, "hours": flops / cpu_flops / 3600} for name, flops in passes.items()}


def cpu_rate(threads: int) -> float:
    """This CPU's float32 matmul rate (best of 4), the ceiling for the post-fit passes."""
    torch.set_num_threads(threads)
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = math.inf
    for _ in range(4):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


# ----------------------------------------------------------------------------- CUDA determinism audit

# ATen ops that torch 2.13 documents as raising under torch.use_deterministic_algorithms(True) on
# CUDA (its docstring's second list), which genvid.determinism.configure_torch switches on.
NONDETERMINISTIC_ON_CUDA = {
    "nll_loss2d_forward": "torch.nn.NLLLoss on CUDA (F.cross_entropy over [B, K, d1, ...] logits lands here)",
    "cumsum": "torch.cumsum on CUDA, floating point",
    "avg_pool3d_backward": "AvgPool3d backward", "adaptive_avg_pool2d_backward": "AdaptiveAvgPool2d backward",
    "adaptive_avg_pool3d_backward": "AdaptiveAvgPool3d backward",
    "adaptive_max_pool2d_backward": "AdaptiveMaxPool2d backward",
    "upsample_linear1d_backward": "interpolate linear backward",
    "upsample_bilinear2d_backward": "interpolate bilinear backward",
    "upsample_bicubic2d_backward": "interpolate bicubic backward",
    "upsample_trilinear3d_backward": "interpolate trilinear backward",
    "reflection_pad1d_backward": "ReflectionPad backward", "reflection_pad2d_backward": "ReflectionPad backward",
    "reflection_pad3d_backward": "ReflectionPad backward", "histc": "torch.histc on CUDA",
    "grid_sampler_2d_backward": "grid_sample backward", "grid_sampler_3d_backward": "grid_sample backward",
    "median": "torch.median with indices", "put_": "Tensor.put_", "max_unpool2d": "MaxUnpool",
    "max_unpool3d": "MaxUnpool", "_ctc_loss_backward": "CTCLoss backward",
}


def dispatched(fn, visit) -> None:
    """Run ``fn()``, calling ``visit(func, args)`` on every ATen op it dispatches (autograd's backward included)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Trace(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            visit(func, args)
            return func(*args, **(kwargs or {}))

    with Trace():
        fn()


def audit_ops(fn) -> dict[str, str]:
    """The ops of NONDETERMINISTIC_ON_CUDA that ``fn()`` dispatches (floating cumsum only)."""
    found: dict[str, str] = {}

    def visit(func, args) -> None:
        name = func.overloadpacket.__name__
        if name in NONDETERMINISTIC_ON_CUDA:
            first = args[0] if args and isinstance(args[0], torch.Tensor) else None
            if name != "cumsum" or (first is not None and first.is_floating_point()):
                found[name] = NONDETERMINISTIC_ON_CUDA[name]

    dispatched(fn, visit)
    return found


def aten_ops(fn) -> int:
    """ATen ops ``fn()`` dispatches that compute (views, which only relabel memory, left out): each is
    at least one kernel launch on a GPU, so many small ones make a step launch-bound there; the
    same count on the CPU shows progress without a GPU (issue 25 item 2).

    Counted from torch.profiler's CPU events rather than a TorchDispatchMode, because a dispatch mode
    makes torch.compile'd code run eagerly: an op counts once, a composite op (conv3d, reshape, ...)
    by the ops it calls, and a compiled graph by the ATen ops it calls (its extern convolutions and
    matrix products); its generated kernels are not ATen ops. On eager code this is the dispatch
    mode's count (tests/test_gpu_estimates.py)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    roots = [e for e in prof.events() if e.cpu_parent is None]
    count, stack = 0, list(roots)
    while stack:
        event = stack.pop()
        kind = _op_kind(event.name)
        if kind == "compute":
            count += 1
        elif kind != "view":  # a composite op, or no op (autograd's nodes, record_function ranges)
            stack.extend(event.cpu_children)
    return count


def _op_kind(name: str) -> str:
    """"compute", "view", "composite" (CompositeImplicitAutograd: it calls other ATen ops) or "other"."""
    if not name.startswith("aten::"):
        return "other"
    packet = getattr(torch.ops.aten, name.removeprefix("aten::"), None)
    if packet is None:
        return "compute"
    op = getattr(packet, packet.overloads()[0])  # the first overload: the Tensor one the profiler names
    if op.has_kernel_for_dispatch_key(torch._C.DispatchKey.CompositeImplicitAutograd):
        return "composite"
    return "view" if op.is_view else "compute"


def audit(setup: dict) -> dict[str, dict[str, str]]:
    """Which documented-nondeterministic CUDA ops a training step of each component (meta device)
    and the prior sampler (a tiny prior on the CPU) dispatch."""
    from genvid.models.vq.pixelsnail3d import PixelSNAILConfig
    from genvid.models.vq.sampling import sample_fast

    out = {}
    for c in COMPONENTS:
        def step(c=c):
            model, inputs = build(setup, c, 1, "meta")
            objective(model, c, inputs).backward()
        out[f"train {c}"] = audit_ops(step)
    tiny = PixelSNAILConfig(num_codes=4, shape=(2, 2, 2), channels=4, res_blocks=1, snail_blocks=1, kernel_size=3,
                            attention=True)

    def sample():
        torch.manual_seed(0)
        prior = PixelSNAIL3d(tiny)
        sample_fast(prior, torch.zeros(1, 2, 2, 2, dtype=torch.long), 4, torch.Generator().manual_seed(0))
    out["sample (genvid.models.vq.sampling)"] = audit_ops(sample)
    return out


# ----------------------------------------------------------------------------- report

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibrate", action="store_true", help="one real CPU step per component at batch 1")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--profile", default="thesis",
                        help="the profile whose driving-vq run is counted (default thesis; the hours derive from "
                             "the thesis's times, so they mean something there only: another profile, e.g. tiny, "
                             "runs every step of the script at its sizes, as the smoke test does)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        component, batch, threads, profile = args.worker
        print("RESULT " + json.dumps(calibrate_worker(component, int(batch), int(threads), profile)))
        return

    setup = thesis_setup(profile=args.profile)
    clips = setup["clips"]
    print(f"{args.profile} profile, run {RUN}: clips of {setup['clip_len']} frames {setup['res']}x{setup['res']}x"
          f"{setup['channels']}, code grids top {list(setup['top'])}, bottom {list(setup['bottom'])}; "
          f"{setup['frames']:,} frames ({clips['train']:,} train clips at stride {setup['train_stride']}, "
          f"{clips['val']:,} val and {clips['test']:,} test at stride {setup['eval_stride']}); "
          f"torch {torch.__version__}")
    counts = {c: count_step(setup, c, int(setup["train"][c]["batch_size"])) for c in COMPONENTS}
    print("\nMEASURED: one training step at the profile's batch (FlopCounterMode on the meta device; "
          "saved activations via saved_tensors_hooks, weights excluded)")
    print(f"{'component':13} {'params':>8} {'batch':>5} {'TFLOP fwd':>9} {'TFLOP fwd+bwd':>13} "
          f"{'saved act. GiB':>14} {'largest MiB':>11}")
    for c, n in counts.items():
        print(f"{c:13} {n['params'] / 1e6:7.1f}M {n['batch']:5d} {n['flops_fwd'] / 1e12:9.2f} "
              f"{n['flops_step'] / 1e12:13.2f} {n['saved_bytes'] / GIB:14.1f} {n['largest_saved'] / 2**20:11.0f}"
              + (f"  checkpointed blocks: + {n['recompute_bytes'] / GIB:.1f} GiB while one is recomputed"
                 if n["recompute_bytes"] else ""))

    calibration = {}
    if args.calibrate:
        print(f"\nMEASURED on this CPU, real tensors at batch 1 ({args.threads} threads, a fresh process each): "
              "the count against the meta count, the step time, and the peak RSS growth against\n"
              "weights + gradients (8 B/param; no optimiser here) + saved activations")
        room = available_memory()
        for c in COMPONENTS:
            meta = count_step(setup, c, 1)
            predicted = 8 * meta["params"] + meta["saved_bytes"]
            if room and predicted * ACTIVATION_OVERHEAD > 0.8 * room:
                print(f"{c:13} skipped: needs about {predicted * ACTIVATION_OVERHEAD / GIB:.0f} GiB, "
                      f"{room / GIB:.0f} GiB available")
                continue
            r = calibrate(c, 1, args.threads, args.profile)
            ratio = r["rss_growth"] / predicted
            calibration[c] = {**r, "meta_flops_step": meta["flops_step"], "rss_over_prediction": ratio}
            print(f"{c:13} TFLOP/step {r['flops_step'] / 1e12:6.3f} (meta {meta['flops_step'] / 1e12:6.3f}); "
                  f"{r['seconds']:6.1f} s/step = {r['flops_step'] / r['seconds'] / 1e9:5.1f} GFLOP/s; "
                  f"RSS +{r['rss_growth'] / GIB:5.2f} GiB against {predicted / GIB:5.2f} GiB (x{ratio:.2f})",
                  flush=True)

    rates = thesis_rates(counts, setup)
    efficiency = rates["vqvae"]["fraction_of_fp32_peak"]
    print(f"\nDERIVED: the V100 rate each thesis time implies for genvid's step (seed 000 Ch. 5: one V100 "
          f"32 GB; float32 peak {GPUS[REFERENCE]['fp32']} TFLOP/s)")
    for c, r in rates.items():
        flag = "  <- above the V100's float32 peak: genvid's step costs more than the thesis's" \
            if r["fraction_of_fp32_peak"] > 1 else ""
        print(f"{c:13} {r['steps']:,} steps x batch {r['batch']} in {r['thesis_hours']:.0f} h "
              f"({r['thesis_section']}): {r['achieved_tflops']:6.2f} TFLOP/s = "
              f"{r['fraction_of_fp32_peak']:5.0%} of peak{flag}")

    est = estimate(counts, setup, efficiency)
    print(f"\nESTIMATES (not measured on a GPU). Hours: FLOPs x steps at the VQ-VAE's implied V100 rate "
          f"({efficiency:.0%} of float32 peak), scaled to other GPUs by min(float32 rate, bandwidth);\n"
          f"N GPUs: 1/N + a ring all-reduce of the gradients over NVLink. Memory per GPU: 16 B/param + saved "
          f"activations at batch/N x {ACTIVATION_OVERHEAD} + {CUDA_CONTEXT_GIB:.0f} GiB. "
          f"'!' = more than the GPU holds.")
    print(f"{'component':13} {'GPU':16} " + "".join(f"{f'N={n}: GiB/GPU, h':>22}" for n in NPROCS))
    for c, row in est.items():
        for gpu, per_n in row["gpus"].items():
            cells = [f"{per_n[n]['mem_gib']:8.1f}{'!' if not per_n[n]['fits'] else ' '} {per_n[n]['hours']:8.1f} h"
                     if n in per_n else "-" for n in NPROCS]
            print(f"{c:13} {gpu:16} " + "".join(f"{cell:>22}" for cell in cells))

    rate = cpu_rate(args.threads)
    passes = cpu_passes(setup, rate)
    print(f"\nESTIMATES: the post-fit passes were they run on this CPU (they run on the run's device: a GPU run "
          f"does them there), at this CPU's float32 matmul rate ({rate / 1e9:.0f} GFLOP/s, "
          f"{args.threads} threads; a ceiling, so these hours are a floor)")
    for name, p in passes.items():
        print(f"  {name:36} {p['flops'] / 1e15:9.1f} PFLOP {p['hours']:10.0f} h")

    findings = audit(setup)
    print("\nMEASURED (dispatch trace): ops that torch 2.13 documents as raising under "
          "use_deterministic_algorithms(True) on CUDA, which genvid.determinism.configure_torch turns on")
    for where, ops in findings.items():
        print(f"  {where:32} " + ("; ".join(f"{op}: {why}" for op, why in ops.items()) if ops else "none"))

    if args.json:
        figures = {"cuda_determinism_audit": findings,
                   "setup": {k: v for k, v in setup.items() if k not in ("vq_cfg", "priors")},
                   "counts": counts, "calibration": calibration, "thesis_rates": rates, "efficiency": efficiency,
                   "estimates": est, "cpu_passes": passes, "cpu_flops": rate, "gpus": GPUS}
        args.json.write_text(json.dumps(figures, indent=1, default=str) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
