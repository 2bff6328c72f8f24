"""The schema of train_metrics.json (reports/<b>/runs/<r>/), defined once, torch-free.

The writers (genvid.models.vq.family.train, genvid.models.pixel.train_pixel_model) and the readers
(the report) import these names, so a key renamed on one side cannot silently drift from the
other. Which fields a file holds says what the run can report, whatever its model is called:

    every run            run (its name: a file of another run is refused, ``check_run``),
                         parameters (an int; 0 for a model without weights, a baseline)
    VQ-VAE + priors      vqvae.{train,val,test}.{VQVAE_SPLIT_KEYS}, vqvae.bits_reduction, vqvae.code_shapes,
                         prior_<level>.{train,val,test}.{PRIOR_SPLIT_KEYS}   (has_vq)
    + decoder fine-tune  decoder.{val,test}.{before,after}.{FINETUNE_SCORES}, decoder.true_codes_weight
                         (optional: models.<vq>.finetune.enabled; genvid.models.vq.finetune)
    pixel likelihood     bits_per_dim, bits_per_dim_elbo                      (has_bits)
    latent hierarchy     test_elbo, kl_per_channel, latent_resolutions, active_channels  (has_hierarchy)
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from genvid.errors import GenvidError

SPLITS = ("train", "val", "test")
VQ_LEVELS = ("top", "bottom")
VQ_COMPONENTS = ("vqvae", "prior_top", "prior_bottom")  # also the curve folders of a VQ-family run
VQVAE_SPLIT_KEYS = ("mse_normalized", "psnr", "ssim")
VQ_FINETUNE = "decoder"  # the optional fourth component, its metrics key and curve folder
FINETUNE_SPLITS = ("val", "test")
# MSE (normalised clips) of decoding the priors' teacher-forced codes and the true codes; the share
# of generated positions whose drawn code is not the true one, per level
FINETUNE_SCORES = ("mse_prior_codes", "mse_true_codes", "changed_top", "changed_bottom")
PRIOR_SPLIT_KEYS = ("nll_nats", "bits_per_code")
# seed 004 §4.5.1 (Maaløe et al. 2019): a latent channel is active above ACTIVE_KL mean KL per
# position, maximally activated above MAX_KL (Fig. 4.4's colour scale); active_channels counts the former
ACTIVE_KL = 0.01
MAX_KL = 0.15


def lookup(data: Any, dotted: str, source: str | Path, required: bool = True) -> Any:
    """``data['a']['b']`` for ``'a.b'``; a missing required key is one line naming it."""
    node = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if required:
                raise GenvidError(f"{source}: missing key '{dotted}'")
            return None
        node = node[part]
    return node


def number(data: Any, dotted: str, source: str | Path, required: bool = True) -> float | None:
    """A finite number at ``dotted`` (None if absent and not required)."""
    value = lookup(data, dotted, source, required)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GenvidError(f"{source}: key '{dotted}' must be a finite number, got {value!r}")
    return float(value)


def check_run(data: Any, run: str, source: str | Path) -> dict:
    """A train_metrics.json that stage train wrote for ``run``: a JSON object naming it, with its
    parameter count. Another run's file (or another kind of file) is one line naming it."""
    if not isinstance(data, dict) or "parameters" not in data:
        raise GenvidError(f"{source}: not a train_metrics.json (no 'parameters'; stage train writes it)")
    if data.get("run") != run:
        raise GenvidError(f"{source}: the training metrics of run {data.get('run')!r}, not {run!r} "
                          f"(rerun train@{run})")
    count = data["parameters"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise GenvidError(f"{source}: 'parameters' must be a count, got {count!r}")
    return data


# ----------------------------------------------------------------------------- capabilities

def has_vq(data: dict) -> bool:
    """A VQ-VAE with code priors (seed 000's family): the VQ chapters apply."""
    return all(isinstance(data.get(c), dict) for c in VQ_COMPONENTS)


def has_bits(data: dict) -> bool:
    """A pixel likelihood (seed 001 Table 9.5's bits per dimension)."""
    return "bits_per_dim" in data


def has_hierarchy(data: dict) -> bool:
    """A hierarchy of latents (seed 004 Table 4.2's test ELBO, Fig. 4.4's KL per channel)."""
    return "test_elbo" in data or "kl_per_channel" in data


# ----------------------------------------------------------------------------- checks

def check_vq(data: dict, source: str | Path) -> None:
    """The VQ-VAE and prior fields, complete (genvid.models.vq.family.train)."""
    for split in SPLITS:
        for key in VQVAE_SPLIT_KEYS:
            number(data, f"vqvae.{split}.{key}", source)
        for level in VQ_LEVELS:
            for key in PRIOR_SPLIT_KEYS:
                number(data, f"prior_{level}.{split}.{key}", source)
    number(data, "vqvae.bits_reduction", source)
    for level in VQ_LEVELS:
        shape = lookup(data, f"vqvae.code_shapes.{level}", source)
        if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(v, int) for v in shape)):
            raise GenvidError(f"{source}: key 'vqvae.code_shapes.{level}' must be [T, H, W], got {shape!r}")


def check_bits(data: dict, source: str | Path) -> None:
    """Bits per dimension (genvid.models.pixel.test_bits_per_dim)."""
    number(data, "bits_per_dim", source)
    number(data, "bits_per_dim_elbo", source, required=False)


def check_hierarchy(data: dict, source: str | Path) -> None:
    """The hierarchy's fields (genvid.models.pixel.test_elbo): the test negative ELBO and its
    per-level KL, the KL per latent channel and the active channels per level."""
    for key in ("neg_elbo", "recon", "kl"):
        number(data, f"test_elbo.{key}", source)
    number(data, "train_neg_elbo", source, required=False)
    res = lookup(data, "latent_resolutions", source)
    per_channel = lookup(data, "kl_per_channel", source)
    active = lookup(data, "active_channels", source)
    levels = lookup(data, "test_elbo.kl_levels", source)
    ok = (isinstance(res, list) and res and all(isinstance(r, int) for r in res)
          and isinstance(per_channel, list) and len(per_channel) == len(res)
          and all(isinstance(c, list) and c and all(isinstance(v, (int, float)) for v in c) for c in per_channel)
          and isinstance(active, list) and len(active) == len(res) and all(isinstance(a, int) for a in active))
    if not ok:
        raise GenvidError(f"{source}: keys 'latent_resolutions', 'kl_per_channel' and 'active_channels' must hold one "
                          "entry per latent level (a list of numbers per level for 'kl_per_channel')")
    if not isinstance(levels, dict) or any(f"{r}x{r}" not in levels for r in res):
        raise GenvidError(f"{source}: key 'test_elbo.kl_levels' must hold the KL of every level "
                          f"({', '.join(f'{r}x{r}' for r in res)})")


def check_train_metrics(data: dict, source: str | Path) -> dict:
    """Every field group the file has, complete; ``parameters`` a count where present."""
    number(data, "parameters", source, required=False)
    if has_vq(data):
        check_vq(data, source)
    if has_bits(data):
        check_bits(data, source)
    if has_hierarchy(data):
        check_hierarchy(data, source)
    return data
