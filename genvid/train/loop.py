"""The one training loop: AdamW, warm-up + cosine LR, clipping, validation, exact resume.

The objective receives the step (for KL/β warm-ups, which must be pure functions of it)
and returns one loss, or one loss per optimiser: a model with several optimisers (a GAN's
generator and discriminator) passes ``optimizers={"g": g_params, "d": d_params}``, and
optimiser ``name`` steps on its own loss with the lr, betas, weight decay and update ratio of
``cfg.optimizer(name)`` (TrainConfig.optimizers, the component's own values where unset). ``device`` (cpu|cuda) and
``precision`` (fp32|bf16 autocast), ``channels_last`` and ``compile`` (genvid.device) come from params.

A stage seeds (``genvid.determinism.seed_everything``) *before* it builds the model, so
the initial weights are reproducible; ``fit`` then re-seeds with ``cfg.seed`` and owns
everything after: data order, dropout RNG, optimiser, schedule and checkpoints.

Exact resume: a checkpoint is taken at a step boundary and holds the model, optimiser,
scheduler, every global RNG state, the data position (epoch, offset), the open logging
window and the curves so far; validation runs between the same steps in every run and
restores the RNG states it found, so a run killed at any moment and rerun ends with the
same weights and curves, bit for bit, as an uninterrupted one.

Several processes (torchrun, genvid.train.distributed): when a process group is up, each rank
trains on its slice of every global batch, gradients are averaged over the ranks, rank 0 alone
writes the checkpoint (with every rank's RNG states), and a run killed at any moment and rerun
under the same number of processes again ends bit for bit where an uninterrupted one does.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import Dataset
from tqdm import tqdm

from genvid.determinism import rng_state, seed_everything, set_rng_state
from genvid.device import PRECISIONS, autocast as precision_autocast, compile_units, to_channels_last
from genvid.errors import GenvidError
from genvid.train import checkpoint
from genvid.train import distributed as D
from genvid.train.config import TrainConfig, lr_factor
from genvid.train.curves import Window
from genvid.numerics import make_adamw
from genvid.train.sampler import sharded_val_loader, train_loader, val_loader

# (model, batch, step) -> (loss to backprop, or {optimiser name: loss}; extra scalars to log);
# the batch is already on the model's device. Scalars are per-sample means (validation weights
# them by batch size).
Objective = Callable[[nn.Module, Any, int], tuple[torch.Tensor | dict[str, torch.Tensor], dict[str, float]]]

RESERVED = ("step", "split", "loss", "lr", "grad_norm")
LOSS_KEY = "\0loss:"  # prefix of the losses among the scalars averaged over ranks (no clash)


@dataclass
class TrainResult:
    step: int  # optimisation steps completed (== cfg.steps)
    curves: list[dict[str, Any]] = field(default_factory=list)
    val: dict[str, float] = field(default_factory=dict)  # last validation row's scalars
    resumed_from: int = 0  # step of the checkpoint this run continued from (0: fresh)


def fit(model: nn.Module, objective: Objective, train_set: Dataset, val_set: Dataset | None,
        cfg: TrainConfig, workdir: str | Path, fingerprint: str, desc: str = "train",
        on_checkpoint: Callable[[int], None] | None = None, device: str | torch.device = "cpu",
        precision: str = "fp32", channels_last: bool = False, compile: bool = False,
        optimizers: dict[str, list[nn.Parameter]] | None = None) -> TrainResult:
    """Train ``model`` in place for ``cfg.steps`` steps, resuming from ``workdir/checkpoint.pt``.

    ``fingerprint`` identifies config + data; a checkpoint with another fingerprint (or
    other result-changing TrainConfig values) is ignored with one line on stderr.
    ``optimizers`` maps a name to its parameters (each steps every ``cfg.optimizer(name).every``
    steps); default: one AdamW over every trainable parameter, stepping every step.
    """
    ckpt_path = Path(workdir) / checkpoint.CHECKPOINT_NAME
    rank, world = D.rank_and_world()
    if world > 1:
        D.check_divides(cfg.batch_size, world, desc)
    n_train = len(train_set)
    if n_train < cfg.batch_size:
        raise GenvidError(f"{desc}: training set has {n_train} samples, "
                          f"fewer than batch_size {cfg.batch_size}")
    if val_set is not None and len(val_set) == 0:
        raise GenvidError(f"{desc}: validation set is empty")

    if precision not in PRECISIONS:
        raise GenvidError(f"{desc}: precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    seed_everything(D.rank_seed(cfg.seed, rank))  # rank 0 (and a single process): cfg.seed itself
    device = torch.device(device)
    model.to(device)
    if channels_last:
        to_channels_last(model)
    if compile:
        compile_units(model)
    pin = device.type == "cuda"
    params_of = optimizers or {"model": [p for p in model.parameters() if p.requires_grad]}
    unknown = sorted(set(cfg.optimizers or {}) - set(params_of))
    if unknown:
        raise GenvidError(f"{desc}: optimizers.{unknown[0]} is not an optimiser of this model "
                          f"(it has: {', '.join(params_of)})")
    settings = {name: cfg.optimizer(name) for name in params_of}
    groups = {name: (list(params), settings[name].every) for name, params in params_of.items()}
    # seed 000 §5.1: Adam's defaults (betas, eps) with decoupled weight decay (AdamW); on the CPU
    # genvid's, whose square root is the same on Intel and AMD (genvid.numerics).
    opts = {name: make_adamw(params, device, lr=s.lr, betas=s.betas, eps=s.eps, weight_decay=s.weight_decay)
            for (name, (params, _)), s in zip(groups.items(), settings.values())}
    scheds = {name: LambdaLR(opt, lambda s: lr_factor(s, cfg)) for name, opt in opts.items()}
    config = checkpoint.resume_config(cfg.to_dict())
    autocast = precision_autocast(device, precision)

    step, epoch, offset, curves, window, last_good = 0, 0, 0, [], Window(), None
    if world > 1:
        state = _shared_resumable(ckpt_path, fingerprint, config, n_train, desc, rank)
    else:
        state = _resumable(ckpt_path, fingerprint, config, n_train, desc)
    if state is not None:
        _load_model(model, state, ckpt_path)
        step, curves = state["step"], state["curves"]
        if step >= cfg.steps:
            print(f"{desc}: {ckpt_path} is already at step {step}; nothing to train",
                  file=sys.stderr)
            return TrainResult(step, curves, _last_val(curves), resumed_from=step)
        for name in opts:
            opts[name].load_state_dict(state["optimizer"][name])
            scheds[name].load_state_dict(state["scheduler"][name])
        epoch, offset = state["epoch"], state["offset"]
        window = Window(state["window"]["count"], state["window"]["sums"])
        _restore_rng(state, rank, world, cfg.seed, desc)
        last_good = step
        if rank == 0:
            print(f"{desc}: resuming from {ckpt_path} at step {step}", file=sys.stderr)
    resumed_from = step
    if world > 1:
        D.broadcast_state(model, parameters=True)  # one starting point, whatever each rank built

    def save_checkpoint() -> None:
        rng, ranks = rng_state(), {}
        if world > 1:
            gathered = D.gather((rng, D.state_digest(model)))
            differ = [r for r, (_, digest) in enumerate(gathered) if digest != gathered[0][1]]
            if differ:
                raise GenvidError(f"{desc}: the model of process {differ[0]} differs from process 0's at step "
                                  f"{step} (something changed parameters outside the averaged gradients); "
                                  f"last good checkpoint step {last_good}")
            ranks = {"world_size": world, "rng_ranks": [r for r, _ in gathered]}
        if rank != 0:
            return
        checkpoint.save(ckpt_path, {
            "format": checkpoint.CHECKPOINT_FORMAT, "fingerprint": fingerprint,
            "config": config, "n_train": n_train, "step": step, "epoch": epoch,
            "offset": offset, "model": model.state_dict(),
            "optimizer": {name: opt.state_dict() for name, opt in opts.items()},
            "scheduler": {name: sched.state_dict() for name, sched in scheds.items()},
            "rng": rng, "window": window.state(),
            "curves": curves, **ranks})

    def kept() -> str:
        return (f"last good checkpoint kept at {ckpt_path} (step {last_good})"
                if last_good is not None else "no checkpoint written yet")

    def non_finite(what: str, value: float, at: int) -> GenvidError:
        return GenvidError(f"{desc}: non-finite {what} ({value}) at step {at}; {kept()}")

    def diverged(name: str, value: float, bound: float, at: int) -> GenvidError:
        label = f"loss {name}" if name else "loss"
        return GenvidError(f"{desc}: diverged: {label} {value:.6g} is past its bound ±{bound:g} "
                           f"(optimizers.{name or 'model'}.loss_bound) at step {at}; {kept()}")

    model.train()
    batches_per_epoch = n_train // cfg.batch_size
    pbar = tqdm(total=cfg.steps, initial=step, desc=desc, unit="step", file=sys.stderr,
                mininterval=0.5 if sys.stderr.isatty() else 30.0, dynamic_ncols=True, disable=rank > 0)
    tick, tick_step = time.perf_counter(), step
    try:
        while step < cfg.steps:
            for batch in train_loader(train_set, cfg.batch_size, cfg.seed, epoch, offset,
                                      cfg.num_workers, pin, rank, world):
                lr = next(iter(opts.values())).param_groups[0]["lr"]
                with autocast:
                    losses, scalars = objective(model, _to_device(batch, device, pin), step)
                losses = losses if isinstance(losses, dict) else {"model": losses}
                values = _scalars(scalars)
                shared = None  # one process: each loss is read where it is used, as ever
                if world > 1:  # means over ranks, so every rank logs (and stops on) the same numbers
                    shared = D.mean_over_ranks({**values, **{LOSS_KEY + n: float(losses[n].detach())
                                                             for n in groups}}, world, device)
                    values = {k: v for k, v in shared.items() if not k.startswith(LOSS_KEY)}
                for name, (params, every) in groups.items():
                    loss_value = shared[LOSS_KEY + name] if shared else float(losses[name].detach())
                    if not math.isfinite(loss_value):
                        raise non_finite("loss" if len(groups) == 1 else f"loss {name}", loss_value, step + 1)
                    bound = settings[name].loss_bound
                    if bound is not None and abs(loss_value) > bound:
                        raise diverged(name if len(groups) > 1 else "", loss_value, bound, step + 1)
                    values["loss" if name == next(iter(groups)) else f"loss_{name}"] = loss_value
                    if step % every:
                        continue
                    opts[name].zero_grad(set_to_none=True)
                    losses[name].backward(retain_graph=name != list(groups)[-1])
                    if world > 1:
                        D.average_gradients(params, world)
                    if cfg.grad_clip is not None:
                        # seed 000 §5.3.2: gradients with a global norm above grad_clip are
                        # scaled down to it; the pre-clip norm is logged to see the spikes.
                        norm = float(nn.utils.clip_grad_norm_(params, cfg.grad_clip))
                        if not math.isfinite(norm):
                            raise non_finite("gradient norm", norm, step + 1)
                        values["grad_norm" if len(groups) == 1 else f"grad_norm_{name}"] = norm
                    opts[name].step()
                for sched in scheds.values():
                    sched.step()
                if world > 1:  # rank 0's buffers (and, after the first step, parameters) everywhere
                    D.broadcast_state(model, parameters=step == resumed_from)

                step += 1
                offset += cfg.batch_size
                if offset == batches_per_epoch * cfg.batch_size:
                    epoch, offset = epoch + 1, 0  # this loader is exhausted too
                window.add(values)
                pbar.update(1)
                if step % cfg.log_every == 0 or step == cfg.steps:
                    means = window.means()
                    curves.append({"step": step, "split": "train", **means, "lr": lr})
                    window = Window()
                    now = time.perf_counter()
                    rate = (step - tick_step) * cfg.batch_size / max(now - tick, 1e-9)
                    pbar.set_postfix(loss=f"{means['loss']:.4g}", samples_s=f"{rate:.1f}",
                                     refresh=False)
                    tick, tick_step = now, step
                if val_set is not None and (step % cfg.val_every == 0 or step == cfg.steps):
                    row = validate(model, objective, val_set, cfg, device, step)
                    bad = [k for k, v in row.items() if not math.isfinite(v)]
                    if bad:
                        raise non_finite(f"validation {bad[0]}", row[bad[0]], step)
                    curves.append({"step": step, "split": "val", **row})
                    if rank == 0:
                        tqdm.write(f"{desc}: step {step} val loss {row['loss']:.5g}", file=sys.stderr)
                if step % cfg.ckpt_every == 0 or step == cfg.steps:
                    save_checkpoint()
                    last_good = step
                    if on_checkpoint is not None:
                        on_checkpoint(step)
                if step == cfg.steps:
                    break
    finally:
        pbar.close()
    return TrainResult(step, curves, _last_val(curves), resumed_from=resumed_from)


def validate(model: nn.Module, objective: Objective, val_set: Dataset, cfg: TrainConfig,
             device: torch.device | None = None, step: int = 0) -> dict[str, float]:
    """Per-sample mean of loss and scalars over the validation set (first ``val_batches``).

    Runs in eval mode under no_grad, restores each module's train/eval flag afterwards,
    and leaves every global RNG exactly as it found it, so validation never changes the
    course of training. Under several processes the batches are dealt out round-robin and the
    per-sample sums added up in rank order: every rank returns the same row.
    """
    rank, world = D.rank_and_world()
    device = device or _device(model)
    saved_rng = rng_state()
    modes = [(m, m.training) for m in model.modules()]
    totals: dict[str, float] = {}
    count = 0
    model.eval()
    try:
        with torch.no_grad():
            if world > 1:
                loader = sharded_val_loader(val_set, cfg.batch_size, cfg.seed, cfg.num_workers, rank, world,
                                            cfg.val_batches, device.type == "cuda")
            else:
                loader = val_loader(val_set, cfg.batch_size, cfg.seed, cfg.num_workers,
                                    device.type == "cuda")
            for i, batch in enumerate(loader):
                if world == 1 and cfg.val_batches is not None and i >= cfg.val_batches:
                    break
                n = _batch_len(batch)
                losses, scalars = objective(model, _to_device(batch, device, False), step)
                loss = next(iter(losses.values())) if isinstance(losses, dict) else losses
                for name, value in {"loss": float(loss), **_scalars(scalars)}.items():
                    totals[name] = totals.get(name, 0.0) + value * n
                count += n
    finally:
        for m, training in modes:
            m.training = training
        set_rng_state(saved_rng)
    if world > 1:
        totals, count = _add_up(D.gather((totals, count)))
    return {name: total / count for name, total in totals.items()}


def _add_up(parts: list[tuple[dict[str, float], int]]) -> tuple[dict[str, float], int]:
    totals: dict[str, float] = {}
    for part, _ in parts:
        for name, value in part.items():
            totals[name] = totals.get(name, 0.0) + value
    return totals, sum(n for _, n in parts)


def _shared_resumable(path: Path, fingerprint: str, config: dict, n_train: int, desc: str,
                      rank: int) -> dict | None:
    """Rank 0 decides whether ``path`` resumes (and says why not); every rank then loads it."""
    fingerprints = D.gather(fingerprint)
    if len(set(fingerprints)) > 1:
        raise GenvidError(f"{desc}: the training processes disagree on the config/data fingerprint "
                          f"({', '.join(f[:12] for f in fingerprints)}): their inputs differ")
    state = _resumable(path, fingerprint, config, n_train, desc) if rank == 0 else None
    found = D.broadcast_object(None if state is None else state["step"])
    if found is not None and rank != 0:
        # Safe to read: rank 0 writes the next checkpoint only after a step, which needs this rank.
        state = checkpoint.load(path)
        if state["step"] != found:
            raise GenvidError(f"{path}: process {rank} read step {state['step']}, process 0 step {found}")
    return state


def _restore_rng(state: dict, rank: int, world: int, seed: int, desc: str) -> None:
    """This rank's RNG states from the checkpoint; a rank the checkpoint did not have (it was written
    by fewer processes) starts a stream derived from (seed, rank, step)."""
    saved = state.get("rng_ranks") or [state["rng"]]
    if state.get("world_size", 1) != world and rank == 0:
        print(f"{desc}: checkpoint written by {state.get('world_size', 1)} process(es), resuming under {world}: "
              "the run goes on, but not bit for bit as under the same count", file=sys.stderr)
    if rank < len(saved):
        set_rng_state(saved[rank])
    else:
        seed_everything(D.rank_seed(seed, rank, state["step"]))


def _resumable(path: Path, fingerprint: str, config: dict, n_train: int, desc: str) -> dict | None:
    if not path.exists():
        return None
    state = checkpoint.load(path)
    why = checkpoint.mismatch(state, fingerprint, config, n_train)
    if why is not None:
        print(f"{desc}: ignoring {path} from another config or data ({why}); starting fresh",
              file=sys.stderr)
        return None
    return state


def _load_model(model: nn.Module, state: dict, path: Path) -> None:
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise GenvidError(f"{path}: checkpoint does not fit the model ({first})") from None


def _last_val(curves: list[dict]) -> dict[str, float]:
    rows = [r for r in curves if r["split"] == "val"]
    return {k: v for k, v in rows[-1].items() if k not in ("step", "split")} if rows else {}


def _scalars(scalars: dict[str, Any]) -> dict[str, float]:
    clash = [k for k in scalars if k in RESERVED]
    if clash:
        raise ValueError(f"objective scalar names {clash} are reserved ({', '.join(RESERVED)})")
    return {k: float(v) for k, v in scalars.items()}


def _device(model: nn.Module) -> torch.device:
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def _to_device(batch: Any, device: torch.device, non_blocking: bool) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(_to_device(b, device, non_blocking) for b in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device, non_blocking) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device, non_blocking) for k, v in batch.items()}
    return batch


def _batch_len(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_len(batch[0])
    return 1
