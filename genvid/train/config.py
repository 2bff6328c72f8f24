"""Training hyper-parameters (one block of params.yaml) and the learning-rate schedule."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from genvid.config import parse_config, rule, to_dict

SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """Everything the shared loop needs; a stage reads it from its params.yaml block.

    Optimiser: AdamW with Adam's default betas and eps (seed 000 §5.1: "β1 = 0.9,
    β2 = 0.999 and ε = 1e-8", weight decay decoupled from the gradient step).
    ``grad_clip`` is the max global gradient norm (the priors use 0.5, seed 000 §5.3.2).
    """

    steps: int = field(metadata=rule(min=1))
    batch_size: int = field(metadata=rule(min=1))
    lr: float = field(metadata=rule(min=0.0, exclusive_min=True))
    weight_decay: float = field(default=0.0, metadata=rule(min=0.0))
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = field(default=1e-8, metadata=rule(min=0.0, exclusive_min=True))
    warmup_steps: int = field(default=0, metadata=rule(min=0))
    warmup_start: float = field(default=0.0, metadata=rule(min=0.0, max=1.0))  # lr factor before step 0
    schedule: str = field(default="cosine", metadata=rule(choices=SCHEDULES))
    min_lr_ratio: float = field(default=0.1, metadata=rule(min=0.0, max=1.0))
    grad_clip: float | None = field(default=None, metadata=rule(min=0.0, exclusive_min=True))
    val_every: int = field(default=100, metadata=rule(min=1))
    val_batches: int | None = field(default=None, metadata=rule(min=1))  # None: the whole set
    ckpt_every: int = field(default=50, metadata=rule(min=1))
    log_every: int = field(default=10, metadata=rule(min=1))  # one train row per window (means)
    num_workers: int = field(default=0, metadata=rule(min=0))
    seed: int = field(default=0, metadata=rule(min=0))

    def validate(self) -> str | None:
        if self.warmup_steps > self.steps:
            return f"warmup_steps must be <= steps ({self.steps}), got {self.warmup_steps}"
        if not all(0.0 <= b < 1.0 for b in self.betas):
            return f"betas must be two numbers in [0, 1), got {list(self.betas)}"
        return None

    @classmethod
    def from_dict(cls, d: dict, prefix: str, source: str | None = "params.yaml") -> "TrainConfig":
        """Build from a params block; errors read ``"params.yaml: {prefix}.{key} ..."``."""
        return parse_config(cls, d, prefix, source)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Multiplier of ``cfg.lr`` for optimisation step ``step`` (0-based).

    Linear warm-up over the first W steps, from ``warmup_start`` (excluded) to 1: the
    factor at step s is start + (1 - start)(s+1)/W, so the first update is not wasted at
    lr 0 (seed 004's lr warm-up 2e-5 -> 1.6e-4 is start 0.125); then either constant 1, or
    a half cosine from 1 down to ``min_lr_ratio`` reached exactly at the last step (steps - 1).
    """
    w = cfg.warmup_steps
    if step < w:
        return cfg.warmup_start + (1.0 - cfg.warmup_start) * (step + 1) / w
    if cfg.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - w) / max(1, cfg.steps - w - 1))
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
