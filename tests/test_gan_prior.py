"""Seed 002's GAN prior over VQ codes (genvid.models.gan_prior): the code representation, the
progressive schedule, the WGAN-GP penalty by hand, one-pass sampling that never reads a future
code, and GAN training made safe (exact resume of G, D and both optimisers; divergence stops with
the last good checkpoint kept)."""
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from genvid.errors import GenvidError, ParamError
from genvid.models.gan_prior.family import GANCodePrior, gan_config, gan_objective
from genvid.models.gan_prior.model import (GANPrior, GANPriorConfig, SelfAttention, codes_to_values, dequantised,
                                           halve, upsample_to, values_to_codes)
from genvid.train import TrainConfig, fit
from genvid.train import checkpoint

K = 16
TOP, BOTTOM = (4, 4, 4), (4, 8, 8)


def config(shape=TOP, cond_shape=None, **over) -> GANPriorConfig:
    values = dict(num_codes=K, shape=shape, channels=(8, 8), res_blocks=1, noise_dim=4,
                  attention=tuple((cond_shape or shape)[1:]), cond_shape=cond_shape, grow_steps=(3,), fade_steps=2)
    return GANPriorConfig.from_dict({**values, **over})


def codes(shape, seed, n=3) -> torch.Tensor:
    return torch.randint(0, K, (n, *shape), generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- representation and resampling

def test_indices_map_onto_minus_one_to_one_and_back():
    idx = torch.arange(K).view(1, K, 1, 1)
    values = codes_to_values(idx, K)
    assert values[0, 0, 0, 0, 0] == -1 and values[0, 0, -1, 0, 0] == 1
    assert torch.allclose(values.flatten().diff(), torch.full((K - 1,), 2 / (K - 1)))
    assert torch.equal(values_to_codes(values, K), idx)
    assert values_to_codes(torch.tensor([[-3.0, 3.0]]).view(1, 1, 2), K).tolist() == [[0, K - 1]]  # clamped


def test_dequantised_codes_stay_in_their_bin():
    c = codes((2, 4, 4), 0)
    noisy = dequantised(c, K, torch.Generator().manual_seed(1))
    assert torch.equal(values_to_codes(noisy, K), c)
    assert not torch.equal(noisy, codes_to_values(c, K))
    assert (noisy - codes_to_values(c, K)).abs().max() <= 1 / (K - 1)  # half a bin: 1/2 * 2/(K-1)


def test_upsample_and_halve_by_hand():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 1, 2, 2)
    up = upsample_to(x, (2, 4, 4))
    assert up.shape == (1, 1, 2, 4, 4) and up[0, 0, 1, 3, 0] == 3 and up[0, 0, 0, 1, 3] == 2
    assert torch.equal(halve(up), x.expand(1, 1, 2, 2, 2))
    assert halve(torch.arange(16.0).view(1, 1, 1, 4, 4))[0, 0, 0].tolist() == [[2.5, 4.5], [10.5, 12.5]]
    with pytest.raises(GenvidError, match="not a whole multiple"):
        upsample_to(x, (1, 3, 3))


# ----------------------------------------------------------------------------- the networks

def test_schedule_grows_and_fades_in_by_the_step():
    net = GANPrior(config(channels=(8, 8, 8), grow_steps=(3, 4), fade_steps=2, shape=(4, 8, 8)))
    got = [net.schedule(s) for s in range(10)]
    assert got == [(0, 1.0), (0, 1.0), (0, 1.0), (1, 0.5), (1, 1.0), (1, 1.0), (1, 1.0), (2, 0.5), (2, 1.0),
                   (2, 1.0)]


def test_a_grown_scale_starts_as_the_previous_one_upsampled():
    """At alpha -> 0 the generator's output is the coarser scale's, upsampled; the critic's is the
    coarser scale's score of the pooled input: growing starts where the smaller GAN stood."""
    torch.manual_seed(0)
    net = GANPrior(config())
    c = codes(TOP, 1)
    cond = net.condition(c, 1)
    z = torch.randn(3, 4)
    coarse = net.generator(z, cond, scale=0)
    assert torch.allclose(net.generator(z, cond, scale=1, alpha=1e-9), upsample_to(coarse, TOP), atol=1e-6)
    x = codes_to_values(c, K)
    assert torch.allclose(net.critic(x, cond, scale=1, alpha=0.0), net.critic(halve(x), cond, scale=0), atol=1e-6)


def test_self_attention_starts_as_the_identity_and_mixes_positions_once_gamma_moves():
    torch.manual_seed(0)
    layer = SelfAttention(8, 2)
    x = torch.randn(2, 8, 2, 3, 3)
    assert torch.equal(layer(x), x)
    with torch.no_grad():
        layer.gamma.fill_(1.0)
    y = x.clone()
    y[:, :, 1, 2, 2] += 1  # one position changes: every position's output moves
    assert (layer(y) - layer(x))[:, :, 0, 0, 0].abs().sum() > 0


def _attention_scales(net: nn.Module) -> list[tuple[str, int]]:
    """(G or D, scale index) of every self-attention layer of a GANPrior."""
    return [(part, s) for part in ("generator", "critic") for s, scale in enumerate(getattr(net, part).scales)
            if isinstance(scale.attention, SelfAttention)]


def test_both_tiers_attend_once_in_g_and_d_at_the_top_tiers_grid_and_the_bottom_needs_top_codes():
    """Seed 002 §3.2: "a self attention layer was added to both the top and bottom generators and
    discriminators in the layer corresponding to 32x32 latents" (the top tier's size; Table 6.3: 1 | 1)."""
    info = {"shapes": {"top": TOP, "bottom": BOTTOM}, "codebook_size": K}
    section = dict(channels=[8, 8], res_blocks=1, noise_dim=4, grow_steps=[3], fade_steps=2)
    top, bottom = gan_config(section, "top", info, "gan_top"), gan_config(section, "bottom", info, "gan_bottom")
    assert bottom.cond_shape == TOP and top.cond_shape is None
    assert top.attention == bottom.attention == TOP[1:]
    # the top tier's finest scale (4x4 of 2x2, 4x4); the bottom's coarser one (4x4 of 4x4, 8x8): not its finest
    assert _attention_scales(GANPrior(top)) == [("generator", 1), ("critic", 1)]
    assert _attention_scales(GANPrior(bottom)) == [("generator", 0), ("critic", 0)]
    with pytest.raises(ParamError, match="gan_top.num_codes is set from the latent file"):
        gan_config({**section, "num_codes": 3}, "top", info, "gan_top")
    with pytest.raises(GenvidError, match="the bottom tier needs the top codes"):
        GANPrior(bottom).sample(codes(BOTTOM, 0), 1, torch.Generator())


def test_an_attention_grid_no_scale_has_is_refused():
    with pytest.raises(ParamError, match=r"attention: no scale has the grid \[3, 3\]"):
        config(attention=(3, 3))


@pytest.mark.parametrize("over, message", [
    ({"grow_steps": ()}, "grow_steps must give the steps of each scale but the finest"),
    ({"fade_steps": 5, "channels": (8, 8, 8), "grow_steps": (3, 4), "shape": (4, 8, 8)}, "fade_steps"),
    ({"channels": (8, 8, 8, 8), "grow_steps": (2, 2, 2)}, "must be divisible by 8"),
    ({"shape": (1, 4, 4)}, "2 or more code steps"),
])
def test_bad_configs_are_one_line(over, message):
    with pytest.raises(ParamError, match=message):
        config(**over)


def test_the_gradient_penalty_by_hand():
    """A linear critic w . x has gradient w everywhere: the penalty is (||w|| - 1)^2."""
    net = GANPrior(config())

    class Linear(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.full((1, 1, *TOP), 0.5))

        def forward(self, x, cond, scale=None, alpha=1.0):
            return (x * self.w).flatten(1).sum(1)

    net.critic = Linear()
    c = codes(TOP, 2)
    real, fake = codes_to_values(c, K), codes_to_values(codes(TOP, 3), K)
    norm = 0.5 * (4 * 4 * 4) ** 0.5  # ||w|| = 0.5 * sqrt(64) = 4
    got = net.gradient_penalty(real, fake, net.condition(c, 1), 1, 1.0)
    assert torch.isclose(got, torch.tensor((norm - 1) ** 2))


# ----------------------------------------------------------------------------- sampling

def test_one_pass_sampling_keeps_the_context_and_never_reads_a_future_code():
    torch.manual_seed(0)
    prior = GANCodePrior(GANPrior(config(shape=BOTTOM, cond_shape=TOP, attention=None)))
    real, top = codes(BOTTOM, 4), codes(TOP, 5)
    start = 2 * BOTTOM[1] * BOTTOM[2]  # two code steps given

    def draw(c, t, seed=7):
        return prior.sample(c, start, torch.Generator().manual_seed(seed), 1.0, None, t)

    out = draw(real, top)
    assert torch.equal(out[:, :2], real[:, :2]) and out.min() >= 0 and out.max() < K
    scrambled = real.clone()
    scrambled[:, 2:] = codes(BOTTOM, 6)[:, 2:]
    assert torch.equal(draw(scrambled, top), out)  # the future codes are never read
    assert torch.equal(draw(real, top), out) and not torch.equal(draw(real, top, seed=8), out)
    assert not torch.equal(draw(real, codes(TOP, 9)), out)  # the top codes condition the bottom tier
    with pytest.raises(GenvidError, match="whole code steps"):
        prior.sample(real, start + 1, torch.Generator(), 1.0, None, top)
    with pytest.raises(GenvidError, match="no top-k"):
        prior.sample(real, start, torch.Generator(), 1.0, 5, top)


# ----------------------------------------------------------------------------- GAN training made safe

def train_config(steps=6, **over) -> TrainConfig:
    values = {"steps": steps, "batch_size": 2, "lr": 1e-3, "betas": [0.0, 0.99], "ckpt_every": 2,
              "val_every": 3, "log_every": 1, "seed": 1, "schedule": "constant",
              "optimizers": {"g": {"lr": 4e-3}, "d": {"lr": 1e-3}}}
    return TrainConfig.from_dict({**values, **over}, "train")


def data() -> TensorDataset:
    return TensorDataset(codes(TOP, 10, n=6), codes(BOTTOM, 11, n=6))


class _Stop(Exception):
    pass


def run(workdir, cfg, stop_at=None):
    torch.manual_seed(0)
    net = GANPrior(config())

    def on_checkpoint(step):
        if step == stop_at:
            raise _Stop

    result = fit(net, gan_objective("top"), data(), data(), cfg, workdir, "fp", desc="gan_top",
                 on_checkpoint=on_checkpoint, optimizers=net.optimizers())
    return net, result


def test_both_networks_and_both_optimisers_resume_exactly(tmp_path):
    cfg = train_config()
    straight, a = run(tmp_path / "a", cfg)
    with pytest.raises(_Stop):
        run(tmp_path / "b", cfg, stop_at=4)  # killed inside the growth: scale 1 fades in at step 3
    resumed, b = run(tmp_path / "b", cfg)
    assert b.resumed_from == 4 and a.curves == b.curves
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    saved_a, saved_b = checkpoint.load(tmp_path / "a" / "checkpoint.pt"), checkpoint.load(tmp_path / "b" / "checkpoint.pt")
    assert set(saved_a["optimizer"]) == {"g", "d"}
    for name in ("g", "d"):
        for i, state in saved_a["optimizer"][name]["state"].items():
            other = saved_b["optimizer"][name]["state"][i]
            assert all(torch.equal(state[k], other[k]) for k in state), (name, i)
    assert {"wasserstein", "gradient_penalty", "loss_d"} <= set(a.curves[0])
    assert [row["scale"] for row in a.curves if row["split"] == "train"] == [0, 0, 0, 1, 1, 1]


def test_a_critic_loss_past_its_bound_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    bound = train_config(steps=6, optimizers={"g": {"lr": 4e-3}, "d": {"lr": 1e-3, "loss_bound": 1e-3}})
    work = tmp_path / "bad"
    with pytest.raises(GenvidError, match=r"gan_top: diverged: loss d .* is past its bound ±0.001 "
                                          r"\(optimizers.d.loss_bound\) at step 1; no checkpoint written yet"):
        run(work, bound)
    assert not (work / "checkpoint.pt").exists()


def test_a_run_that_diverges_later_keeps_its_last_checkpoint(tmp_path):
    """A critic that blows up at step 4 (its weights scaled past any sense) leaves step 2's checkpoint."""
    cfg = train_config(steps=6, optimizers={"g": {"lr": 4e-3}, "d": {"lr": 1e-3, "loss_bound": 1e6}})
    work = tmp_path / "w"

    def blow_up(step):
        if step == 2:
            with torch.no_grad():
                for p in net.critic.head.parameters():
                    p.mul_(1e9)

    torch.manual_seed(0)
    net = GANPrior(config())
    with pytest.raises(GenvidError, match=r"diverged: loss d .* at step 3; last good checkpoint kept at "
                                          r".*checkpoint.pt \(step 2\)"):
        fit(net, gan_objective("top"), data(), None, cfg, work, "fp", on_checkpoint=blow_up,
            optimizers=net.optimizers())
    assert checkpoint.load(work / "checkpoint.pt")["step"] == 2


def test_a_nan_loss_names_the_optimiser(tmp_path):
    cfg = train_config(steps=2)
    torch.manual_seed(0)
    net = GANPrior(config())

    def nan_objective(model, batch, step):
        losses, scalars = gan_objective("top")(model, batch, step)
        return {"g": losses["g"], "d": losses["d"] * float("nan")}, scalars

    with pytest.raises(GenvidError, match=r"non-finite loss d \(nan\) at step 1; no checkpoint written yet"):
        fit(net, nan_objective, data(), None, cfg, tmp_path, "fp", optimizers=net.optimizers())
