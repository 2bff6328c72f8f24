"""Op fingerprints: which CPU kernels give other bits on another machine.

Run with the project's venv:

    .venv/bin/python benchmarks/op_fingerprints.py            # prints one line per op family
    .venv/bin/python benchmarks/op_fingerprints.py --compare tests/data/op_fingerprints/*.txt

It applies genvid's own machine pins (genvid.determinism.pin_environment, repro.threads = 2) before
torch loads, then runs one small fixed computation per op family that training uses (forward and
backward separately), and prints a sha256 prefix of each result's bytes. Two machines that print
the same line for an op compute that op bit for bit alike; the first line that differs names the
kernel to look at. --compare reads earlier outputs (their first line names the machine) and marks
each op 'same' or 'DIFFERS' against each of them.
"""
from __future__ import annotations

import argparse
import hashlib
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from genvid.determinism import configure_torch, cpu_info, pin_environment  # noqa: E402
from genvid.machine import cpu_generation  # noqa: E402

pin_environment(2)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

configure_torch(2)


def digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def inputs(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g)


def fwd_bwd(fn, *xs: torch.Tensor, params: tuple[torch.Tensor, ...] = ()) -> tuple[str, str]:
    xs = tuple(x.clone().requires_grad_(True) for x in xs)
    ps = tuple(p.clone().requires_grad_(True) for p in params)
    out = fn(*xs, *ps)
    grad_out = inputs(*out.shape, seed=99)
    out.backward(grad_out)
    grads = [t.grad for t in (*xs, *ps) if t.grad is not None]
    return digest(out), digest(*grads)


def cases():
    x5, w3 = inputs(2, 16, 8, 16, 16), inputs(32, 16, 3, 3, 3, seed=1) * 0.1
    yield "conv3d 3x3x3", fwd_bwd(lambda x, w: F.conv3d(x, w, padding=1), x5, params=(w3,))
    w133 = inputs(32, 16, 1, 3, 3, seed=2) * 0.1
    yield "conv3d 1x3x3", fwd_bwd(lambda x, w: F.conv3d(x, w, padding=(0, 1, 1)), x5, params=(w133,))
    wst = inputs(32, 16, 4, 4, 4, seed=3) * 0.1
    yield "conv3d k4 s2", fwd_bwd(lambda x, w: F.conv3d(x, w, stride=2, padding=1), x5, params=(wst,))
    wt = inputs(16, 8, 4, 4, 4, seed=4) * 0.1
    yield "conv_transpose3d", fwd_bwd(lambda x, w: F.conv_transpose3d(x, w, stride=2, padding=1), x5, params=(wt,))
    x4, w2 = inputs(8, 16, 32, 32), inputs(32, 16, 3, 3, seed=5) * 0.1
    yield "conv2d 3x3", fwd_bwd(lambda x, w: F.conv2d(x, w, padding=1), x4, params=(w2,))
    w4s = inputs(32, 16, 4, 4, seed=6) * 0.1
    yield "conv2d k4 s2", fwd_bwd(lambda x, w: F.conv2d(x, w, stride=2, padding=1), x4, params=(w4s,))
    wt2 = inputs(16, 8, 4, 4, seed=7) * 0.1
    yield "conv_transpose2d", fwd_bwd(lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1), x4, params=(wt2,))
    a, wl, bl = inputs(64, 256), inputs(512, 256, seed=8) * 0.05, inputs(512, seed=9)
    yield "linear", fwd_bwd(lambda x, w, b: F.linear(x, w, b), a, params=(wl, bl))
    yield "matmul (bmm)", fwd_bwd(lambda p, q: torch.bmm(p, q), inputs(4, 64, 128), inputs(4, 128, 96, seed=10))
    lstm = torch.nn.LSTM(64, 128, num_layers=2, batch_first=True)
    with torch.no_grad():
        for i, p in enumerate(lstm.parameters()):
            p.copy_(inputs(*p.shape, seed=20 + i) * 0.05)
    yield "nn.LSTM", fwd_bwd(lambda x: lstm(x)[0], inputs(4, 10, 64))
    yield "group_norm", fwd_bwd(lambda x: F.group_norm(x, 4), x4)
    yield "batch_norm (train)", fwd_bwd(lambda x: F.batch_norm(x, None, None, training=True), x4)
    yield "layer_norm", fwd_bwd(lambda x: F.layer_norm(x, x.shape[-1:]), a)
    yield "log_softmax + nll", fwd_bwd(lambda x: F.nll_loss(F.log_softmax(x, 1), torch.arange(64) % 512), inputs(64, 512))
    yield "elu/tanh/sigmoid", fwd_bwd(lambda x: F.elu(x) * torch.tanh(x) + torch.sigmoid(x), x4)
    yield "exp/log/softplus", fwd_bwd(lambda x: torch.exp(-x.abs()) + torch.log1p(x.abs()) + F.softplus(x), x4)
    yield "interpolate nearest", fwd_bwd(lambda x: F.interpolate(x, scale_factor=2), x4)
    yield "sum/mean reductions", fwd_bwd(lambda x: x.sum(dim=(2, 3)) + x.mean(dim=(2, 3)), x4)
    emb = inputs(512, 64, seed=30)
    idx = (torch.arange(2048) * 7919) % 512
    yield "embedding", fwd_bwd(lambda w: F.embedding(idx, w), params=(emb,))
    yield "cdist / argmin (VQ)", (digest(torch.cdist(inputs(2048, 64), emb)), digest(torch.cdist(inputs(2048, 64), emb).argmin(1)))
    p = torch.nn.Parameter(inputs(256, 256, seed=40))
    for name, opt in (("Adam step", torch.optim.Adam([p], 1e-3)), ("AdamW step", torch.optim.AdamW([p], 1e-3))):
        with torch.no_grad():
            p.copy_(inputs(256, 256, seed=40))
        for k in range(3):
            p.grad = inputs(256, 256, seed=50 + k)
            opt.step()
        yield name, (digest(p), "-")
    yield from vqvae_layers()


def vqvae_layers():
    """Every 3D convolution of params.yaml's VQ-VAE at the shape its training step gives it (2 clips of
    16x64x64, the golden case ``train:vq.vqvae.params_size``): forward | input gradient, then the weight
    gradient on a line of its own. oneDNN picks a kernel and its blocking per shape (and, for some, per
    the CPU's caches), so small shapes cannot stand in for these: a machine whose golden case differs
    names the layer and the pass here (docs/reproducibility.md, the measured exception)."""
    from genvid import params as P
    from genvid.models.vq.overlap_add import OverlapAddConvTranspose3d
    from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig

    torch.manual_seed(0)
    model = VQVAE3D(VQVAEConfig.from_dict(P.read_params(ROOT / "params.yaml")["models"]["vq"]["vqvae"]))
    seen: dict[str, torch.Tensor] = {}
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, (torch.nn.Conv3d, torch.nn.ConvTranspose3d))]
    hooks = [m.register_forward_pre_hook(lambda m, args, name=name: seen.setdefault(name, args[0].detach().clone()))
             for name, m in convs]
    frames = torch.rand(2, 3, 16, 64, 64, generator=torch.Generator().manual_seed(8)) * 2 - 1
    with torch.no_grad():
        model.loss(frames)
    for h in hooks:
        h.remove()
    for name, m in convs:
        if name not in seen:
            continue
        x = seen[name].clone().requires_grad_(True)
        m.zero_grad(set_to_none=True)
        out = m(x)
        out.backward(inputs(*out.shape, seed=99))
        # a new name for a layer computed otherwise: an older file's rows of the oneDNN layer read "not in it"
        kind = " overlap-add" if isinstance(m, OverlapAddConvTranspose3d) else ""
        label = f"vqvae {name}{kind} {'x'.join(map(str, x.shape[1:]))}"
        yield label, (digest(out), digest(x.grad))
        yield f"{label} wgrad", ("-", digest(m.weight.grad, m.bias.grad))


def header() -> str:
    info = cpu_info()
    return (f"# machine: {info['vendor']} | {info['model']} | {cpu_generation()} | avx512f={'avx512f' in info['flags']} | "
            f"torch {torch.__version__} | {platform.python_version()} | threads {torch.get_num_threads()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", nargs="*", type=Path, default=[])
    args = ap.parse_args()
    rows = [(name, f, b) for name, (f, b) in cases()]
    print(header())
    refs = []
    for path in args.compare:
        lines = path.read_text().splitlines()
        table = {}
        for line in lines[1:]:
            parts = [s.strip() for s in line.split("|")]
            if len(parts) >= 3:
                table[parts[0]] = (parts[1], parts[2])
        refs.append((path.name, lines[0] if lines else "", table))
    for name, f, b in rows:
        verdict = ""
        for ref_name, _, table in refs:
            seen = table.get(name)
            verdict += f" | vs {ref_name}: " + ("not in it" if seen is None else "same" if seen == (f, b) else "DIFFERS")
        print(f"{name:22s} | {f} | {b}{verdict}")


if __name__ == "__main__":
    main()
