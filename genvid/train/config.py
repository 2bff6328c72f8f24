"""Training hyper-parameters (one block of params.yaml) and the learning-rate schedule."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from genvid.config import parse_config, rule, to_dict

SCHEDULES = ("cosine", "constant", "linear_decay")


@dataclass(frozen=True)
class OptimizerConfig:
    """One named optimiser of a component with several (a GAN's generator and discriminator):
    unset values are the component's own; ``every`` k steps it once every k-th step (a
    discriminator trained twice per generator step has every 1, the generator every 2)."""

    lr: float | None = field(default=None, metadata=rule(min=0.0, exclusive_min=True))
    betas: tuple[float, float] | None = None
    eps: float | None = field(default=None, metadata=rule(min=0.0, exclusive_min=True))
    weight_decay: float | None = field(default=None, metadata=rule(min=0.0))
    every: int = field(default=1, metadata=rule(min=1))
    # stop (one line, the last good checkpoint kept) once this optimiser's loss leaves
    # [-loss_bound, loss_bound]: a GAN's critic loss running away is divergence, not progress
    loss_bound: float | None = field(default=None, metadata=rule(min=0.0, exclusive_min=True))


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
    # linear_decay: constant, then a straight line to min_lr_ratio over the last decay_steps steps
    # (seed 001 Tables A.2/A.3: "Linear decay scheduler, final 150000 steps")
    decay_steps: int | None = field(default=None, metadata=rule(min=1))
    grad_clip: float | None = field(default=None, metadata=rule(min=0.0, exclusive_min=True))
    val_every: int = field(default=100, metadata=rule(min=1))
    val_batches: int | None = field(default=None, metadata=rule(min=1))  # None: the whole set
    ckpt_every: int = field(default=50, metadata=rule(min=1))
    log_every: int = field(default=10, metadata=rule(min=1))  # one train row per window (means)
    num_workers: int = field(default=0, metadata=rule(min=0))
    seed: int = field(default=0, metadata=rule(min=0))
    # frames per training clip where a model trains on other clips than its benchmark's clips.clip_len
    # (seed 001 Table 9.5: "trained on 10 frames and conditioned on 1"); read by the family, not the loop
    clip_len: int | None = field(default=None, metadata=rule(min=2))
    # per named optimiser (genvid.models.family.Component.optimizers); None: one optimiser
    optimizers: dict[str, OptimizerConfig] | None = None

    def validate(self) -> str | None:
        if self.warmup_steps > self.steps:
            return f"warmup_steps must be <= steps ({self.steps}), got {self.warmup_steps}"
        if (self.schedule == "linear_decay") != (self.decay_steps is not None):
            return f"decay_steps goes with schedule linear_decay (and only with it), got schedule {self.schedule}"
        if self.decay_steps is not None and self.decay_steps > self.steps - self.warmup_steps:
            return (f"decay_steps must be <= steps - warmup_steps ({self.steps - self.warmup_steps}), "
                    f"got {self.decay_steps}")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            return f"betas must be two numbers in [0, 1), got {list(self.betas)}"
        for name, opt in (self.optimizers or {}).items():
            if opt.betas is not None and not all(0.0 <= b < 1.0 for b in opt.betas):
                return f"optimizers.{name}.betas must be two numbers in [0, 1), got {list(opt.betas)}"
        return None

    def optimizer(self, name: str) -> OptimizerConfig:
        """Optimiser ``name``'s settings, the component's own where unset."""
        own = (self.optimizers or {}).get(name, OptimizerConfig())
        return OptimizerConfig(self.lr if own.lr is None else own.lr, own.betas or self.betas,
                               self.eps if own.eps is None else own.eps,
                               self.weight_decay if own.weight_decay is None else own.weight_decay, own.every,
                               own.loss_bound)

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
    lr 0 (seed 004's lr warm-up 2e-5 -> 1.6e-4 is start 0.125); then constant 1, or a half
    cosine from 1 down to ``min_lr_ratio`` reached exactly at the last step (steps - 1), or
    (linear_decay) 1 until the last D = ``decay_steps`` steps, whose factors fall in a straight
    line from 1 to ``min_lr_ratio`` at the last step: 1 - (1 - min)(k + 1)/D at the k-th of them.
    """
    w = cfg.warmup_steps
    if step < w:
        return cfg.warmup_start + (1.0 - cfg.warmup_start) * (step + 1) / w
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "linear_decay":
        k = step - (cfg.steps - cfg.decay_steps)
        return 1.0 if k < 0 else 1.0 - (1.0 - cfg.min_lr_ratio) * min(k + 1, cfg.decay_steps) / cfg.decay_steps
    progress = min(1.0, (step - w) / max(1, cfg.steps - w - 1))
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
