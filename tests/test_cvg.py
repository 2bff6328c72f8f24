"""Seed 004 Ch. 6's cascaded video GAN (genvid.models.cvg): the level grids and resampling by hand,
the blocks' receptive fields, the losses, greedy training with the reuse of a trained level, exact
resume of both networks and both optimisers, divergence, and the grounding measure.
(The registry's contract tests, tests/test_predictors.py, cover leak, determinism and save/load.)"""
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from genvid.errors import GenvidError
from genvid.models.cvg import family
from genvid.models.cvg.layers import ConvGRU, SeparableConv3d, area_down, disc_widths
from genvid.models.cvg.model import (Cascade, CVGConfig, CVGLevel, LevelGenerator, coarse_to_fine, hinge,
                                     level_view, multipliers)
from genvid.models.family import Fitted
from genvid.train import TrainConfig, fit


def config(**over) -> CVGConfig:
    values = dict(channels=1, resolution=16, context_frames=4, levels=2, g_width=1, d_width=2, z_dim=4,
                  embed_dim=4, frame_frames=1)
    return CVGConfig(**{**values, **over})


def ramp(t: int = 12, size: int = 16, channels: int = 1) -> torch.Tensor:
    """Clips [1, t, C, size, size] whose frame i is the constant i (its index)."""
    return torch.arange(t, dtype=torch.float32)[None, :, None, None, None].expand(1, t, channels, size, size)


def test_a_level_sees_every_f_th_frame_anchored_at_the_last_context_frame():
    context, future = level_view(ramp(16), context_frames=8, factor=2)
    assert context[0, :, 0, 0, 0].tolist() == [1, 3, 5, 7]
    assert future[0, :, 0, 0, 0].tolist() == [9, 11, 13, 15]
    context, future = level_view(ramp(15), context_frames=5, factor=2)  # SM-MNIST: 5 -> 10
    assert context[0, :, 0, 0, 0].tolist() == [0, 2, 4]
    assert future[0, :, 0, 0, 0].tolist() == [6, 8, 10, 12, 14]
    assert level_view(ramp(16), 8, 4)[1][0, :, 0, 0, 0].tolist() == [11, 15]
    assert level_view(ramp(16), 8, 2)[0].shape[-1] == 8  # downsampled by the factor
    with pytest.raises(GenvidError, match="at least 10 frames"):
        level_view(ramp(9), 8, 2)


def test_fine_frame_j_takes_the_coarse_frame_at_or_before_it():
    coarse = torch.arange(5, dtype=torch.float32)[None, :, None]  # coarse frames 0 (context) .. 4
    assert coarse_to_fine(coarse, 8)[0, :, 0].tolist() == [0, 1, 1, 2, 2, 3, 3, 4]
    with pytest.raises(GenvidError, match="need 5 coarse frames"):
        coarse_to_fine(coarse[:, :4], 8)


def test_area_downsampling_is_bilinear_at_factor_two_and_a_box_beyond():
    x = torch.rand(2, 3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    bilinear = F.interpolate(x.flatten(0, 1), scale_factor=0.5, mode="bilinear", align_corners=False)
    assert torch.allclose(area_down(x, 2).flatten(0, 1), bilinear, atol=1e-6)
    assert torch.allclose(area_down(x, 4)[0, 0, 0, 0, 0], x[0, 0, 0, :4, :4].mean())


def test_widths_follow_the_appendix_lists():
    assert multipliers(32) == [8, 8, 4, 2]  # App. 6.A, Kinetics level 1 (32x32)
    assert multipliers(64) == [8, 8, 4, 2, 1]  # BDD level 1 (64x64)
    assert disc_widths(4, 32) == [4, 8, 16, 32]
    assert disc_widths(4, 4) == [4]


def test_the_hinge_loss_by_hand():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    # relu(1 - 2) = 0, relu(1 - 0.5) = 0.5; relu(1 - 3) = 0, relu(1 + 0) = 1
    assert float(hinge(real, fake)) == pytest.approx(0.25 + 0.5)


def test_the_convgru_is_causal_in_time():
    torch.manual_seed(0)
    gru = ConvGRU(3).eval()  # eval: spectral norm stops its power iteration
    x = torch.randn(2, 5, 3, 4, 4)
    y = x.clone()
    y[:, 3:] = torch.randn(2, 2, 3, 4, 4)
    a, b = gru(x), gru(y)
    assert torch.equal(a[:, :3], b[:, :3]) and not torch.allclose(a[:, 3:], b[:, 3:])


def test_the_separable_convolution_reaches_one_frame_either_side():
    torch.manual_seed(0)
    conv = SeparableConv3d(2, 2).eval()
    x = torch.randn(1, 2, 7, 5, 5)
    y = x.clone()
    y[:, :, 3] += 1.0
    changed = (conv(x) - conv(y)).abs().amax(dim=(0, 1, 3, 4)) > 0
    assert changed.tolist() == [False, False, True, True, True, False, False]


def test_frozen_batch_norm_makes_a_clips_sample_independent_of_its_batch():
    torch.manual_seed(0)
    g = LevelGenerator(config(levels=1), 1)
    g(torch.randn(4, 4), torch.rand(4, 4, 1, 16, 16), 3)  # training mode: moves the running statistics
    g.eval()
    z, ctx = torch.randn(3, 4), torch.rand(3, 4, 1, 16, 16)
    together = g(z, ctx, 3)
    alone = g(z[:1], ctx[:1], 3)
    assert torch.allclose(together[:1], alone, atol=1e-6)


def test_only_upsampling_levels_take_a_coarse_video_and_have_a_matching_discriminator():
    cfg = config()
    one, two = CVGLevel(cfg, 1), CVGLevel(cfg, 2)
    assert one.matching_d is None and two.matching_d is not None
    assert CVGLevel(replace(cfg, matching=False), 2).matching_d is None
    with pytest.raises(GenvidError, match="takes no coarse"):
        one.generator(torch.randn(1, 4), torch.rand(1, 2, 1, 8, 8), 2, torch.rand(1, 2, 1, 4, 4))
    with pytest.raises(GenvidError, match="needs coarse"):
        two.generator(torch.randn(1, 4), torch.rand(1, 4, 1, 16, 16), 2)
    with pytest.raises(GenvidError, match="previous level"):
        two.loss(ramp(12) / 12)


def test_the_optimiser_groups_split_generator_and_discriminators_and_d_reaches_no_g_weight():
    torch.manual_seed(0)
    level = CVGLevel(config(), 2)
    groups = level.optimizer_groups()
    assert {id(p) for p in groups["g"]} | {id(p) for p in groups["d"]} == {id(p) for p in level.parameters()}
    assert not {id(p) for p in groups["g"]} & {id(p) for p in groups["d"]}
    clips = torch.rand(2, 12, 1, 16, 16) * 2 - 1
    losses, scalars = level.loss(clips, torch.rand(2, 4, 1, 8, 8) * 2 - 1)
    losses["d"].backward()
    assert all(p.grad is None for p in groups["g"])
    assert all(torch.isfinite(v) for v in losses.values()) and set(scalars) == {"d_real", "d_fake"}


def test_an_upsampling_level_trains_on_windows_of_the_coarse_video(monkeypatch):
    torch.manual_seed(0)
    seen = []
    level = CVGLevel(config(window=1), 2)
    original = level.generator.forward
    monkeypatch.setattr(level.generator, "forward", lambda z, c, frames, coarse=None: seen.append(
        (frames, coarse.shape[1])) or original(z, c, frames, coarse))
    level.loss(torch.rand(2, 12, 1, 16, 16) * 2 - 1, torch.rand(2, 4, 1, 8, 8) * 2 - 1)
    assert seen == [(2, 2)]  # 8 future frames, a crop of 2 fine frames (1 coarse frame)


def test_the_cascade_unrolls_past_its_training_length_from_the_generator_alone():
    torch.manual_seed(0)
    cfg = config()
    cascade = Cascade([LevelGenerator(cfg, 1), LevelGenerator(cfg, 2)]).eval()
    ctx = torch.rand(2, 4, 1, 16, 16)
    a = cascade.generate(ctx, 13, 2, torch.Generator().manual_seed(1))
    b = cascade.generate(ctx, 13, 2, torch.Generator().manual_seed(1))
    assert a.shape == (2, 2, 13, 1, 16, 16) and torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    levels = cascade.generate(ctx, 13, 1, torch.Generator().manual_seed(1), levels=True)
    assert [tuple(x.shape[2:4]) for x in levels] == [(7, 1), (13, 1)]  # ⌈13 / 2⌉ coarse frames at 8x8
    with pytest.raises(GenvidError, match="context must be"):
        cascade.generate(ctx[:, :3], 4, 1, torch.Generator())


def test_grounding_psnr_by_hand():
    class Stub:
        def generate(self, context, horizon, num_samples, generator, levels=False):
            coarse = torch.full((1, 1, 2, 1, 2, 2), 0.5)
            fine = torch.full((1, 1, 4, 1, 4, 4), 0.5)
            fine[:, :, 1] = 0.6  # fine frame 2 sits on coarse frame 1: error 0.1 there, 0 on coarse frame 2
            return [coarse, fine]

    (psnr,) = family.grounding_psnr(Stub(), torch.zeros(1), 4, torch.Generator())
    assert psnr == pytest.approx(10 * torch.log10(torch.tensor(1 / (0.01 / 2))).item(), rel=1e-5)


# -- training: the one loop, exact resume, divergence ----------------------------------------------

def train_config(steps=4, **over) -> TrainConfig:
    values = {"steps": steps, "batch_size": 2, "lr": 1e-3, "betas": [0.0, 0.999], "ckpt_every": 2, "val_every": 4,
              "log_every": 1, "warmup_steps": 0, "seed": 3,
              "optimizers": {"g": {"every": 2}, "d": {"lr": 2e-3}}}
    return TrainConfig.from_dict({**values, **over}, "train.cvg.level1")


def clips() -> TensorDataset:
    return TensorDataset(torch.rand(6, 12, 1, 16, 16, generator=torch.Generator().manual_seed(4)))


class _Stop(Exception):
    pass


def run(workdir, cfg: TrainConfig, stop_at=None):
    torch.manual_seed(0)
    level = CVGLevel(config(), 1)
    objective = family._Objective(level.cfg, None)

    def on_checkpoint(step):
        if step == stop_at:
            raise _Stop

    fit(level, lambda m, batch, step: objective(m, batch[0], step), clips(), None, cfg, workdir, "fp",
        on_checkpoint=on_checkpoint, optimizers=level.optimizer_groups())
    return {k: v.clone() for k, v in level.state_dict().items()}


def test_both_networks_and_both_optimisers_resume_exactly(tmp_path):
    straight = run(tmp_path / "a", train_config())
    with pytest.raises(_Stop):
        run(tmp_path / "b", train_config(), stop_at=2)
    resumed = run(tmp_path / "b", train_config())
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert any("_u" in k for k in straight)  # spectral norm's power-iteration vectors resume too


def test_a_loss_past_its_bound_stops_with_one_line_and_keeps_the_last_checkpoint(tmp_path):
    cfg = train_config(optimizers={"g": {"every": 2}, "d": {"loss_bound": 1e-3}})
    with pytest.raises(GenvidError, match=r"loss_bound.*step 1") as err:
        run(tmp_path, cfg)
    assert "\n" not in str(err.value)


# -- the family: greedy levels and the reuse of a trained level ---------------------------------------

def family_context(tmp_path, model_dir, reuse_dir=None, **over):
    for name in ("frames.h5", "split.json"):
        (tmp_path / name).write_bytes(b"x")
    params = {**dict(levels=2, g_width=1, d_width=2, z_dim=4, embed_dim=4, frame_frames=1), **over}
    run = SimpleNamespace(name="toy-cvg", benchmark="toy", model="cvg", model_params=params,
                          train_params={f"level{k}": {"steps": 2} for k in (1, 2, 3)})
    bench = SimpleNamespace(protocol=SimpleNamespace(context_frames=4), collect=SimpleNamespace(source="toy"),
                            clips=SimpleNamespace(clip_len=12, train_stride=1, eval_stride=12))
    return SimpleNamespace(run=run, bench=bench, frames=tmp_path / "frames.h5", split=tmp_path / "split.json",
                           model_dir=model_dir, device="cpu", params_path="params.yaml", reuse_dir=reuse_dir,
                           report_dir=tmp_path / "reports", workdir=tmp_path / "work")


def test_levels_train_greedily_and_a_variant_reuses_the_runs_first_level(tmp_path, monkeypatch):
    monkeypatch.setattr(family, "read_frames_info", lambda path: SimpleNamespace(channels=1, height=16, width=16))
    monkeypatch.setattr(family, "clip_set", lambda *args: clips())
    fitted = []

    def fake_fit(component):
        torch.manual_seed(len(fitted))
        net = component.build()
        if net.level > 1:  # the upsampling level's objective samples the trained first level
            component.objective(net, torch.rand(2, 12, 1, 16, 16), 0)
        fitted.append(component.name)
        return Fitted(net.eval(), [], {})

    run_dir = tmp_path / "run"
    metrics = family.train(family_context(tmp_path, run_dir), fake_fit)
    assert fitted == ["level1", "level2"] and metrics["parameters"] > 0
    fitted.clear()
    variant = family_context(tmp_path, tmp_path / "variant", reuse_dir=run_dir, matching=False, window=1)
    metrics = family.train(variant, fake_fit)
    assert fitted == ["level2"] and metrics["level1"]["reused"].endswith("level1.pt")
    assert (tmp_path / "variant" / "level1.pt").read_bytes() != b""
    a, _ = family.load_model(run_dir / "level1.pt", family.KIND)
    b, _ = family.load_model(tmp_path / "variant" / "level1.pt", family.KIND)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    fitted.clear()
    family.train(family_context(tmp_path, tmp_path / "other", reuse_dir=run_dir, z_dim=5), fake_fit)
    assert fitted == ["level1", "level2"]  # level 1 itself changed: trained again
    cascade = family.load_cascade(tmp_path / "variant")
    assert not cascade.cfg.matching and len(cascade.generators) == 2


def test_a_benchmark_key_in_the_models_section_is_refused(tmp_path):
    ctx = family_context(tmp_path, tmp_path / "m", resolution=32)
    with pytest.raises(Exception, match="models.cvg.resolution is set from the benchmark"):
        family.run_config(ctx, 1, 16)
