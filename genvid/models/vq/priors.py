"""Training and scoring the 3D PixelSNAIL priors on the latent-code dataset (seed 000 §4.3, §5.3).

The top prior models p(top codes); the bottom prior models p(bottom | top) and receives the
true top codes as its condition during training (teacher forcing, as in VQ-VAE-2).
"""
from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from genvid.data.latents import LatentDataset
from genvid.errors import ParamError
from genvid.models.vq.pixelsnail3d import PixelSNAIL3d, PixelSNAILConfig, code_cross_entropy
from genvid.models.vq.sampling import sample_fast

LEVELS = ("top", "bottom")


class PixelSNAILPrior:
    """A trained PixelSNAIL as a CodePrior (genvid.models.vq.protocols): raster-order sampling
    with the cached sampler (genvid.models.vq.sampling)."""

    def __init__(self, net: PixelSNAIL3d, device: torch.device | str = "cpu"):
        self.net = net.to(device).eval()
        self.shape, self.num_codes = tuple(net.config.shape), net.config.num_codes

    def sample(self, codes: torch.Tensor, start: int, generator: torch.Generator, temperature: float,
               top_k: int | None, cond: torch.Tensor | None = None,
               actions: torch.Tensor | None = None) -> torch.Tensor:
        return sample_fast(self.net, codes, start, generator, temperature, top_k, cond, actions)


AUTOMATIC = ("num_codes", "shape", "cond_shape", "cond_num_codes", "attention", "actions", "action_stride",
             "action_mean", "action_std")


def prior_config(section: dict, level: str, info: dict, name: str,
                 actions: tuple[list[float], list[float]] | None = None) -> PixelSNAILConfig:
    """The prior's config: params section ``name`` plus the code grid and K from the latent file;
    ``actions``, the training split's (mean, std) of the per-frame actions, for a prior that reads
    them (vq_action)."""
    for key in AUTOMATIC:
        if key in section:
            raise ParamError(f"{name}.{key} is set from the latent file and the level; remove it")
    shapes, k = info["shapes"], info["codebook_size"]
    values = dict(section, num_codes=k, shape=tuple(shapes[level]), attention=(level == "top"))
    if level == "bottom":  # seed 000 §4.3.2: no attention; conditioned on the top codes
        values.update(cond_shape=tuple(shapes["top"]), cond_num_codes=k)
    if actions is not None:
        clip_len, steps = int(info["attrs"]["clip_len"]), shapes[level][0]
        values.update(actions=len(actions[0]), action_stride=clip_len // steps, action_mean=tuple(actions[0]),
                      action_std=tuple(actions[1]))
    return PixelSNAILConfig.from_dict(values, section=name)


def split_batch(batch, level: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A latent batch's (codes, condition codes) for ``level``; (top, bottom[, actions]) batches."""
    top, bottom = batch[:2]
    return (top, None) if level == "top" else (bottom, top)


def batch_actions(batch) -> torch.Tensor | None:
    """The per-frame actions of a (top, bottom, actions) batch (genvid.data.latents.ConditionedLatents)."""
    return batch[2] if len(batch) > 2 else None


def prior_objective(level: str):
    """Training objective for the shared loop: cross-entropy in nats per code, plus accuracy."""

    def objective(model: PixelSNAIL3d, batch, step: int = 0):
        codes, cond = split_batch(batch, level)
        logits = model(codes, cond, batch_actions(batch))
        loss = code_cross_entropy(logits, codes)
        accuracy = (logits.argmax(1) == codes).float().mean()
        return loss, {"accuracy": float(accuracy), "bits_per_code": loss.item() / math.log(2)}

    return objective


@torch.no_grad()
def evaluate_prior(model: PixelSNAIL3d, dataset: LatentDataset, level: str, batch_size: int,
                   desc: str) -> dict:
    """Mean NLL (nats and bits per code) and next-code accuracy over a split (Tables 6.2/6.3)."""
    model.eval()
    device = next(model.parameters()).device
    nll, correct, count = 0.0, 0, 0
    for batch in tqdm(DataLoader(dataset, batch_size=batch_size), desc=desc, mininterval=5):
        batch = [t.to(device) for t in batch]
        codes, cond = split_batch(batch, level)
        logits = model(codes, cond, batch_actions(batch))
        nll += float(code_cross_entropy(logits, codes, reduction="sum"))
        correct += int((logits.argmax(1) == codes).sum())
        count += codes.numel()
    return {"nll_nats": nll / count, "bits_per_code": nll / count / math.log(2),
            "accuracy": correct / count, "clips": len(dataset)}


def unigram_bits(train_codes: torch.Tensor, eval_codes: torch.Tensor, num_codes: int) -> float:
    """Bits per code of ``eval_codes`` under the training-set code frequencies (add-one smoothed)."""
    counts = torch.bincount(train_codes.reshape(-1), minlength=num_codes).double() + 1.0
    log_p = (counts / counts.sum()).log()
    return float(-log_p[eval_codes.reshape(-1)].mean()) / math.log(2)
