"""Training of a pixel model (genvid.models.predictor): ``model.loss(frames, step)`` on clips in [0, 1]."""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from genvid.data.benchmark import clip_set
from genvid.determinism import seed_everything
from genvid.io import fingerprint
from genvid.models.store import save_model
from genvid.train.config import TrainConfig
from genvid.train.curves import write_curves_tsv
from genvid.train.loop import fit


def train_pixel_model(ctx, build: Callable[[], nn.Module], config: dict) -> dict[str, Any]:
    """Train on the run's training clips, validate on its validation clips, save ``model.pt``."""
    clips = ctx.bench.clips
    cfg = TrainConfig.from_dict(ctx.run.train_params, f"train.{ctx.run.model}", ctx.params_path)

    def dataset(split: str, stride: int):
        return clip_set(ctx.bench, ctx.frames, ctx.split, None, split, clips.clip_len, stride)

    train_set, val_set = dataset("train", clips.train_stride), dataset("val", clips.eval_stride)
    seed_everything(cfg.seed)  # before construction: reproducible initial weights
    model = build()
    key = fingerprint({"model": config, "clips": vars(clips), "collect": vars(ctx.bench.collect)},
                      [ctx.frames, ctx.split])
    result = fit(model, lambda m, frames, step: m.loss(frames, step), train_set, val_set, cfg,
                 ctx.workdir / "model", key, desc=f"{ctx.run.name}", device=ctx.device,
                 precision=ctx.precision)
    model.cpu().eval()
    save_model(ctx.model_dir / "model.pt", ctx.run.model, config, model)
    folder = ctx.report_dir / "curves" / "model"
    write_curves_tsv(result.curves, folder / "train.tsv", folder / "val.tsv")
    return {"parameters": sum(p.numel() for p in model.parameters()), "val": result.val}
