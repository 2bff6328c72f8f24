"""Bit fingerprints of the computations genvid's CPU training rests on (tests/test_golden.py).

    python tests/_golden_cases.py THREADS   # prints {"case": "sha256 prefix", ...} as JSON
    python tests/_golden_cases.py THREADS --train-only --device cuda --precision bf16 --channels-last [--compile]
    python tests/_golden_cases.py THREADS --train-only --only 'train:svg_lp'   # the cases a regex matches (smoke)
    python tests/_golden_cases.py THREADS --ops-to FILE   # and {"train:<model>": [the aten ops its steps ran]} to FILE
    python tests/_golden_cases.py THREADS --train-only --keep-going   # a case that raises: "error: ..." (GPU check)

Runs under genvid's pins (genvid.determinism.pin_environment, applied before torch loads, as
every stage does), so two machines print the same line for a case exactly when a stage would
compute it alike on both. Cases:
- ``op:*``: one small fixed computation per op family, forward and backward, and LPIPS's forward;
- ``train:<model>``: three steps of the one training loop (genvid's AdamW, clipping, schedule) on
  each registered network at tiny sizes, from fixed initial weights; the VQ family's three
  networks separately, and its VQ-VAE once more at params.yaml's size (4 clips of 16 x 64 x 64);
  and the motion classifier's own loop.

``--device``, ``--precision``, ``--channels-last`` and ``--compile`` train the ``train:*`` cases as params ``device``
would (genvid.device): on CUDA two processes must print the same line (tests/test_golden.py's
CUDA-only test, issue 25); on the CPU channels-last runs every network's layout path.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genvid.determinism import pin_environment  # noqa: E402  (numpy/torch-free)

ARGS = sys.argv[1:]
THREADS = int(ARGS[0]) if ARGS and ARGS[0].isdigit() else 1
DEVICE = ARGS[ARGS.index("--device") + 1] if "--device" in ARGS else "cpu"
PRECISION = ARGS[ARGS.index("--precision") + 1] if "--precision" in ARGS else "fp32"
CHANNELS_LAST = "--channels-last" in ARGS
COMPILE = "--compile" in ARGS
ONLY = ARGS[ARGS.index("--only") + 1] if "--only" in ARGS else None  # a regex over case names (benchmarks/gpu_check.py)
OPS_TO = ARGS[ARGS.index("--ops-to") + 1] if "--ops-to" in ARGS else None  # each training case's aten ops, to a file
# a case that raises is recorded as "error: <type>: <message>" and the others still run (the GPU check: one
# network's missing deterministic kernel must not hide every other network's answer)
KEEP_GOING = "--keep-going" in ARGS

pin_environment(THREADS)

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from genvid.determinism import configure_torch  # noqa: E402

configure_torch()
torch.set_num_threads(THREADS)

STEPS = 3


class OpNames(TorchDispatchMode):
    """Records the name of every aten op dispatched inside it, autograd's backward included."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(func._schema.name)
        return func(*args, **(kwargs or {}))


def digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def uniform(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def forward_backward(fn, *inputs: torch.Tensor) -> str:
    """The output and every input's gradient of sum(out * fixed weights)."""
    leaves = [x.clone().requires_grad_() for x in inputs]
    out = fn(*leaves)
    (out * uniform(*out.shape, seed=99)).sum().backward()
    return digest(out, *[x.grad for x in leaves])


def op_cases() -> dict[str, str]:
    from torch.nn import functional as F

    from genvid.numerics import AdamW, exact_sqrt

    out = {
        "op:conv3d": forward_backward(lambda x, w: F.conv3d(x, w, padding=1), uniform(2, 4, 6, 10, 10),
                                      uniform(8, 4, 3, 3, 3, seed=1)),
        "op:conv_transpose3d": forward_backward(lambda x, w: F.conv_transpose3d(x, w, stride=2),
                                                uniform(2, 4, 3, 5, 5), uniform(4, 6, 4, 4, 4, seed=1)),
        "op:conv2d": forward_backward(lambda x, w: F.conv2d(x, w, padding=1), uniform(4, 8, 16, 16),
                                      uniform(16, 8, 3, 3, seed=1)),
        "op:linear": forward_backward(lambda x, w: F.linear(x, w), uniform(64, 96), uniform(80, 96, seed=1)),
        "op:group_norm": forward_backward(lambda x: F.group_norm(x, 4), uniform(3, 16, 9, 9)),
        "op:log_softmax": forward_backward(lambda x: F.log_softmax(x * 4, 1), uniform(32, 512)),
        "op:exact_sqrt": digest(exact_sqrt(uniform(100_000).abs() * 100)),
        "op:torch_sqrt": digest(torch.sqrt(uniform(100_000).abs() * 100)),  # vendor-dependent (docs/reproducibility.md)
        # the nearest code as the VQ-VAE finds it: matmul distances, argmin (torch.cdist's root is not
        # the same on every CPU; genvid never calls it)
        "op:vq_nearest": digest(((uniform(2048, 64) ** 2).sum(1, keepdim=True)
                                 - 2 * uniform(2048, 64) @ uniform(512, 64, seed=1).t()).argmin(1)),
    }
    # LPIPS (every run's scores) with seeded weights: its unit norm takes a root per feature position
    from genvid.metrics.lpips import LPIPS

    torch.manual_seed(0)
    lpips = LPIPS()
    with torch.no_grad():
        for p in lpips.parameters():
            p.copy_(uniform(*p.shape, seed=p.numel()) * 0.1)
        out["op:lpips"] = digest(lpips(uniform(2, 3, 64, 64, seed=3).abs(), uniform(2, 3, 64, 64, seed=4).abs()))
    lstm = torch.nn.LSTM(12, 16, batch_first=True)
    with torch.no_grad():
        for i, p in enumerate(lstm.parameters()):
            p.copy_(uniform(*p.shape, seed=10 + i) * 0.3)
    out["op:lstm"] = forward_backward(lambda x: lstm(x)[0], uniform(3, 7, 12))
    for name, make in (("adamw", AdamW), ("torch_adamw", lambda *a, **k: torch.optim.AdamW(*a, **k, foreach=False))):
        w = torch.nn.Parameter(uniform(4096))
        opt = make([w], lr=1e-2, weight_decay=0.1)
        for step in range(STEPS):
            w.grad = uniform(4096, seed=20 + step)
            opt.step()
        out[f"op:{name}"] = digest(w, opt.state[w]["exp_avg_sq"])
    return out


# Settings a case keeps as both vendors recorded it, where params.yaml has moved on since: feature flow's
# open-loop L2 (issue 48) joined the default profile after the Intel record; its term is one more MSE,
# an op every other case computes. Likewise the steered SVG-LP's ego warp (issue 48): a blend and a batched
# matrix product, ops every other case computes.
RECORDED_AS = {"feature_flow": {"open_l2_weight": 0.0},
               "svg_lp_action": {"ego_warp": False, "sampling": {"mask": "soft"}}}  # no warp: no mask to pick


def train_cases() -> dict[str, str]:
    """Every training case, its checkpoints in a scratch folder removed afterwards (a run raising included)."""
    with tempfile.TemporaryDirectory(prefix="golden-") as work:
        return _train_cases(Path(work))


def _train_cases(work: Path) -> dict[str, str]:
    from torch.utils.data import TensorDataset

    from genvid import params as P
    from genvid.models import registry
    from genvid.models.vq.pixelsnail3d import PixelSNAIL3d
    from genvid.models.vq.priors import prior_config, prior_objective
    from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig
    from genvid.profiles import apply, load_profile
    from genvid.train import TrainConfig, fit

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import TINY_AT_32

    tiny = apply(P.read_params(ROOT / "params.yaml"), load_profile("tiny", ROOT / "profiles"))
    cfg = TrainConfig.from_dict({"steps": STEPS, "batch_size": 2, "lr": 1e-3, "warmup_steps": 1, "grad_clip": 1.0,
                                 "val_every": STEPS, "log_every": 1, "ckpt_every": STEPS, "seed": 1}, "train")
    out, ops_of = {}, {}

    def trained(name: str, model: torch.nn.Module, objective, data) -> None:
        if ONLY is not None and not re.fullmatch(ONLY, f"train:{name}"):
            return
        groups = model.optimizer_groups() if hasattr(model, "optimizer_groups") else None  # a GAN's g and d
        try:
            with (OpNames() if OPS_TO else contextlib.nullcontext()) as ops:
                fit(model, objective, data, None, cfg, work / name, "golden", desc=name, optimizers=groups,
                    device=DEVICE, precision=PRECISION, channels_last=CHANNELS_LAST, compile=COMPILE)
        except Exception as e:
            if not KEEP_GOING:
                raise
            out[f"train:{name}"] = f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            return
        out[f"train:{name}"] = digest(*model.state_dict().values())
        if OPS_TO:
            ops_of[f"train:{name}"] = sorted(ops.names)

    # the pixel models at 32 x 32
    clips = (torch.randint(0, 256, (4, 8, 3, 32, 32), generator=torch.Generator().manual_seed(5)).float() / 255)
    for name in sorted(registry.MODELS):
        spec = registry.get(name)
        if spec.network is None:
            continue
        torch.manual_seed(0)
        model = spec.network({**tiny["models"][name], **TINY_AT_32.get(name, {}), **RECORDED_AS.get(name, {})}, 3, 32, 4)
        if spec.conditioning:  # a steered model: per-frame actions beside the clips
            cond = torch.randn(4, 8, 3, generator=torch.Generator().manual_seed(7))
            trained(name, model, lambda m, batch, step: m.loss(batch[0], step, batch[1]), TensorDataset(clips, cond))
        else:
            trained(name, model, lambda m, batch, step: m.loss(batch[0], step), TensorDataset(clips))

    # the Dynamics motion classifier (stage motion_classifier: its own Adam loop, not fit's)
    from genvid.metrics.motion import train as train_motion
    from genvid.params import MotionClassifierConfig

    futures = torch.randint(0, 256, (6, 8, 32, 32, 3), generator=torch.Generator().manual_seed(9)).numpy()
    if ONLY is None or re.fullmatch(ONLY, "train:motion_classifier"):
        classifier, _ = train_motion(futures.astype("uint8"), [0, 1, 2, 0, 1, 2], 3, MotionClassifierConfig(
            sequences=10, steps=STEPS, batch_size=4, lr=3e-3, width=4, seed=0))
        out["train:motion_classifier"] = digest(*classifier.state_dict().values())

    # the cascaded video GAN's two levels (greedy: level 2 on the trained level 1's samples)
    from genvid.models.cvg.family import _Objective
    from genvid.models.cvg.model import Cascade, CVGConfig, CVGLevel

    cvg_cfg = CVGConfig(**tiny["models"]["cvg"], channels=3, resolution=32, context_frames=4)
    earlier = None
    for level in range(1, cvg_cfg.levels + 1):
        torch.manual_seed(0)
        net = CVGLevel(cvg_cfg, level)
        trained(f"cvg.level{level}", net, lambda m, batch, step, o=_Objective(cvg_cfg, earlier): o(m, batch[0], step),
                TensorDataset(clips))
        earlier = Cascade([*(earlier.generators if earlier else []), net.eval().generator]).to(DEVICE)

    vq = tiny["models"]["vq"]
    torch.manual_seed(0)
    vqvae = VQVAE3D(VQVAEConfig.from_dict(vq["vqvae"]))
    trained("vq.vqvae", vqvae, lambda m, x, step: m.loss(x[0]), TensorDataset(clips.transpose(1, 2) * 2 - 1))
    # and the committed params' VQ-VAE at its real clip shape: oneDNN picks its convolutions' blocking by
    # shape (and by the CPU's caches), so tiny sizes alone could miss a kernel the default profile runs
    torch.manual_seed(0)
    full = VQVAE3D(VQVAEConfig.from_dict(P.read_params(ROOT / "params.yaml")["models"]["vq"]["vqvae"]))
    frames = torch.rand(4, 3, 16, 64, 64, generator=torch.Generator().manual_seed(8)) * 2 - 1
    trained("vq.vqvae.params_size", full, lambda m, x, step: m.loss(x[0]), TensorDataset(frames))
    top, bottom = vqvae.code_shapes(8, 32, 32)
    info = {"shapes": {"top": top, "bottom": bottom}, "codebook_size": vq["vqvae"]["codebook_size"]}
    k = info["codebook_size"]
    g = torch.Generator().manual_seed(6)
    # (top, bottom) code grids per clip, as genvid.data.latents.LatentDataset yields them
    codes = TensorDataset(torch.randint(0, k, (4, *top), generator=g), torch.randint(0, k, (4, *bottom), generator=g))
    for level in ("top", "bottom"):
        torch.manual_seed(0)
        prior = PixelSNAIL3d(prior_config(vq[f"prior_{level}"], level, info, f"prior_{level}"))
        trained(f"vq.prior_{level}", prior, prior_objective(level), codes)
    # vq_action's priors: the same codes with per-frame actions (the training split's statistics)
    info["attrs"] = {"clip_len": 8}
    steered = TensorDataset(*codes.tensors, torch.randn(4, 8, 3, generator=torch.Generator().manual_seed(7)))
    for level in ("top", "bottom"):
        torch.manual_seed(0)
        prior = PixelSNAIL3d(prior_config(vq[f"prior_{level}"], level, info, f"prior_{level}",
                                          ([0.1, 0.2, 0.0], [0.5, 0.25, 1.0])))
        trained(f"vq_action.prior_{level}", prior, prior_objective(level), steered)
    if OPS_TO:
        Path(OPS_TO).write_text(json.dumps(ops_of, indent=1, sort_keys=True))
    return out


if __name__ == "__main__":
    print(json.dumps({**({} if "--train-only" in ARGS else op_cases()), **train_cases()}, indent=1, sort_keys=True))
