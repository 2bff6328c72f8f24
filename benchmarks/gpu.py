"""Benchmark: training steps on a GPU: time, memory, FLOP/s against the bf16 peak, run-to-run bytes.

    python benchmarks/gpu.py --precision bf16 --channels-last --compile  # on an H100: all, JSON in benchmarks/results/
    python benchmarks/gpu.py --only vqvae,prior_top --steps 20  # some components, more timed steps
    python benchmarks/gpu.py --device cpu --profile tiny --vq-profile tiny --only vqvae,svg_lp --batch 1 --steps 2

Issue 25 item 5 and issue 20 item 2: side by side in one run, each component of a training run
at the sizes it trains at, measured where docs/gpu.md has only estimates
(benchmarks/gpu_estimates.py):

- the VQ family's driving-vq run at the thesis profile's sizes (params.yaml merged with
  profiles/thesis.yaml; --vq-profile for another): the 3D VQ-VAE (vqvae) and the top and bottom
  3D PixelSNAIL priors (prior_top, prior_bottom), built, fed and scored by gpu_estimates.py;
- every registered one-network pixel model (benchmarks/models.py's PIXEL_MODELS) at the paper
  profile's sizes (profiles/paper.yaml; --profile for another) on SM-MNIST's shapes: 1 channel,
  64x64, the profile's training clip length (train.<model>.clip_len, else the benchmark's), 5
  context frames; random [0, 1] pixels and, for a steered model, zero actions.

A training step is the loop's (genvid.train.loop): the forward pass and loss under --precision's
autocast (genvid.device), then per optimiser (one, or a GAN's "g" and "d") its backward, the
gradient clipping where train.*.grad_clip asks for it, and genvid's AdamW step
(genvid.numerics.make_adamw, the profile's lr, betas, eps and weight decay). A GAN's optimisers
both step every time (the loop may step one only every k-th step). --channels-last stores the
weights channels-last (genvid.device.to_channels_last), as params' device.channels_last does;
--compile compiles the priors' stems, SNAIL blocks and conditioning stack (genvid.device.compile_units), as
device.compile does: the warm-up steps then include the compilation.

Per component, measured: the median time of --steps steps after --warmup steps (each step
between torch.cuda.synchronize calls on CUDA), sequences (clips) per second, the computing ATen ops
one forward and backward pass dispatches (gpu_estimates.aten_ops, views left out: each op is at
least one kernel launch on a GPU, so a step of many small ops is launch-bound there; the optimiser
left out, its kernels being the device's), the peak memory of
building and training it (torch.cuda.max_memory_allocated after reset_peak_memory_stats; null on
the CPU, where no comparable figure exists), the FLOPs of one step's forward and backward passes
(torch.utils.flop_counter.FlopCounterMode: matrix products and convolutions; the VQ components
counted on the meta device by gpu_estimates.count_step, the pixel models on a real step), the
TFLOP/s that makes, and its fraction of the device's dense bf16 peak (datasheet table below;
null when the device is not in it, and on the CPU). Derived, and labelled so: the hours the
profile's own train.*.steps take at the measured step time ("implied by the measured step
time"; training steps only: no data loading, validation or checkpoints); where the batch is
not the profile's (--batch, or halved after running out of memory), scaled linearly to the
profile's batch, and the JSON says so. Run-to-run bytes: two fresh
trainings of --identity-steps steps from the component's train seed
(genvid.determinism.seed_everything), the SHA-256 of each model's state_dict
(genvid.train.distributed.state_digest) and whether they agree.

Deterministic settings stay on, as in every training stage (genvid.determinism.configure_torch:
deterministic algorithms, no cuDNN autotuning, no TF32). A component that fails (an op with no
deterministic CUDA kernel, memory at batch 1) is reported and the others still run; the exit
status is then 1. The figures go to --json (default benchmarks/results/gpu-<device>.json, written
atomically), with the device, torch, CUDA and cuDNN versions, the options, the date and the commit.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import gpu_estimates  # noqa: E402
import models as pixel_models  # noqa: E402  (benchmarks/models.py)
from genvid import params as P  # noqa: E402
from genvid.data.frames import CONDITIONING  # noqa: E402
from genvid.determinism import configure_torch, cpu_info, seed_everything  # noqa: E402
from genvid.device import autocast, compile_units, to_channels_last  # noqa: E402
from genvid.io import write_json  # noqa: E402
from genvid.models.family import train_sections  # noqa: E402
from genvid.models.registry import MODELS  # noqa: E402
from genvid.profiles import apply, load_profile  # noqa: E402
from genvid.train.config import TrainConfig  # noqa: E402
from genvid.train.distributed import state_digest  # noqa: E402
from genvid.numerics import make_adamw  # noqa: E402
from genvid.verify import gpu_info  # noqa: E402

VQ_COMPONENTS = gpu_estimates.COMPONENTS  # vqvae, prior_top, prior_bottom
COMPONENTS = (*VQ_COMPONENTS, *pixel_models.PIXEL_MODELS)
SMMNIST_CHANNELS, SMMNIST_RESOLUTION, SMMNIST_CONTEXT = 1, 64, 5
PIXEL_LOSS_STEP = 10**6  # the step passed to model.loss: past every warm-up (as benchmarks/models.py)
# Dense (no sparsity) bf16 tensor-core peak in TFLOP/s, datasheet figures, by a substring of
# torch.cuda.get_device_name(); the first match counts (an H100 SXM reports "H100 80GB HBM3").
BF16_PEAK_TFLOPS = (("H200", 989.4), ("H100 PCIe", 756.0), ("H100 SXM", 989.4), ("HBM3", 989.4), ("A100", 312.0))
GIB = 2**30


# ----------------------------------------------------------------------------- arithmetic

def bf16_peak_tflops(device_name: str) -> float | None:
    """The datasheet's dense bf16 peak of a GPU named ``device_name`` (None when not in the table)."""
    return next((peak for key, peak in BF16_PEAK_TFLOPS if key in device_name), None)


def achieved_tflops(flops: int, seconds: float) -> float:
    """TFLOP/s of ``flops`` floating-point operations done in ``seconds``."""
    return flops / seconds / 1e12


def implied_hours(step_seconds: float, steps: int, batch: int, profile_batch: int) -> float:
    """Hours of ``steps`` steps at the profile's batch, at a step time measured at ``batch``: the
    step time itself when the batches agree, else scaled linearly in the batch."""
    return steps * step_seconds * (profile_batch / batch) / 3600


# ----------------------------------------------------------------------------- the components

@dataclass(frozen=True)
class Component:
    """One trainable network as its training stage trains it."""

    name: str
    family: str                  # "vq" or "pixel"
    profile: str                 # the profile its sizes come from (merged over params.yaml)
    train: TrainConfig           # its train.* block: steps, batch, optimiser, clipping, seed
    make: Callable[[int, torch.device], tuple[nn.Module, tuple]]  # (model on the device, one batch of inputs)
    loss: Callable[[nn.Module, tuple], torch.Tensor | dict[str, torch.Tensor]]
    shape: Callable[[int], str]  # one batch's shape, for the report
    count: Callable[[int], int] | None = None  # FLOPs of a step on the meta device; None: counted on a real step


def profile_params(profile: str) -> dict:
    """params.yaml with profiles/<profile>.yaml applied."""
    return apply(P.read_params(ROOT / "params.yaml"), load_profile(profile, ROOT / "profiles"))


def vq_components(profile: str, names: list[str]) -> list[Component]:
    """The driving-vq run's VQ-VAE and priors at ``profile``'s sizes (gpu_estimates.thesis_setup)."""
    setup = gpu_estimates.thesis_setup(ROOT, profile)
    out = []
    for name in (c for c in VQ_COMPONENTS if c in names):
        def make(batch: int, device: torch.device, name: str = name) -> tuple[nn.Module, tuple]:
            return gpu_estimates.build(setup, name, batch, str(device))

        def shape(batch: int, name: str = name) -> str:
            if name == "vqvae":
                dims = (batch, setup["channels"], setup["clip_len"], setup["res"], setup["res"])
            else:
                dims = (batch, *setup["priors"][name.removeprefix("prior_")].shape)
            return "x".join(map(str, dims))

        train = TrainConfig.from_dict(setup["train"][name], f"train.vq.{name}", f"profiles/{profile}.yaml")
        out.append(Component(
            name, "vq", profile, train, make,
            lambda model, inputs, name=name: gpu_estimates.objective(model, name, inputs), shape,
            lambda batch, name=name: gpu_estimates.count_step(setup, name, batch, "meta")["flops_step"]))
    return out


def pixel_components(profile: str, names: list[str]) -> list[Component]:
    """The one-network pixel models at ``profile``'s sizes on SM-MNIST's clips (benchmarks/models.py's build)."""
    raw = profile_params(profile)
    source = f"params.yaml + profiles/{profile}.yaml"
    clips = P.benchmark(raw, "smmnist", source).clips
    out = []
    for name in (m for m in pixel_models.PIXEL_MODELS if m in names):
        # the model's own block: a family that trains components before its model nests it (train.<name>.model)
        run = P.Run(f"smmnist-{name}", "smmnist", name, raw["models"][name], raw["train"][name])
        section, block = train_sections(MODELS[name], run)["model"]
        train = TrainConfig.from_dict(block, section, source)
        clip_len = train.clip_len or clips.clip_len
        kind = MODELS[name].conditioning  # a steered model also reads per-frame actions (zeros here)

        def make(batch: int, device: torch.device, name: str = name, clip_len: int = clip_len,
                 kind: str | None = kind) -> tuple[nn.Module, tuple]:
            model = pixel_models.build(name, raw["models"][name], SMMNIST_CHANNELS, SMMNIST_CONTEXT).to(device).train()
            frames = torch.rand(batch, clip_len, SMMNIST_CHANNELS, SMMNIST_RESOLUTION, SMMNIST_RESOLUTION)
            frames = frames.mul(255).round().div(255).to(device)  # 8-bit pixel values, as the clips
            cond = () if kind is None else (torch.zeros(batch, clip_len, len(CONDITIONING[kind]), device=device),)
            return model, (frames, *cond)

        def loss(model: nn.Module, inputs: tuple) -> torch.Tensor | dict[str, torch.Tensor]:
            return model.loss(inputs[0], PIXEL_LOSS_STEP, *inputs[1:])[0]  # genvid.models.pixel's objective

        def shape(batch: int, clip_len: int = clip_len) -> str:
            return f"{batch}x{clip_len}x{SMMNIST_CHANNELS}x{SMMNIST_RESOLUTION}x{SMMNIST_RESOLUTION}"

        out.append(Component(name, "pixel", profile, train, make, loss, shape))
    return out


# ----------------------------------------------------------------------------- one training step

class Training:
    """A freshly built component with its optimisers, stepping on one fixed batch as the loop would."""

    def __init__(self, component: Component, batch: int, device: torch.device, precision: str,
                 channels_last: bool, compile: bool = False):
        self.component, self.device, self.precision = component, device, precision
        self.model, self.inputs = component.make(batch, device)
        if channels_last:
            to_channels_last(self.model)
        if compile:
            compile_units(self.model)
        # one optimiser, or a GAN's "g" and "d" (genvid.models.pixel: the model names their parameters)
        self.groups = (self.model.optimizer_groups() if hasattr(self.model, "optimizer_groups")
                       else {"model": [p for p in self.model.parameters() if p.requires_grad]})
        self.optimizers = {}
        for name, params in self.groups.items():
            s = component.train.optimizer(name)
            self.optimizers[name] = make_adamw(params, device, lr=s.lr, betas=s.betas, eps=s.eps,
                                               weight_decay=s.weight_decay)

    def step(self, optimise: bool = True) -> None:
        """One training step; ``optimise=False``: the forward and backward passes only."""
        with autocast(self.device, self.precision):
            losses = self.component.loss(self.model, self.inputs)
        losses = losses if isinstance(losses, dict) else {"model": losses}
        names = list(self.optimizers)
        for name in names:
            self.optimizers[name].zero_grad(set_to_none=True)
            losses[name].backward(retain_graph=name != names[-1])
            if not optimise:
                continue
            if self.component.train.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.groups[name], self.component.train.grad_clip)
            self.optimizers[name].step()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_memory(device: torch.device) -> None:
    """Drop what the last component left, so the next one's peak is its own."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------- measurements

def measure(component: Component, batch: int, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Median step time, sequences/s, peak memory and FLOPs of one step of ``component`` at ``batch``."""
    free_memory(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seed_everything(component.train.seed)
    run = Training(component, batch, device, args.precision, args.channels_last, args.compile)
    params = sum(p.numel() for p in run.model.parameters())
    for _ in range(args.warmup):  # cuDNN's kernel choice, the allocator, data-dependent initialisation
        run.step()
    times = []
    for _ in range(args.steps):
        synchronize(device)
        t0 = time.perf_counter()
        run.step()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    if component.count is not None:
        flops = component.count(batch)
    else:
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            run.step()
        flops = counter.get_total_flops()
    ops = gpu_estimates.aten_ops(lambda: run.step(optimise=False))  # the optimiser's launches differ by device: left out
    step = statistics.median(times)
    return {"params": params, "step_seconds": step, "step_seconds_all": times, "sequences_per_s": batch / step,
            "peak_memory_bytes": peak, "flops_step": flops, "aten_ops_step": ops}


def identity(component: Component, batch: int, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Two fresh trainings of --identity-steps steps from the component's seed: their state_dict digests."""
    digests = []
    for _ in range(2):
        free_memory(device)
        seed_everything(component.train.seed)
        run = Training(component, batch, device, args.precision, args.channels_last, args.compile)
        for _ in range(args.identity_steps):
            run.step()
        synchronize(device)
        digests.append(state_digest(run.model))
        del run
    return {"steps": args.identity_steps, "seed": component.train.seed, "sha256": digests,
            "identical": digests[0] == digests[1]}


def benchmark(component: Component, args: argparse.Namespace, device: torch.device, peak_tflops: float | None
              ) -> dict[str, Any]:
    """Every figure of one component; on running out of CUDA memory, the batch is halved (down to 1)."""
    profile_batch = component.train.batch_size
    batch = args.batch or profile_batch
    result: dict[str, Any] = {"family": component.family, "profile": component.profile,
                              "profile_batch": profile_batch, "profile_steps": component.train.steps,
                              "out_of_memory_at": []}
    while True:
        try:
            result.update(measure(component, batch, args, device))
            break
        except RuntimeError as err:  # torch.cuda.OutOfMemoryError, or cuDNN/cuBLAS failing to allocate
            if not isinstance(err, torch.cuda.OutOfMemoryError) and "out of memory" not in str(err).lower():
                raise
            result["out_of_memory_at"].append(batch)  # leaving the handler frees the failed step's tensors
        free_memory(device)
        if batch == 1:
            raise RuntimeError("out of CUDA memory at batch 1")
        batch //= 2
    result["batch"], result["shape"] = batch, component.shape(batch)
    result["achieved_tflops"] = achieved_tflops(result["flops_step"], result["step_seconds"])
    result["fraction_of_bf16_peak"] = None if peak_tflops is None else result["achieved_tflops"] / peak_tflops
    result["implied_hours"] = implied_hours(result["step_seconds"], component.train.steps, batch, profile_batch)
    result["implied_hours_basis"] = ("the measured step time at the profile's batch" if batch == profile_batch else
                                     f"the step time measured at batch {batch}, scaled linearly to the profile's "
                                     f"batch {profile_batch}")
    try:
        result["identity"] = identity(component, batch, args, device)
    except RuntimeError as err:  # the figures above stand; main() reports the failure in its exit status
        result["identity"] = {"steps": args.identity_steps, "seed": component.train.seed, "error": first_line(err)}
    free_memory(device)
    return result


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# ----------------------------------------------------------------------------- the record

def git_revision() -> str | None:
    """``git rev-parse --short HEAD``, with "+changes" when tracked files differ from it (None outside git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if dirty else "")


def environment(device: torch.device) -> dict[str, Any]:
    """What the figures were measured on."""
    gpu = gpu_info(device.type) or {}  # genvid.verify's: model, capability, driver, CUDA, cuDNN
    return {"device": device.type, "device_name": gpu.get("model") or cpu_info()["model"] or "cpu",
            "capability": gpu.get("capability"), "driver": gpu.get("driver"),
            "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "cpu_threads": torch.get_num_threads(),
            "deterministic": {"algorithms": torch.are_deterministic_algorithms_enabled(),
                              "cudnn_benchmark": torch.backends.cudnn.benchmark,
                              "cudnn_deterministic": torch.backends.cudnn.deterministic,
                              "tf32": torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32}}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def line(name: str, r: dict[str, Any]) -> str:
    """One component's figures on one line, then its two digests on the next."""
    peak = "n/a (CPU)" if r["peak_memory_bytes"] is None else f"{r['peak_memory_bytes'] / GIB:.2f} GiB"
    fraction = "n/a" if r["fraction_of_bf16_peak"] is None else f"{r['fraction_of_bf16_peak']:.1%}"
    oom = f" (out of memory at batch {', '.join(map(str, r['out_of_memory_at']))})" if r["out_of_memory_at"] else ""
    scaled = "" if r["batch"] == r["profile_batch"] else f" (scaled from batch {r['batch']})"
    ident = r["identity"]
    if "error" in ident:
        same, digests = f"FAILED: {ident['error']}", "none"
    else:
        same, digests = str(ident["identical"]), " / ".join(ident["sha256"])
    return (f"{name:13} {r['shape']:17}{oom} {r['params'] / 1e6:7.2f}M | step {r['step_seconds'] * 1e3:.4g} ms, "
            f"{r['sequences_per_s']:.4g} seq/s, {r['aten_ops_step']:,} ATen ops fwd+bwd | peak memory {peak} | {r['flops_step'] / 1e12:.4g} TFLOP/step, "
            f"{r['achieved_tflops']:.4g} TFLOP/s, {fraction} of dense bf16 peak | {r['profile_steps']:,} steps x batch "
            f"{r['profile_batch']}: {r['implied_hours']:.3g} h implied by the measured step time{scaled} | "
            f"bit-identical over two runs of {ident['steps']} steps: {same}\n{'':13} sha256 {digests}")


# ----------------------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="autocast of the forward passes")
    ap.add_argument("--channels-last", action="store_true", help="4D/5D weights channels-last (genvid.device)")
    ap.add_argument("--compile", action="store_true", help="compile the models' compile units, as params "
                                                           "device.compile does (genvid.device)")
    ap.add_argument("--profile", default="paper", help="the profile the pixel models' sizes come from (default paper)")
    ap.add_argument("--vq-profile", default="thesis", help="the profile the VQ components' sizes come from "
                                                           "(default thesis; tiny for a smoke test)")
    ap.add_argument("--only", help=f"components, comma-separated (default all: {','.join(COMPONENTS)})")
    ap.add_argument("--batch", type=int, help="batch of every component (default: each one's profile batch)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps (their median is reported)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    ap.add_argument("--identity-steps", type=int, default=3, help="steps of each of the two identity runs")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, i.e. OMP_NUM_THREADS)")
    ap.add_argument("--json", type=Path, help="where the figures go (default benchmarks/results/gpu-<device>.json)")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(COMPONENTS)
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown:
        ap.error(f"--only: unknown component {unknown[0]!r} (known: {', '.join(COMPONENTS)})")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device here")
    if min(args.steps, args.identity_steps) < 1 or args.warmup < 0 or (args.batch is not None and args.batch < 1):
        ap.error("--steps, --identity-steps and --batch must be >= 1, --warmup >= 0")
    args.only = names
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_torch(args.threads)  # the training stages' settings; seed_everything repeats it
    device = torch.device(args.device)
    env = environment(device)
    peak_tflops = bf16_peak_tflops(env["device_name"]) if device.type == "cuda" else None
    print(f"device {env['device_name']} ({device.type}"
          + (f", capability {env['capability']}, driver {env['driver']}" if env["capability"] else
             f", {env['cpu_threads']} threads") + f"), torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}; "
          f"precision {args.precision}, channels-last {'on' if args.channels_last else 'off'}, "
          f"compile {'on' if args.compile else 'off'}; dense bf16 peak "
          + (f"{peak_tflops} TFLOP/s (datasheet)" if peak_tflops else "unknown"))
    print("deterministic settings on (genvid.determinism.configure_torch: deterministic algorithms, "
          "no cuDNN autotuning, no TF32), as in the training stages")
    print(f"sizes: VQ components profiles/{args.vq_profile}.yaml, pixel models profiles/{args.profile}.yaml "
          f"(SM-MNIST {SMMNIST_CHANNELS}x{SMMNIST_RESOLUTION}x{SMMNIST_RESOLUTION}, context {SMMNIST_CONTEXT}), "
          f"over params.yaml")
    print(f"MEASURED: median of {args.steps} training steps after {args.warmup} warm-up; FLOPs by FlopCounterMode "
          f"(forward + backward); hours are not measured: implied by the measured step time", flush=True)

    components = vq_components(args.vq_profile, args.only) + pixel_components(args.profile, args.only)
    results: dict[str, Any] = {}
    failed = False
    for component in components:
        try:
            results[component.name] = benchmark(component, args, device, peak_tflops)
        except RuntimeError as err:  # e.g. an op without a deterministic CUDA kernel, memory at batch 1
            failed = True
            results[component.name] = {"family": component.family, "profile": component.profile,
                                       "error": first_line(err)}
            print(f"{component.name:13} FAILED: {first_line(err)}", flush=True)
            free_memory(device)
            continue
        failed |= "error" in results[component.name]["identity"]
        print(line(component.name, results[component.name]), flush=True)

    options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    record = {"environment": env, "options": options, "bf16_peak_tflops": peak_tflops,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "git": git_revision(), "components": results,
              "note": "step times, memory, FLOPs and digests measured; implied_hours = profile steps x the measured "
                      "step time (scaled linearly where the batch is not the profile's): not measured"}
    device_slug = "cpu" if device.type == "cpu" else slug(env["device_name"])
    out = args.json or ROOT / "benchmarks" / "results" / f"gpu-{device_slug}.json"
    write_json(out, record)
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
