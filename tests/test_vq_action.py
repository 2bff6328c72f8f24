"""vq_action (issue 24): seed 000's priors steered by the per-frame actions.

- wiring: code step s of a prior reads the actions a_{t-1} of its frames t, standardised, and
  nothing after its own step (perturbation, against the hand-computed frame ranges);
- the cached sampler stays bitwise the naive one with actions (top prior with attention, bottom
  prior with the top codes and the actions);
- one-line errors for actions missing, mis-shaped, or given to a prior that reads none;
- the latent dataset pairs each clip's codes with the actions of its own frames (hand-made file);
- the predictor's windows read the rows of their own frames: a row after the last predicted
  frame changes nothing, the row into the first predicted frame changes the futures.
"""
from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from genvid.data.latents import ConditionedLatents, write_latents
from genvid.errors import GenvidError
from genvid.models.vq.pixelsnail3d import ActionConditioning, PixelSNAIL3d, combine
from genvid.models.vq.priors import prior_config
from genvid.models.vq.sampling import sample_fast, sample_naive

K, CLIP = 6, 8
TOP, BOTTOM = (2, 2, 2), (4, 4, 4)  # 8 frames: 4 frames per top step, 2 per bottom step
INFO = {"shapes": {"top": TOP, "bottom": BOTTOM}, "codebook_size": K, "attrs": {"clip_len": CLIP}}
STATS = ([0.5, -1.0, 0.0], [2.0, 0.5, 1.0])
SIZES = {"channels": 8, "res_blocks": 1, "snail_blocks": 2, "kernel_size": 3, "value_channels": 8, "dropout": 0.0}


def prior(level: str, stats=STATS, seed: int = 0) -> PixelSNAIL3d:
    section = dict(SIZES, cond_res_blocks=1) if level == "bottom" else dict(SIZES)
    torch.manual_seed(seed)
    return PixelSNAIL3d(prior_config(section, level, INFO, f"prior_{level}", stats)).eval()


def codes(shape, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, K, (batch, *shape), generator=torch.Generator().manual_seed(seed))


def actions(batch: int = 2, seed: int = 2) -> torch.Tensor:
    return torch.randn(batch, CLIP, 3, generator=torch.Generator().manual_seed(seed))


def test_config_from_the_latent_file_and_the_statistics():
    top, bottom = prior("top").config, prior("bottom").config
    assert (top.actions, top.action_stride, top.action_frames) == (3, 4, 8)
    assert (bottom.actions, bottom.action_stride, bottom.action_frames) == (3, 2, 8)
    assert top.action_mean == (0.5, -1.0, 0.0) and top.action_std == (2.0, 0.5, 1.0)
    plain = PixelSNAIL3d(prior_config(SIZES, "top", INFO, "prior_top"))
    assert plain.config.actions == 0 and plain.action is None
    with pytest.raises(Exception, match="prior_top.actions is set from the latent file"):
        prior_config(dict(SIZES, actions=3), "top", INFO, "prior_top")


def test_a_step_reads_the_standardised_actions_into_its_own_frames():
    """Frame t is reached by a_{t-1}: top step s (frames 4s..4s+3) reads rows 4s-1..4s+2, the window's
    first frame reads 0 (the training mean), and the last row leads past the window."""
    net = prior("top").action
    raw = actions(1)
    rows = net.steps(raw)[0]  # [T', 4 * 3]
    standard = (raw[0] - torch.tensor(STATS[0])) / torch.tensor(STATS[1])
    assert torch.equal(rows[0], torch.cat([torch.zeros(3), standard[0], standard[1], standard[2]]))
    assert torch.equal(rows[1], standard[3:7].reshape(-1))


@pytest.mark.parametrize("level", ["top", "bottom"])
def test_the_logits_of_a_code_step_depend_on_the_actions_up_to_its_own_frames(level):
    net = prior(level)
    shape = TOP if level == "top" else BOTTOM
    stride = CLIP // shape[0]
    z, cond = codes(shape), (codes(TOP, seed=3) if level == "bottom" else None)
    a = actions()
    base = net(z, cond, a)
    for row in range(CLIP):
        moved = a.clone()
        moved[:, row] += 1.0
        changed = (net(z, cond, moved) != base).flatten(3).any(dim=(0, 1, 3))  # per code step
        first = (row + 1) // stride  # the step of frame row + 1, the first frame a_row leads to
        if row == CLIP - 1:
            assert not changed.any(), "the last action leads past the window"
        else:
            assert changed[first], (level, row)
        # the top prior's attention carries a step's actions to later steps, never to earlier ones
        assert not changed[:first].any(), (level, row)


def test_conditions_add_up_entry_by_entry():
    a, b = [torch.ones(1), 2 * torch.ones(1)], [10 * torch.ones(1)]
    assert [float(x) for x in combine(a, b)] == [11.0, 2.0] and combine([], b) == b and combine(a, []) == a
    net = ActionConditioning(prior("top").config)
    out = net(actions())
    assert len(out) == 1 + 2 and all(tuple(x.shape) == (2, 8, *TOP) for x in out)
    assert torch.equal(out[0][:, :, 1, 0, 0], out[0][:, :, 1, 1, 1])  # one vector per step, over H' x W'


@pytest.mark.parametrize("level", ["top", "bottom"])
def test_the_cached_sampler_is_the_naive_one_with_actions(level):
    net = prior(level)
    shape = TOP if level == "top" else BOTTOM
    z, cond, a = codes(shape), (codes(TOP, seed=3) if level == "bottom" else None), actions()
    start = shape[1] * shape[2]  # the first code step is context
    fast = sample_fast(net, z, start, torch.Generator().manual_seed(4), 1.0, None, cond, a)
    naive = sample_naive(net, z, start, torch.Generator().manual_seed(4), 1.0, None, cond, a)
    assert torch.equal(fast, naive)
    steered = sample_fast(net, z, start, torch.Generator().manual_seed(4), 1.0, None, cond, a * -3.0)
    assert not torch.equal(steered, fast), "the actions do not reach the samples"
    assert torch.equal(fast.flatten(1)[:, :start], z.flatten(1)[:, :start])


def test_actions_are_checked_in_one_line():
    top = prior("top")
    z = codes(TOP)
    with pytest.raises(GenvidError, match=r"conditioned on per-frame actions: it needs actions \[2, 8, 3\]"):
        top.check_inputs(z)
    with pytest.raises(GenvidError, match=r"actions must be float \[2, 8, 3\] .* got torch.float32 \[2, 4, 3\]"):
        top.check_inputs(z, None, actions()[:, :4])
    with pytest.raises(GenvidError, match="reads no actions"):
        PixelSNAIL3d(prior_config(SIZES, "top", INFO, "prior_top")).check_inputs(z, None, actions())
    with pytest.raises(GenvidError, match="action_std must be positive"):
        prior("top", stats=([0.0] * 3, [1.0, 0.0, 1.0]))


def test_latents_are_paired_with_the_actions_of_their_own_frames(tmp_path):
    frames, latents = tmp_path / "frames.h5", tmp_path / "latents.h5"
    table = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    with h5py.File(frames, "w") as f:
        f["frames"] = np.zeros((40, 4, 4, 3), np.uint8)
        f["action"] = table
    starts = {"train": np.array([0, 5, 30]), "val": np.array([10]), "test": np.array([20, 33])}

    def batches(split):
        n = len(starts[split])
        yield starts[split], np.zeros((n, *TOP), np.int16), np.ones((n, *BOTTOM), np.int16)

    write_latents(latents, {s: batches(s) for s in starts}, {s: len(v) for s, v in starts.items()},
                  {"top": TOP, "bottom": BOTTOM}, {"codebook_size": K, "clip_len": CLIP})
    data = ConditionedLatents(latents, "train", frames, "action")
    top, bottom, cond = data[1]
    assert tuple(top.shape) == TOP and tuple(bottom.shape) == BOTTOM
    assert torch.equal(cond, torch.from_numpy(table[5:13]))
    with pytest.raises(GenvidError, match=r"'test' has clips past frame 40 of .*frames.h5"):
        ConditionedLatents(latents, "test", frames, "action")
    with h5py.File(frames, "a") as f:
        del f["action"]
    with pytest.raises(GenvidError, match="reads per-frame 'action', which this frames file does not record"):
        ConditionedLatents(latents, "train", frames, "action")


def test_the_predictor_reads_the_rows_of_its_windows(tmp_path):
    """driving's 8 -> 8 in one 16-frame window: row 15 leads past the last predicted frame and changes
    nothing; row 7, the action out of the last context frame, changes the futures."""
    import test_predictors as tp

    from genvid.models import registry
    from genvid.profiles import apply, load_profile
    from genvid import params as P
    from conftest import ROOT

    tiny = apply(P.read_params(ROOT / "params.yaml"), load_profile("tiny", ROOT / "profiles"))
    ctx = tp.context_for(tmp_path, tiny, "vq_action")
    torch.manual_seed(0)
    spec = registry.get("vq_action")
    spec.init(ctx, tp.HEIGHT, tp.HEIGHT, 3)
    pred = spec.predictor(ctx)
    c, h = ctx.bench.protocol.context_frames, ctx.bench.protocol.horizon
    context = tp.clips(ctx)[:, :c]
    cond = torch.zeros(tp.B, c + h, 3)

    def futures(rows):
        return pred.predict(context, h, 1, torch.Generator().manual_seed(1), cond=rows)

    base, late, turned = cond.clone(), cond.clone(), cond.clone()
    late[:, c + h - 1] = 5.0
    turned[:, c - 1:, 0] = 5.0
    assert torch.equal(futures(base), futures(late))
    assert not torch.equal(futures(base), futures(turned))
    # the vq model's folder is no vq_action's: its priors read no actions
    registry.get("vq").init(ctx, tp.HEIGHT, tp.HEIGHT, 3)
    with pytest.raises(GenvidError, match=r"prior_top.pt: a prior reading 0 action columns, but model vq_action "
                                          r"reads 3"):
        spec.predictor(ctx)
