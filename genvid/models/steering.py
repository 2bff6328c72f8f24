"""Per-frame actions as a pixel model's input (issues 24 and 48), shared by the steered families
(``svg_lp_action``, ``feature_flow_action``): their config's action statistics and the
standardisation of ``cond`` with them.

The statistics are the training split's (genvid.models.pixel sets ``cond_mean`` and ``cond_std``
on the config, as it sets channels and resolution); they live in the config, so the model keeps
them as non-persistent buffers and its state dict is the unsteered model's plus its weights.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from genvid.errors import GenvidError


def action_stats_problem(cfg: Any) -> str | None:
    """The config rule of ``actions``, ``cond_mean`` and ``cond_std`` (None: fine)."""
    for name in ("cond_mean", "cond_std"):
        value = getattr(cfg, name)
        if value is not None and len(value) != cfg.actions:
            return f"{name} must have {cfg.actions} values, got {len(value)}"
    if cfg.cond_std is not None and min(cfg.cond_std) <= 0:
        return f"cond_std must be > 0, got {list(cfg.cond_std)}"
    return None


def register_action_stats(module: nn.Module, cfg: Any) -> int:
    """Give ``module`` the buffers ``cond_mean`` and ``cond_std`` of a steered config; the number
    of action columns (0 for an unsteered config, which gets none)."""
    count = getattr(cfg, "actions", 0)
    if count:
        mean, std = getattr(cfg, "cond_mean", None), getattr(cfg, "cond_std", None)
        module.register_buffer("cond_mean", torch.tensor(mean or [0.0] * count), persistent=False)
        module.register_buffer("cond_std", torch.tensor(std or [1.0] * count), persistent=False)
    return count


def standardised_actions(module: nn.Module, count: int, cond: Tensor | None, frames: int, steered: str,
                         unsteered: str) -> Tensor | None:
    """The standardised per-frame actions [B, T, A] from ``cond`` [B, >=frames, A] (None for an
    unsteered model, which refuses a ``cond``); one line naming the model otherwise."""
    if not count:
        if cond is not None:
            raise GenvidError(f"{unsteered} was given cond (the action-steered model is {steered})")
        return None
    if cond is None or cond.ndim != 3 or cond.shape[1] < frames or cond.shape[2] != count:
        raise GenvidError(f"{steered} needs cond [B, T>={frames}, {count}], "
                          f"got {None if cond is None else list(cond.shape)}")
    return (cond.float() - module.cond_mean) / module.cond_std
