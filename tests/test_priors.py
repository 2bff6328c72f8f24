"""Prior training helpers (genvid/models/vq/priors.py): config from the latent file, objective, scoring, baseline.

Also home of the structured synthetic latent codes shared with test_stages_priors.py.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genvid.data.latents import LatentDataset, read_latent_info, write_latents
from genvid.data.split import SPLITS
from genvid.errors import ParamError
from genvid.models.vq.pixelsnail3d import PixelSNAIL3d
from genvid.models.vq.priors import evaluate_prior, prior_config, prior_objective, unigram_bits, split_batch

torch.set_num_threads(1)

K, CLIP_LEN = 16, 8
SHAPES = {"top": (2, 4, 4), "bottom": (4, 8, 8)}  # VQVAE3D.code_shapes(8, 32, 32)
TINY_PRIOR = {"top": dict(channels=16, res_blocks=1, snail_blocks=1, kernel_size=3, value_channels=16),
              "bottom": dict(channels=16, res_blocks=1, snail_blocks=1, kernel_size=3, cond_res_blocks=1)}


# ----------------------------------------------------------------------------- synthetic codes

def structured_codes(n, rng, noise=0.15):
    """Codes a prior can learn: top = (clip offset + 4h + w + 3t) mod K, so each code is its left
    neighbour + 1 (mod K) while the code histogram stays flat; bottom = the top grid upsampled 2x
    in every axis, so the bottom prior can read it off its condition. A fraction ``noise`` of
    each level is replaced by uniform draws."""
    t, h, w = np.meshgrid(*[np.arange(s) for s in SHAPES["top"]], indexing="ij")
    top = (rng.integers(0, K, (n, 1, 1, 1)) + 4 * h + w + 3 * t) % K
    top = np.where(rng.random(top.shape) < noise, rng.integers(0, K, top.shape), top)
    bottom = top.repeat(2, 1).repeat(2, 2).repeat(2, 3)
    bottom = np.where(rng.random(bottom.shape) < noise, rng.integers(0, K, bottom.shape), bottom)
    return top.astype(np.int16), bottom.astype(np.int16)


def write_structured_latents(path, counts, starts=None, seed=0, attrs=None):
    """A latent file of ``counts`` clips per split; ``starts[split]`` are the frame indices."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split in SPLITS:
        n = counts[split]
        start = np.asarray(starts[split] if starts else np.arange(n) * 4, dtype=np.int64)
        splits[split] = [(start, *structured_codes(n, rng))]
    write_latents(path, splits, counts, SHAPES,
                  {"codebook_size": K, "clip_len": CLIP_LEN, "stride_train": 1, "stride_val": 4,
                   "stride_test": 4, **(attrs or {})})
    return path


@pytest.fixture(scope="module")
def latents(tmp_path_factory):
    return write_structured_latents(tmp_path_factory.mktemp("priors") / "latents.h5",
                                    {"train": 12, "val": 4, "test": 7})


def build(latents, level, seed=0, **params):
    torch.manual_seed(seed)
    return PixelSNAIL3d(prior_config({**TINY_PRIOR[level], **params}, level, read_latent_info(latents),
                                     f"prior_{level}"))


# ----------------------------------------------------------------------------- prior_config

def test_prior_config_takes_grid_and_k_from_the_latent_file(latents):
    info = read_latent_info(latents)
    top = prior_config(dict(TINY_PRIOR["top"]), "top", info, "prior_top")
    assert (top.num_codes, top.shape, top.attention, top.cond_shape) == (K, SHAPES["top"], True, None)
    assert top.channels == 16 and top.value_channels == 16
    bottom = prior_config(dict(TINY_PRIOR["bottom"]), "bottom", info, "prior_bottom")
    assert (bottom.num_codes, bottom.shape, bottom.attention) == (K, SHAPES["bottom"], False)
    assert (bottom.cond_shape, bottom.cond_num_codes, bottom.cond_codes) == (SHAPES["top"], K, K)
    # Another latent file (K, grid) gives another prior, whatever the params section says.
    other = {"shapes": {"top": (1, 2, 2), "bottom": (2, 4, 4)}, "codebook_size": 8}
    bottom = prior_config(dict(TINY_PRIOR["bottom"]), "bottom", other, "prior_bottom")
    assert (bottom.num_codes, bottom.shape, bottom.cond_shape) == (8, (2, 4, 4), (1, 2, 2))


@pytest.mark.parametrize("key,value", [("shape", [2, 4, 4]), ("num_codes", 16), ("attention", False),
                                       ("cond_shape", [2, 4, 4]), ("cond_num_codes", 16)])
def test_prior_config_rejects_keys_set_from_the_latent_file(latents, key, value):
    with pytest.raises(ParamError) as err:
        prior_config({**TINY_PRIOR["top"], key: value}, "top", read_latent_info(latents), "prior_top")
    assert str(err.value) == f"prior_top.{key} is set from the latent file and the level; remove it"


def test_prior_config_rejects_unknown_and_bad_values(latents):
    info = read_latent_info(latents)
    with pytest.raises(ParamError, match=r"^prior_bottom\.chanels is not a known parameter"):
        prior_config({**TINY_PRIOR["bottom"], "chanels": 16}, "bottom", info, "prior_bottom")
    with pytest.raises(ParamError, match=r"^prior_top\.kernel_size must be odd and >= 3, got 4"):
        prior_config({**TINY_PRIOR["top"], "kernel_size": 4}, "top", info, "prior_top")


# ----------------------------------------------------------------------------- objective

@pytest.mark.parametrize("level", ["top", "bottom"])
def test_prior_objective_is_cross_entropy_with_accuracy(latents, level):
    model = build(latents, level).eval()  # eval: no dropout, so the direct forward gives the same loss
    batch = (LatentDataset(latents, "train").top[:5], LatentDataset(latents, "train").bottom[:5])
    loss, scalars = prior_objective(level)(model, batch)
    codes, cond = (batch[0], None) if level == "top" else (batch[1], batch[0])
    logits = model(codes, cond)
    assert torch.allclose(loss, F.cross_entropy(logits, codes))
    assert loss.requires_grad and loss.dim() == 0
    assert set(scalars) == {"accuracy", "bits_per_code"}
    assert 0.0 <= scalars["accuracy"] <= 1.0
    assert scalars["accuracy"] == pytest.approx(float((logits.argmax(1) == codes).float().mean()))
    assert scalars["bits_per_code"] == pytest.approx(loss.item() / math.log(2))
    # The bottom prior reads the top codes: another condition gives another loss.
    if level == "bottom":
        other, _ = prior_objective(level)(model, (batch[0].roll(1, 0), batch[1]))
        assert not torch.equal(other, loss)


def test_split_batch_gives_the_bottom_prior_the_top_as_condition():
    top, bottom = torch.zeros(2, 1), torch.ones(2, 1)
    assert split_batch((top, bottom), "top") == (top, None)
    codes, cond = split_batch((top, bottom), "bottom")
    assert codes is bottom and cond is top


# ----------------------------------------------------------------------------- evaluate_prior

@pytest.mark.parametrize("level", ["top", "bottom"])
def test_evaluate_prior_is_the_mean_cross_entropy_over_the_split(latents, level):
    model = build(latents, level)  # left in training mode: evaluate_prior must switch dropout off
    data = LatentDataset(latents, "test")  # 7 clips in batches of 3: a partial last batch
    result = evaluate_prior(model, data, level, batch_size=3, desc="test")
    assert not model.training
    with torch.no_grad():
        codes, cond = (data.top, None) if level == "top" else (data.bottom, data.top)
        logits = model(codes, cond)
        nll = F.cross_entropy(logits.double(), codes).item()
        accuracy = (logits.argmax(1) == codes).double().mean().item()
    assert set(result) == {"nll_nats", "bits_per_code", "accuracy", "clips"}
    assert result["clips"] == 7
    assert result["nll_nats"] == pytest.approx(nll, rel=1e-5)
    assert result["bits_per_code"] == pytest.approx(result["nll_nats"] / math.log(2), rel=1e-12)
    assert result["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    # An untrained prior is near the uniform code distribution: log K nats.
    assert abs(result["nll_nats"] - math.log(K)) < 0.5


# ----------------------------------------------------------------------------- unigram baseline

def test_unigram_bits_by_hand():
    # counts + 1 = [3, 2, 1] of 6: p = [1/2, 1/3, 1/6]; eval codes 0 and 2: (1 + log2 6) / 2 bits
    bits = unigram_bits(torch.tensor([0, 0, 1]), torch.tensor([0, 2]), 3)
    assert bits == pytest.approx((1 + math.log2(6)) / 2, rel=1e-12)
    # Shapes do not matter, only the codes; a code never seen in training still has finite cost.
    grid = torch.tensor([[[0, 1], [1, 1]]])
    assert unigram_bits(grid, grid, 4) == pytest.approx(-(math.log2(2 / 8) + 3 * math.log2(4 / 8)) / 4)
    assert unigram_bits(torch.zeros(10, dtype=torch.long), torch.tensor([3]), 4) == pytest.approx(math.log2(14))


def test_unigram_bits_of_uniform_codes_is_log2_k():
    codes = torch.arange(16).repeat(5)
    assert unigram_bits(codes, codes, 16) == pytest.approx(4.0, abs=1e-12)
