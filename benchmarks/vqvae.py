"""Benchmark: 3D VQ-VAE training step: throughput, memory, achieved FLOP/s against matmul peak.

    python benchmarks/vqvae.py                         # default + thesis config on the CPU
    python benchmarks/vqvae.py --device cuda --steps 20 --channels-last
    python benchmarks/vqvae.py --configs default --res-kernels 3,3,3 1,3,3   # residual kernel A/B

Configs: "default" is params.yaml's driving-vq run (models.vq.vqvae with the run's overrides,
train.vq.vqvae.batch_size and lr, models.vq.clip_len, benchmarks.driving.collect.resolution);
"thesis" is the same run in params.yaml merged with profiles/thesis.yaml (seed 000 Table 5.2:
128/64 channels, 5 residual layers, K 512, D 64; 16x256x256 clips). Each (config, memory
format) runs in a fresh subprocess, so its peak memory is its own: on CUDA
torch.cuda.max_memory_allocated, on the CPU the process's max RSS (resource.getrusage) and its
growth over the RSS after the imports; tracemalloc would not see torch's allocator. FLOPs of
one forward + backward are counted with torch.utils.flop_counter.FlopCounterMode (on the meta
device: no compute); the achieved rate is given as a fraction of a large float32 matmul's
rate, measured in the same subprocess right after the timed steps. Times are the best of
--steps (the machine may be shared). Every run uses the training stage's settings
(genvid.determinism.configure_torch: deterministic kernels, no TF32). Printed, never asserted.

--res-kernels runs every config once per residual kernel (vqvae.res_kernel; genvid's 3x3x3
against the thesis author's spatial-only 1x3x3, issue 8 finding 6) and prints each kernel's
training-step time (forward + backward + optimiser) as a ratio to the first kernel's.
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid import params as P  # noqa: E402
from genvid.determinism import configure_torch  # noqa: E402
from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig  # noqa: E402
from genvid.profiles import apply, load_profile  # noqa: E402

RUN = "driving-vq"  # the benchmarked run (the thesis profile sizes it as seed 000 Table 5.2)


def config(raw: dict, name: str, source: str, batch: int | None = None) -> dict:
    """The driving-vq run of `raw` params: its VQ-VAE sizes, batch, clip shape and lr."""
    run = P.run(raw, RUN, source)
    bench = P.benchmark(raw, run.benchmark, source)
    train = run.train_params["vqvae"]
    return {"name": name, "vqvae": run.model_params["vqvae"], "batch": batch or train["batch_size"],
            "clip_len": int(run.model_params["clip_len"]), "res": bench.collect.resolution, "lr": train["lr"]}


def configs(device: str, thesis_batch: int | None) -> list[dict]:
    """The benchmarked configurations: the default profile's and the thesis profile's driving-vq."""
    params = P.read_params(ROOT / "params.yaml")
    thesis = apply(params, load_profile("thesis", ROOT / "profiles"))
    # Batch 8 is the thesis's (seed 000 §5.2.3); on a CPU one thesis clip is ~0.6 TFLOP per step.
    return [config(params, "default", "params.yaml"),
            config(thesis, "thesis", "params.yaml + profiles/thesis.yaml",
                   batch=thesis_batch or (None if device == "cuda" else 1))]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, repeats: int = 5) -> float:
    """Best GFLOP/s of a large float32 matmul (2n³ FLOPs). On the CPU the same product is also
    run as a 1x1 convolution: PyTorch sends matmuls to MKL but convolutions to oneDNN, and
    on some CPUs (MKL on AMD) oneDNN is the faster of the two, so the peak is the better one."""
    n = 8192 if device.type == "cuda" else 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    kernels = [lambda: a @ b]
    if device.type == "cpu":
        x = torch.randn(1, n, 32, n // 32).contiguous(memory_format=torch.channels_last)
        w = b.t().reshape(n, n, 1, 1).contiguous(memory_format=torch.channels_last)
        kernels.append(lambda: F.conv2d(x, w))
    best = math.inf
    for kernel in kernels:
        kernel()  # warm-up
        for _ in range(repeats):
            sync(device)
            t0 = time.perf_counter()
            kernel()
            sync(device)
            best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def step_loss(model: VQVAE3D, x: torch.Tensor) -> torch.Tensor:
    """Eq. 5.3 as the training loop computes it (model.loss, without its .item() logging)."""
    out = model(x)
    return F.mse_loss(out.recon, x) + model.cfg.beta * out.commitment_loss


def count_flops(cfg: VQVAEConfig, shape: tuple[int, ...]) -> tuple[int, int]:
    """(forward, forward + backward) FLOPs of one training step, counted on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = VQVAE3D(cfg).train()
        x = torch.empty(shape)
    counter = FlopCounterMode(display=False)
    with counter:
        loss = step_loss(model, x)
        forward = counter.get_total_flops()
        loss.backward()
    return forward, counter.get_total_flops()


def measure(spec: dict) -> dict:
    """One (config, memory format) in this process: timings, memory, FLOPs."""
    device = torch.device(spec["device"])
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    rss_base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux -> MiB
    configure_torch()
    torch.manual_seed(0)
    cfg = VQVAEConfig.from_dict(spec["vqvae"])
    shape = (spec["batch"], cfg.in_channels, spec["clip_len"], spec["res"], spec["res"])
    fmt = torch.channels_last_3d if spec["channels_last"] else torch.contiguous_format
    model = VQVAE3D(cfg).to(device, memory_format=fmt).train()
    x = torch.randn(shape, device=device).contiguous(memory_format=fmt)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec["lr"])
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    times = {"fwd": [], "bwd": [], "opt": []}
    for i in range(spec["warmup"] + spec["steps"]):
        sync(device)
        t0 = time.perf_counter()
        loss = step_loss(model, x)
        sync(device)
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        sync(device)
        t2 = time.perf_counter()
        optimizer.step()
        sync(device)
        t3 = time.perf_counter()
        if i >= spec["warmup"]:
            for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
                times[key].append(dt)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {k: min(v) for k, v in times.items()}  # best of: the machine may be shared
    if device.type == "cuda":
        result["cuda_peak"] = torch.cuda.max_memory_allocated(device) / 2**20
    result["params"] = sum(p.numel() for p in model.parameters())
    del model, optimizer, x, loss
    forward, total = count_flops(cfg, shape)
    result.update(flops_fwd=forward, flops=total,
                  rss_peak=rss, rss_delta=rss - rss_base, threads=torch.get_num_threads(),
                  peak=matmul_peak(device))  # measured next to the steps: same machine load
    return result


def run_worker(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                          capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"benchmark worker failed for {spec['name']}:\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per config (after --warmup)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--channels-last", action="store_true",
                        help="also run every config in channels_last_3d memory format")
    parser.add_argument("--configs", default="default,thesis")
    parser.add_argument("--thesis-batch", type=int, default=None,
                        help="batch of the thesis config (default: 8 on cuda, 1 on cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--res-kernels", nargs="+", type=parse_kernel, default=None, metavar="KT,KH,KW",
                        help="run each config with each of these vqvae.res_kernel values (e.g. 3,3,3 1,3,3)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(measure(json.loads(args.worker))))
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device")

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; best of {args.steps} steps after {args.warmup} warm-up")
    wanted = args.configs.split(",")
    formats = (False, True) if args.channels_last else (False,)
    memory = "CUDA max alloc MiB" if device.type == "cuda" else "maxRSS MiB (over import)"
    header = (f"{'config':14} {'format':13} {'input BxTxHxW':16} {'params':>7} {'fwd ms':>9} {'bwd ms':>9} "
              f"{'opt ms':>8} {'clips/s':>8} {'GFLOP/step':>10} {'GF/s fwd':>8} {'bwd':>6} {'f+b':>6} {'peak':>6} "
              f"{'%peak':>6}  {memory}")
    print(header)
    print("-" * len(header))
    step_times: dict[tuple[str, bool], list[tuple[str, float]]] = {}
    for base in configs(args.device, args.thesis_batch):
        if base["name"] not in wanted:
            continue
        for cfg in with_res_kernels(base, args.res_kernels):
            for channels_last in formats:
                spec = {**cfg, "device": args.device, "steps": args.steps, "warmup": args.warmup,
                        "channels_last": channels_last, "threads": args.threads}
                r = run_worker(spec)
                step = r["fwd"] + r["bwd"] + r["opt"]
                step_times.setdefault((base["name"], channels_last), []).append((cfg["name"], step))
                print_row(cfg, channels_last, r, step)
    print("GF/s f+b = FLOPs of forward+backward / (forward + backward time); clips/s includes the "
          "optimiser step;\npeak = float32 matmul GFLOP/s measured in the same subprocess right after its steps.")
    if args.res_kernels and len(args.res_kernels) > 1:
        for (name, channels_last), runs in step_times.items():
            (ref_name, ref), others = runs[0], runs[1:]
            ratios = ", ".join(f"{ref_name} / {other} = {ref / t:.2f}x" for other, t in others)
            print(f"training-step time, {name} ({'channels_last' if channels_last else 'contiguous'}): "
                  f"{ref_name} {ref * 1e3:.0f} ms; " + ", ".join(f"{o} {t * 1e3:.0f} ms" for o, t in others)
                  + f"; {ratios}")


def parse_kernel(text: str) -> list[int]:
    """'1,3,3' -> [1, 3, 3] (validated by VQVAEConfig when the config is built)."""
    try:
        kernel = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected KT,KH,KW integers, got {text!r}") from None
    if len(kernel) != 3:
        raise argparse.ArgumentTypeError(f"expected three integers KT,KH,KW, got {text!r}")
    return kernel


def with_res_kernels(cfg: dict, kernels: list[list[int]] | None) -> list[dict]:
    """cfg itself, or one copy per residual kernel, named e.g. 'default k133'."""
    if not kernels:
        return [cfg]
    return [{**cfg, "name": f"{cfg['name']} k{''.join(map(str, k))}", "vqvae": {**cfg["vqvae"], "res_kernel": k}}
            for k in kernels]


def print_row(cfg: dict, channels_last: bool, r: dict, step: float) -> None:
    """One line of the table: times, throughput, FLOP rates, memory."""
    rate = r["flops"] / (r["fwd"] + r["bwd"]) / 1e9
    mem = f"{r['cuda_peak']:.0f}" if "cuda_peak" in r else f"{r['rss_peak']:.0f} (+{r['rss_delta']:.0f})"
    shape = f"{cfg['batch']}x{cfg['clip_len']}x{cfg['res']}x{cfg['res']}"
    print(f"{cfg['name']:14} {'channels_last' if channels_last else 'contiguous':13} {shape:16} "
          f"{r['params'] / 1e6:6.2f}M {r['fwd'] * 1e3:9.1f} {r['bwd'] * 1e3:9.1f} {r['opt'] * 1e3:8.1f} "
          f"{cfg['batch'] / step:8.2f} {r['flops'] / 1e9:10.1f} {r['flops_fwd'] / r['fwd'] / 1e9:8.1f} "
          f"{(r['flops'] - r['flops_fwd']) / r['bwd'] / 1e9:6.1f} {rate:6.1f} {r['peak']:6.0f} "
          f"{rate / r['peak']:6.1%}  {mem}",
          flush=True)


if __name__ == "__main__":
    main()
