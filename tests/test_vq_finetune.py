"""The decoder fine-tuned on the priors' codes (genvid.models.vq.finetune; seed 000 §6.5, genvid's reading).

- the window's first generated positions, by hand;
- teacher-forced draws: the context positions are the true codes, each later position is drawn from
  the prior's distribution given the TRUE codes before it (never its own true code), top-1 is the
  argmax, the same generator gives the same draws;
- training moves the decoder only: the encoder, the codebooks (EMA buffers included) and both priors
  keep their bytes through the shared loop, and the loss on the priors' codes falls;
- resume: a run killed after a checkpoint ends with the uninterrupted run's bytes;
- the before/after scores use the same draws: before == after for an untouched decoder.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch.utils.data import TensorDataset

from genvid.models.vq.finetune import (DecoderFinetune, FinetuneConfig, evaluate, objective, teacher_forced_draw,
                                       window_starts)
from genvid.models.vq.pixelsnail3d import PixelSNAIL3d
from genvid.models.vq.priors import prior_config
from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig
from genvid.train import TrainConfig, fit

CLIP, SIZE, K = 8, 16, 8
VQ = VQVAEConfig(channels=8, res_channels=4, res_blocks=1, codebook_size=K, code_dim=4, temporal_padding="causal")
PRIOR = {"channels": 8, "res_blocks": 1, "snail_blocks": 1, "kernel_size": 3, "value_channels": 8, "dropout": 0.1}


def parts(seed: int = 0) -> tuple[VQVAE3D, PixelSNAIL3d, PixelSNAIL3d]:
    torch.manual_seed(seed)
    vqvae = VQVAE3D(VQ)
    top, bottom = vqvae.code_shapes(CLIP, SIZE, SIZE)  # (2, 1, 1), (4, 4, 4)
    info = {"shapes": {"top": top, "bottom": bottom}, "codebook_size": K, "attrs": {"clip_len": CLIP}}
    priors = [PixelSNAIL3d(prior_config(dict(PRIOR, **({"cond_res_blocks": 1} if lvl == "bottom" else {})), lvl,
                                        info, f"prior_{lvl}")) for lvl in ("top", "bottom")]
    return vqvae.eval(), priors[0].eval(), priors[1].eval()


def clips(n: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, CLIP, SIZE, SIZE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def model(seed: int = 0, weight: float = 1.0) -> DecoderFinetune:
    return DecoderFinetune(*parts(seed), CLIP, temperature=1.0, top_k=None, true_codes_weight=weight)


def state_bytes(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_the_window_generates_after_half_a_clip_of_context():
    _, top, bottom = parts()
    assert top.config.shape == (2, 2, 2) and bottom.config.shape == (4, 4, 4)
    # 4 context frames: 1 top step of 2x2 codes, 2 bottom steps of 4x4 codes
    assert window_starts(top, bottom, CLIP) == (1 * 2 * 2, 2 * 4 * 4)


def test_context_positions_stay_and_top_1_draws_are_the_argmax_given_the_true_codes():
    _, top, _ = parts()
    codes = torch.randint(0, K, (3, *top.config.shape), generator=torch.Generator().manual_seed(2))
    drawn = teacher_forced_draw(top, codes, 4, temperature=1.0, top_k=1)
    assert torch.equal(drawn.flatten(1)[:, :4], codes.flatten(1)[:, :4])
    assert torch.equal(drawn.flatten(1)[:, 4:], top(codes).flatten(2).argmax(1)[:, 4:])


def test_a_draw_never_reads_the_true_code_at_or_after_its_position():
    _, top, _ = parts()
    codes = torch.randint(0, K, (2, *top.config.shape), generator=torch.Generator().manual_seed(3))
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    base = teacher_forced_draw(top, codes, 4, 1.0, None, generator=g())
    for p in range(4, codes[0].numel()):
        moved = codes.clone()
        moved.view(2, -1)[:, p] = (moved.view(2, -1)[:, p] + 1) % K
        other = teacher_forced_draw(top, moved, 4, 1.0, None, generator=g())
        assert torch.equal(other.flatten(1)[:, 4:p + 1], base.flatten(1)[:, 4:p + 1]), p


def test_the_same_generator_gives_the_same_draws_and_another_other_draws():
    m = model()
    x = clips(4)
    a = m.codes(x, generator=torch.Generator().manual_seed(0))
    b = m.codes(x, generator=torch.Generator().manual_seed(0))
    c = m.codes(x, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[3], c[3])
    assert torch.equal(a[0], c[0]) and torch.equal(a[1], c[1])  # the true codes do not depend on the draws


def test_only_the_decoder_trains():
    m = model()
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("vqvae.decoder.", "vqvae.upsample_top.")) for n in trainable)
    assert {id(p) for p in m.decoder_parameters()} == {id(p) for p in m.parameters() if p.requires_grad}
    m.train()
    assert m.training and not any(sub.training for sub in (m.vqvae, m.prior_top, m.prior_bottom))


CFG = TrainConfig(steps=12, batch_size=4, lr=3e-3, warmup_steps=0, schedule="constant", val_every=6,
                  val_batches=1, ckpt_every=4, log_every=2, seed=3)


def fitted(workdir, steps: int = CFG.steps) -> DecoderFinetune:
    m = model()
    data = TensorDataset(clips(8))
    fit(m, lambda net, batch, step: objective(net, batch[0], step), data, TensorDataset(clips(4, seed=9)),
        TrainConfig(**{**CFG.to_dict(), "steps": steps}), workdir, "finetune-test")
    return m


def test_training_moves_the_decoder_and_nothing_else(tmp_path):
    before = model()
    after = fitted(tmp_path / "run")
    old, new = state_bytes(before), state_bytes(after)
    moved = {k for k in old if not torch.equal(old[k], new[k])}
    assert moved and all(k.startswith(("vqvae.decoder.", "vqvae.upsample_top.")) for k in moved)
    assert any(k.startswith("vqvae.decoder.") for k in moved)
    x = clips(8)  # the training clips
    lb = evaluate(before, x, seed=0)
    la = evaluate(after, x, seed=0)
    assert la["mse_prior_codes"] < lb["mse_prior_codes"]
    assert (la["changed_top"], la["changed_bottom"]) == (lb["changed_top"], lb["changed_bottom"])  # same draws


def test_a_resumed_fine_tune_ends_with_the_uninterrupted_bytes(tmp_path):
    whole = state_bytes(fitted(tmp_path / "whole"))
    fitted(tmp_path / "parts", steps=8)  # checkpoint at step 8, then "killed"
    resumed = state_bytes(fitted(tmp_path / "parts"))
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_scores_before_and_after_an_untouched_decoder_agree():
    m = model()
    x = clips(5)
    first, second = evaluate(m, x, seed=4), evaluate(copy.deepcopy(m), x, seed=4)
    assert first == second
    assert 0.0 < first["changed_bottom"] <= 1.0 and first["mse_prior_codes"] > 0


def test_weight_zero_trains_on_the_priors_codes_alone():
    m = model(weight=0.0)
    x = clips(2)
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    loss, scalars = m.loss(x, generator=g())
    assert loss.item() == pytest.approx(scalars["mse_prior_codes"], rel=1e-6)
    loss1, s1 = model(weight=1.0).loss(x, generator=g())
    assert loss1.item() == pytest.approx(s1["mse_prior_codes"] + s1["mse_true_codes"], rel=1e-6)


def test_config_rejects_unknown_keys_and_negative_weights():
    assert FinetuneConfig.from_dict({}, "models.vq.finetune") == FinetuneConfig(False, 1.0)
    with pytest.raises(Exception, match="models.vq.finetune.steps is not a known parameter"):
        FinetuneConfig.from_dict({"steps": 3}, "models.vq.finetune")
    with pytest.raises(Exception, match="true_codes_weight"):
        FinetuneConfig.from_dict({"true_codes_weight": -1.0}, "models.vq.finetune")
