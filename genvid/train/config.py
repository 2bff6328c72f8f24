"""Training hyper-parameters (one block of params.yaml) and the learning-rate schedule."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from genvid.errors import ParamError

SCHEDULES = ("cosine", "constant")


@dataclass
class TrainConfig:
    """Everything the shared loop needs; a stage reads it from its params.yaml block.

    Optimiser: AdamW with Adam's default betas and eps (seed 000 §5.1: "β1 = 0.9,
    β2 = 0.999 and ε = 1e-8", weight decay decoupled from the gradient step).
    ``grad_clip`` is the max global gradient norm (the priors use 0.5, seed 000 §5.3.2).
    """

    steps: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0
    schedule: str = "cosine"  # after linear warm-up: "cosine" (to min_lr_ratio·lr) or "constant"
    min_lr_ratio: float = 0.1
    grad_clip: float | None = None
    val_every: int = 100
    val_batches: int | None = None  # None: the whole validation set
    ckpt_every: int = 50
    log_every: int = 10  # one train row per window, scalars averaged over the window
    num_workers: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        self._validate(prefix="TrainConfig", source=None)

    @classmethod
    def from_dict(cls, d: dict, prefix: str, source: str = "params.yaml") -> "TrainConfig":
        """Build from a params block; errors read ``"params.yaml: {prefix}.{key} ..."``."""
        where = f"{source}: " if source else ""
        if not isinstance(d, dict):
            raise ParamError(f"{where}{prefix} must be a mapping, got {type(d).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ParamError(f"{where}{prefix}.{unknown[0]} is not a known key "
                             f"(known: {', '.join(names)})")
        for f in dataclasses.fields(cls):
            if f.default is dataclasses.MISSING and f.name not in d:
                raise ParamError(f"{where}{prefix}.{f.name} is missing")
        cfg = object.__new__(cls)  # defaults first, then the given values, then one validation
        for f in dataclasses.fields(cls):
            setattr(cfg, f.name, d.get(f.name, f.default))
        cfg._validate(prefix=prefix, source=source)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    # -- validation (normalises types in place: ints stay ints, numbers become floats) --
    def _validate(self, prefix: str, source: str | None) -> None:
        where = f"{source}: " if source else ""

        def fail(key: str, problem: str, value: Any) -> None:
            hint = ""
            if isinstance(value, str) and _looks_numeric(value):
                hint = " (YAML reads 1e-3 as a string: write 1.0e-3)"
            raise ParamError(f"{where}{prefix}.{key} {problem}, got {value!r}{hint}")

        def integer(key: str, low: int, optional: bool = False) -> None:
            v = getattr(self, key)
            if v is None and optional:
                return
            if isinstance(v, bool) or not isinstance(v, int):
                fail(key, "must be an integer" + (" or null" if optional else ""), v)
            if v < low:
                fail(key, f"must be >= {low}", v)

        def number(key: str, low: float, strict: bool, high: float | None = None,
                   optional: bool = False) -> None:
            v = getattr(self, key)
            if v is None and optional:
                return
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                fail(key, "must be a number" + (" or null" if optional else ""), v)
            if not math.isfinite(v):
                fail(key, "must be finite", v)
            if (v <= low) if strict else (v < low):
                fail(key, f"must be {'>' if strict else '>='} {low:g}", v)
            if high is not None and v > high:
                fail(key, f"must be <= {high:g}", v)
            setattr(self, key, float(v))

        integer("steps", 1)
        integer("batch_size", 1)
        number("lr", 0.0, strict=True)
        number("weight_decay", 0.0, strict=False)
        number("eps", 0.0, strict=True)
        number("min_lr_ratio", 0.0, strict=False, high=1.0)
        number("grad_clip", 0.0, strict=True, optional=True)
        integer("warmup_steps", 0)
        if self.warmup_steps > self.steps:
            fail("warmup_steps", f"must be <= steps ({self.steps})", self.warmup_steps)
        if self.schedule not in SCHEDULES:
            fail("schedule", f"must be one of {', '.join(SCHEDULES)}", self.schedule)
        integer("val_every", 1)
        integer("val_batches", 1, optional=True)
        integer("ckpt_every", 1)
        integer("log_every", 1)
        integer("num_workers", 0)
        integer("seed", 0)
        betas = self.betas
        if (not isinstance(betas, (list, tuple)) or len(betas) != 2
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                           and 0.0 <= b < 1.0 for b in betas)):
            fail("betas", "must be two numbers in [0, 1)", betas)
        self.betas = (float(betas[0]), float(betas[1]))


def _looks_numeric(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Multiplier of ``cfg.lr`` for optimisation step ``step`` (0-based).

    Linear warm-up (step+1)/W over the first W steps, so the first update is not wasted
    at lr 0; then either constant 1, or a half cosine from 1 down to ``min_lr_ratio``
    reached exactly at the last step (steps - 1).
    """
    w = cfg.warmup_steps
    if step < w:
        return (step + 1) / w
    if cfg.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - w) / max(1, cfg.steps - w - 1))
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
