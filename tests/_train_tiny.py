"""A tiny training run for the kill/resume test (tests/test_train_loop.py).

    python tests/_train_tiny.py WORKDIR OUT [--step-sleep SECONDS]

Trains a small MLP with dropout on a fixed synthetic regression problem through
``genvid.train.fit``, then writes the final state_dict to OUT and the curves to
OUT.train.tsv / OUT.val.tsv. ``--step-sleep`` slows every training step so a test can
SIGKILL the process between checkpoints.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid.io import atomic_write_bytes  # noqa: E402
from genvid.train import TrainConfig, fit, write_curves_tsv  # noqa: E402

CFG = dict(steps=240, batch_size=16, lr=3e-3, weight_decay=0.01, warmup_steps=20,
           val_every=40, log_every=8, ckpt_every=10, seed=7)


def data() -> tuple[TensorDataset, TensorDataset]:
    g = torch.Generator().manual_seed(123)
    x = torch.randn(200, 8, generator=g)
    y = torch.sin(x @ torch.randn(8, 1, generator=g))
    return TensorDataset(x[:168], y[:168]), TensorDataset(x[168:], y[168:])


def model() -> nn.Module:
    torch.manual_seed(0)  # the stage's job: seed before building the model
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 1))


def run(workdir: Path, step_sleep: float = 0.0):
    """Train to the end (resuming if a checkpoint is there); return (state_dict bytes, result)."""
    def objective(net: nn.Module, batch, step: int):
        if net.training and step_sleep:
            time.sleep(step_sleep)
        x, y = batch
        out = net(x)
        return nn.functional.mse_loss(out, y), {"mae": float((out - y).detach().abs().mean())}

    net = model()
    train_set, val_set = data()
    result = fit(net, objective, train_set, val_set, TrainConfig(**CFG), workdir,
                 fingerprint="tiny-v1", desc="tiny")
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return buf.getvalue(), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workdir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--step-sleep", type=float, default=0.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    weights, result = run(args.workdir, args.step_sleep)
    atomic_write_bytes(args.out, weights)
    write_curves_tsv(result.curves, f"{args.out}.train.tsv", f"{args.out}.val.tsv")


if __name__ == "__main__":
    main()
