"""genvid's context warp (genvid.models.feature_flow.warp, issue 48): its inputs, its warp's direction, copying when
untrained, its loss by hand; in feature flow, the horizon's copies are its frames and read the context alone; in the
family, it trains first and stays frozen while the GAN trains."""
import numpy as np
import pytest
import torch

from genvid.errors import GenvidError
from genvid.models.feature_flow import warp as W
from genvid.models.feature_flow.model import FeatureFlow, FeatureFlowConfig

SIZES = dict(channels=1, resolution=32, context_frames=3, width=4, fixel_channels=8, flow_channels=8, z_dim=4,
             flow_scale=4, kappa=3, disc_width=4)


def model(**over) -> FeatureFlow:
    torch.manual_seed(0)
    return FeatureFlow(FeatureFlowConfig(**{**SIZES, "context_warp": True, "warp_frames": 2, "warp_width": 4,
                                            **over}))


def shift_columns(warp: W.ContextWarp, pixels: float) -> None:
    """Every displacement field of ``warp``: ``pixels`` to the right, none down (the head's bias alone)."""
    unit = float(np.arctanh(pixels / W.MAX_SHIFT)) * W.SOFTNESS / warp.stack.scale  # at the pooled scale
    with torch.no_grad():
        warp.stack.head.bias.copy_(torch.tensor([unit, 0.0] * warp.frames))


def test_differences_are_newest_first_with_zeros_where_there_are_too_few():
    frames = [torch.full((1, 1, 2, 2), float(v)) for v in (1, 4, 9)]
    out = W.differences(frames, 3)
    assert [float(d[0, 0, 0, 0]) for d in out] == [5.0, 3.0, 0.0]  # 9 - 4, 4 - 1, none before the first


def test_the_stack_reads_the_last_frame_and_every_context_difference():
    warp = W.ContextWarp(3, 4, 2, 4, 2)
    assert warp.stack.body[0].in_channels == 3 * 4 and warp.stack.head.out_channels == 2 * 2


def test_an_untrained_warp_copies_the_last_context_frame_and_its_loss_is_copy_lasts():
    torch.manual_seed(0)
    warp, clips = W.ContextWarp(3, 4, 3, 4, 2), torch.rand(2, 7, 3, 16, 16)
    out = warp(clips[:, :4], 5)
    assert out.shape == (2, 3, 3, 16, 16)  # min(horizon, frames)
    assert torch.equal(out, clips[:, 3:4].expand(-1, 3, -1, -1, -1))
    loss, scalars = warp.loss(clips)
    by_hand = float(((clips[:, 3:4] - clips[:, 4:7]) ** 2).mean())
    assert float(loss.detach()) == pytest.approx(by_hand, rel=1e-6) and scalars["copy_last_mse"] == pytest.approx(by_hand)


def test_a_displacement_of_one_pixel_reads_the_frame_one_column_to_the_right():
    context = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(1, 2, 3, 8, 8)
    warp = W.ContextWarp(3, 2, 1, 2, 2)
    shift_columns(warp, 1.0)
    out = warp(context, 1)[0, 0]
    last = context[0, -1]
    assert torch.allclose(out[:, :, :-1], last[:, :, 1:], atol=1e-3)  # output (i, j) = frame (i, j + 1)
    assert torch.allclose(out[:, :, -1], last[:, :, -1], atol=1e-3)  # past the edge: the border pixel


def test_acceleration_motion_draws_each_future_displacement_from_one_velocity_and_acceleration_by_hand():
    """D_k = cap((k + 1) v + (k + 1)² a / 2): v and a the head's two fields; with the head's bias alone, every pixel's."""
    warp = W.ContextWarp(1, 2, 3, 2, 1, "acceleration")
    assert warp.stack.head.out_channels == 4
    with torch.no_grad():
        warp.stack.head.bias.copy_(torch.tensor([0.5, -0.25, 0.1, 0.2]))  # vx, vy, ax, ay
    shifts = warp.displacements(torch.rand(1, 2, 1, 8, 8))
    for k in range(3):
        t = k + 1
        expect = [W.MAX_SHIFT * np.tanh((t * v + t * t / 2 * a) / W.SOFTNESS) for v, a in ((0.5, 0.1), (-0.25, 0.2))]
        assert torch.allclose(shifts[0, k, :, 3, 3], torch.tensor(expect, dtype=torch.float32), atol=1e-5)
    with pytest.raises(GenvidError, match="the context warp's motion must be one of free, acceleration, layered, got 'jerk'"):
        W.ContextWarp(1, 2, 3, 2, 1, "jerk")


def layered(frames: int, moves: tuple[float, float, float], matte_bias: float = 20.0,
            fine: tuple[float, float] | None = None, matte_weight: float = 0.0) -> W.ContextWarp:
    """A layered warp of one channel, two context frames and ``frames`` futures whose object layer moves by ``moves``
    (t_x, t_y in pixels, θ in radians) at every future frame, its matte σ(``matte_bias``) everywhere, or with ``fine``
    = (w, b), σ(w · x_c + b) per pixel; the lower layer's fields are zero (in place)."""
    warp = W.ContextWarp(1, 2, frames, 2, 1, "layered", matte_weight=matte_weight)
    tx, ty, turn = moves
    raw = [float(np.arctanh(v / W.MAX_SHIFT)) * W.SOFTNESS for v in (tx, ty)]
    raw.append(float(np.arctanh(turn / W.MAX_TURN)) * W.SOFTNESS)
    first, last = warp.matte[0], warp.matte[-1]
    with torch.no_grad():
        warp.stack.head.bias.copy_(torch.tensor([0.0, 0.0] * frames + raw * frames + [matte_bias]))
        for conv in (first, last):
            conv.weight.zero_()
            conv.bias.zero_()
        if fine is not None:  # the first convolution's channel 0 is x_c (≥ 0, through the LeakyReLU unchanged)
            first.weight[0, 0, 1, 1] = 1.0
            last.weight[0, 0, 1, 1] = fine[0]
            last.bias.fill_(fine[1])
    return warp


def test_an_untrained_layered_warp_copies_the_last_context_frame():
    torch.manual_seed(0)
    warp, clips = W.ContextWarp(3, 4, 3, 4, 2, "layered"), torch.rand(2, 6, 3, 16, 16)
    assert warp.stack.head.out_channels == 5 * 3 + 1  # fields, (t_x, t_y, θ) per future frame, the matte
    assert torch.allclose(warp(clips[:, :4], 3), clips[:, 3:4].expand(-1, 3, -1, -1, -1), atol=1e-6)


def test_the_layered_object_moves_whole_by_its_translation_over_the_lower_layer():
    """A bright 3×3 square on a dark frame, the matte the square's: it lands 3 columns right and 1 row down, whole;
    elsewhere the lower layer (in place here) shows."""
    context = torch.full((1, 2, 1, 12, 12), 0.2)
    context[0, 1, 0, 4:7, 2:5] = 0.9
    out = layered(1, (3.0, 1.0, 0.0), 0.0, (60.0, -33.0))(context, 1)[0, 0, 0]
    assert torch.allclose(out[5:8, 5:8], torch.full((3, 3), 0.9), atol=1e-4)
    assert torch.allclose(out[4:7, 2:5], context[0, 1, 0, 4:7, 2:5], atol=1e-4)  # the lower layer, in place
    rest = torch.ones(12, 12, dtype=torch.bool)
    rest[5:8, 5:8] = rest[4:7, 2:5] = False
    assert torch.allclose(out[rest], torch.full_like(out[rest], 0.2), atol=1e-4)


def test_a_hard_matte_moves_the_whole_object_opaque_and_leaves_the_rest_to_the_lower_layer_by_hand():
    """``hard_matte`` (``sampling.matte: hard``): the matte σ(w · x_c + b) is 0.7 on a 3×3 square and 0.3 elsewhere;
    made 0 or 1, the square lands 3 columns right and 1 row down at its own value, and the lower layer (in place)
    shows where it was. The soft matte blends both: the moved square with the lower layer's background, 0.7 · 0.9 +
    0.3 · 0.2, and where it was, the moved background over the lower layer's square, 0.3 · 0.2 + 0.7 · 0.9: two
    faint squares. Elsewhere both show the background."""
    context = torch.full((1, 2, 1, 12, 12), 0.2)
    context[0, 1, 0, 4:7, 2:5] = 0.9
    w = 2 * float(np.log(0.7 / 0.3)) / 0.7
    warp = layered(1, (3.0, 1.0, 0.0), 0.0, (w, -float(np.log(0.7 / 0.3)) - 0.2 * w))
    hard, soft = warp(context, 1, hard_matte=True)[0, 0, 0], warp(context, 1)[0, 0, 0]
    assert torch.allclose(hard[5:8, 5:8], torch.full((3, 3), 0.9), atol=1e-5)
    assert torch.allclose(soft[5:8, 5:8], torch.full((3, 3), 0.7 * 0.9 + 0.3 * 0.2), atol=1e-4)
    rest = torch.ones(12, 12, dtype=torch.bool)
    rest[5:8, 5:8] = rest[4:7, 2:5] = False
    assert torch.allclose(hard[4:7, 2:5], torch.full((3, 3), 0.9), atol=1e-5)
    assert torch.allclose(soft[4:7, 2:5], torch.full((3, 3), 0.7 * 0.9 + 0.3 * 0.2), atol=1e-4)
    for out in (hard, soft):
        assert torch.allclose(out[rest], torch.full_like(out[rest], 0.2), atol=1e-5)
    with pytest.raises(GenvidError, match="a hard matte needs the layered motion, not 'free': it has no matte"):
        W.ContextWarp(1, 2, 1, 2, 1)(context, 1, hard_matte=True)


def test_the_layered_object_turns_about_its_mattes_centroid_by_hand():
    """Matte 1 everywhere, so the centroid is the frame's centre; a turn of π/2 is a quarter turn of the frame,
    output (i, j) reading (W - 1 - j, i), torch.rot90's clockwise one."""
    frame = torch.rand(1, 2, 1, 9, 9)
    out = layered(2, (0.0, 0.0, np.pi / 2))(frame, 2)[0]
    expect = torch.rot90(frame[0, 1], -1, dims=(1, 2))
    assert torch.allclose(out[0], expect, atol=1e-5) and torch.allclose(out[1], expect, atol=1e-5)


def test_the_absolute_loss_is_the_mean_absolute_error_by_hand_and_an_unknown_loss_is_refused():
    torch.manual_seed(0)
    warp, clips = W.ContextWarp(3, 4, 3, 4, 2, loss="absolute"), torch.rand(2, 7, 3, 16, 16)
    loss, scalars = warp.loss(clips)  # untrained: the copies are the last context frame
    assert float(loss.detach()) == pytest.approx(float((clips[:, 3:4] - clips[:, 4:7]).abs().mean()), rel=1e-6)
    assert scalars["mse"] == pytest.approx(float(((clips[:, 3:4] - clips[:, 4:7]) ** 2).mean()), rel=1e-6)
    with pytest.raises(GenvidError, match="the context warp's loss must be one of squared, absolute, got 'huber'"):
        W.ContextWarp(3, 4, 3, 4, 2, loss="huber")
    with pytest.raises(GenvidError, match=r"pyramid \(levels 2\) sums squared errors: it has no absolute loss"):
        W.ContextWarp(3, 4, 3, 4, 2, levels=2, loss="absolute")  # refused, not silently squared or single-level


def test_the_matte_weight_adds_the_mattes_mean_to_the_loss_and_its_gradient_shrinks_the_matte_by_hand():
    """Layers standing still over a lower layer in place: the copies are the last context frame whatever α is, so
    the squared error has no gradient in α, and the loss's gradient in the matte's logit b (α = σ(b) everywhere) is
    λ σ(b) (1 − σ(b)); the loss is the squared error plus λ σ(b)."""
    clips = torch.rand(2, 4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    lam, b = 0.3, 0.5
    warp = layered(2, (0.0, 0.0, 0.0), b, matte_weight=lam)
    loss, scalars = warp.loss(clips)
    sigma = 1 / (1 + np.exp(-b))
    mse = float(((clips[:, 1:2] - clips[:, 2:4]) ** 2).mean())
    assert scalars["mse"] == pytest.approx(mse, rel=1e-6) and scalars["matte_area"] == pytest.approx(sigma, rel=1e-6)
    assert float(loss.detach()) == pytest.approx(mse + lam * sigma, rel=1e-6)
    loss.backward()
    assert float(warp.stack.head.bias.grad[-1]) == pytest.approx(lam * sigma * (1 - sigma), rel=1e-5)
    assert "matte_area" not in layered(2, (0.0, 0.0, 0.0), b).loss(clips)[1]  # λ = 0: the squared error alone


def test_a_matte_weight_is_refused_where_there_is_no_matte_or_it_is_negative():
    with pytest.raises(GenvidError, match=r"matte weight must be >= 0, and 0 but for the layered motion .* got 0.1 "
                                          r"with 'free'"):
        W.ContextWarp(1, 2, 1, 2, 1, matte_weight=0.1)
    with pytest.raises(GenvidError, match=r"matte weight must be >= 0.* got -0.1 with 'layered'"):
        W.ContextWarp(1, 2, 1, 2, 1, "layered", matte_weight=-0.1)


def test_the_loss_refuses_clips_without_a_future():
    with pytest.raises(GenvidError, match=r"clips \[B, T > 4, C, H, W\], got \[2, 4, 3, 16, 16\]"):
        W.ContextWarp(3, 4, 3, 4, 2).loss(torch.rand(2, 4, 3, 16, 16))


def test_feature_flow_copies_the_warped_context_in_the_horizon_then_in_place():
    """Mask pushed to copy: the two warped frames (one column to the right), then frame t-1 where it was."""
    net = model().eval()
    shift_columns(net.warp, 1.0)
    with torch.no_grad():
        net.generator.d2[-1].bias[1] = 30.0
    context = torch.rand(2, 3, 1, 32, 32)
    out = net.generate(context, 3, 1, torch.Generator().manual_seed(0))[:, 0]
    last = context[:, -1]
    for k in (0, 1):
        assert torch.allclose(out[:, k, :, :, :-1], last[:, :, :, 1:], atol=1e-4)
    assert torch.allclose(out[:, 2], out[:, 1], atol=1e-5)  # past warp_frames: the thesis's copy in place


class _Drawn(torch.nn.Module):
    """D² replaced: a fixed frame (sigmoid of ``frame``) and a fixed copy-mask logit map, whatever it reads."""

    def __init__(self, frame: torch.Tensor, logit: torch.Tensor):
        super().__init__()
        self.out = torch.cat([frame, logit], dim=0)[None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out.expand(x.shape[0], -1, -1, -1)


def test_predicting_with_a_hard_mask_picks_the_warps_copy_or_d2s_frame_per_pixel_and_leaves_training_as_it_was():
    """``sampling.mask: hard``: each horizon pixel is the warp's copy where the copy mask is above one half, else
    D²'s frame, by hand, frame after frame; the loss (the soft blend) is the same under either option."""
    from genvid.models.feature_flow.model import FeatureFlowSampling

    g = torch.Generator().manual_seed(4)
    frame, logit = torch.randn(1, 32, 32, generator=g), 3 * torch.randn(1, 32, 32, generator=g)
    context, clips = torch.rand(2, 3, 1, 32, 32, generator=g), torch.rand(2, 5, 1, 32, 32, generator=g)
    losses = {}
    for mask in ("soft", "hard"):
        net = model()
        shift_columns(net.warp, 1.0)
        net.generator.d2 = _Drawn(frame, logit)
        net.configure_sampling(FeatureFlowSampling(mask=mask))
        torch.manual_seed(0)
        losses[mask] = net.loss(clips, 0)[0]["g"]
        net.eval()
        out = net.generate(context, 3, 1, torch.Generator().manual_seed(0))[:, 0]
        copies = net.warped(context, 3, 5)
        m = (torch.sigmoid(logit) > 0.5).float() if mask == "hard" else torch.sigmoid(logit)
        previous = None
        for k in range(3):
            copy = copies[:, k] if k < 2 else previous  # past warp_frames: the previous frame in place
            previous = m * copy + (1 - m) * torch.sigmoid(frame)
            assert torch.allclose(out[:, k], previous, atol=1e-6), (mask, k)
    assert torch.equal(losses["soft"], losses["hard"])
    assert 0.2 < float((torch.sigmoid(logit) > 0.5).float().mean()) < 0.8  # both sides of the pick are tested


def test_predicting_with_a_hard_matte_gives_the_warps_hard_matte_frames():
    """``sampling.matte: hard``, the mask copying: the horizon is the layered warp's frames with its matte made 0 or
    1; under ``soft`` its frames as trained. A warp whose head and matte read their inputs, so that the two differ."""
    from genvid.models.feature_flow.model import FeatureFlowSampling

    context = torch.rand(2, 3, 1, 32, 32, generator=torch.Generator().manual_seed(5))
    outs = {}
    for matte in ("soft", "hard"):
        net = model(warp_motion="layered").eval()
        with torch.no_grad():
            torch.nn.init.normal_(net.warp.stack.head.weight, std=0.5)
            net.warp.matte[-1].bias.fill_(0.0)
            net.generator.d2[-1].bias[1] = 30.0  # the mask copies
        net.configure_sampling(FeatureFlowSampling(matte=matte))
        outs[matte] = net.generate(context, 2, 1, torch.Generator().manual_seed(0))[:, 0]
        assert torch.allclose(outs[matte], net.warped(context, 3, 5, matte == "hard"), atol=1e-5), matte
    assert not torch.allclose(outs["soft"], outs["hard"], atol=1e-3)


def test_feature_flow_builds_the_warp_its_config_names_and_copies_in_place_while_it_is_untrained():
    net = model(warp_motion="layered", warp_loss="absolute").eval()
    assert (net.warp.motion, net.warp.norm) == ("layered", "absolute") and len(net.warp.matte) == 3
    with torch.no_grad():
        net.generator.d2[-1].bias[1] = 30.0  # the mask copies
    context = torch.rand(2, 3, 1, 32, 32)
    out = net.generate(context, 2, 1, torch.Generator().manual_seed(0))[:, 0]
    assert torch.allclose(out, context[:, -1:].expand(-1, 2, -1, -1, -1), atol=1e-5)


def test_the_warp_reads_only_the_context_before_the_closed_loop_ends():
    net = model().eval()
    with torch.no_grad():  # a head that reads its input: the displacement depends on every context frame
        torch.nn.init.normal_(net.warp.stack.head.weight, std=0.5)
    frames = torch.rand(2, 6, 1, 32, 32)
    changed = frames.clone()
    changed[:, 3:] = torch.rand(2, 3, 1, 32, 32)
    assert torch.equal(net.warped(frames, 3, 6), net.warped(changed, 3, 6))
    changed[:, 0] += 0.5
    assert not torch.equal(net.warped(frames, 3, 6), net.warped(changed, 3, 6))
    with pytest.raises(GenvidError, match="context_warp reads 3 context frames, got 2"):
        net.warped(frames, 2, 6)


@pytest.mark.parametrize("options,message", [({"copy_mask": False}, "context_warp blends a warped frame through the "
                                              "copy mask: it needs copy_mask: true"),
                                             ({"pixel_warp": True}, "choose one"), ({"move_copy": True}, "choose one"),
                                             ({"warp_scale": 8}, "resolution / warp_scale must be >= 8, got 32 / 8"),
                                             ({"warp_scale": 3}, "warp_scale must be a power of two")])
def test_context_warp_refuses_settings_it_cannot_combine_with(options, message):
    with pytest.raises(GenvidError, match=message):
        model(**options)


def test_the_gan_trains_with_the_warp_frozen_and_without_the_warp_in_its_optimisers():
    net = model()
    for p in net.warp.parameters():
        p.requires_grad_(False)
    groups = net.optimizer_groups()
    warp_ids = {id(p) for p in net.warp.parameters()}
    assert not warp_ids & {id(p) for ps in groups.values() for p in ps}
    losses, _ = net.loss(torch.rand(2, 6, 1, 32, 32), 0)
    losses["g"].backward()
    assert all(p.grad is None for p in net.warp.parameters())


def test_the_family_trains_the_warp_first_then_the_gan_with_the_warp_frozen(tmp_path, monkeypatch):
    """train.<model>.warp then train.<model>.model, each through the one loop: the saved model's warp is the warp
    component's, untouched by the GAN's steps (without context_warp only the model trains: the tiny DAG's run)."""
    from types import SimpleNamespace

    from torch.utils.data import TensorDataset

    from conftest import ROOT, make_frames_file
    from genvid import params as P
    from genvid.context import RunContext
    from genvid.models import pixel, registry
    from genvid.models.store import load_model
    from genvid.profiles import apply, load_profile
    from genvid.train.run import train_run

    tiny = apply(P.read_params(ROOT / "params.yaml"), load_profile("tiny", ROOT / "profiles"))
    bench = P.benchmark(tiny, "dynamics")
    c, t = bench.protocol.context_frames, bench.clips.clip_len
    monkeypatch.setattr(pixel, "read_frames_info", lambda path: SimpleNamespace(channels=1, height=32, width=32))

    class Clips(TensorDataset):
        def __getitem__(self, i):
            return self.tensors[0][i]

    moving = torch.zeros(8, t, 1, 32, 32)
    for i in range(t):  # a bright square moving one pixel a frame to the right
        moving[:, i, :, 10:16, 4 + i:10 + i] = 1.0
    monkeypatch.setattr(pixel, "clip_set", lambda *args: Clips(moving))
    make_frames_file(tmp_path / "frames.h5")  # what the run's stamp records (its sizes come from the patch above)
    (tmp_path / "split.json").write_text("{}")
    models = {**tiny["models"]["feature_flow"], "context_warp": True, "warp_frames": t - c, "warp_width": 4}
    run = P.Run("dynamics-feature_flow", "dynamics", "feature_flow", models, tiny["train"]["feature_flow"])
    ctx = RunContext(run, bench, tmp_path / "frames.h5", tmp_path / "split.json", None, tmp_path / "m",
                     tmp_path / "r", tmp_path / "w")
    train_run(ctx, registry.get("feature_flow"))
    assert sorted(p.name for p in (tmp_path / "r" / "curves").iterdir()) == ["model", "warp"]
    net, _ = load_model(tmp_path / "m" / "model.pt", "feature_flow")
    warp_state = torch.load(tmp_path / "w" / "warp" / "checkpoint.pt", weights_only=False)["model"]
    saved = net.warp.state_dict()
    assert saved.keys() == warp_state.keys() and all(torch.equal(saved[k], warp_state[k]) for k in saved)
    assert float(saved["stack.head.bias"].abs().sum()) > 0  # it learned: the head starts at zero
