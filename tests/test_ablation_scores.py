"""genvid.ablation: the protocol scores of a protocol-scored ablation (seed 003 §6.3.3), by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from genvid.ablation import STATIC_TOLERANCE, ablation_scores, protocol_futures, static_background_variance
from genvid.metrics.weights import convert_all, load_lpips
from genvid.models.predictor import CopyLast

SIZE = 32


@pytest.fixture(scope="module")
def lpips(tmp_path_factory):
    return load_lpips(convert_all(tmp_path_factory.mktemp("metric_weights"))["lpips"])


def test_static_variance_is_over_the_pixels_still_through_the_real_clip():
    real = np.zeros((1, 4, 2, 2, 1), np.uint8)
    real[0, :, 0, 0, 0] = [10, 11, 12, 10]  # within the tolerance: static
    real[0, :, 1, 1, 0] = [0, 50, 0, 50]     # moving: not counted
    assert STATIC_TOLERANCE == 2
    futures = np.zeros((1, 2, 2, 2, 2, 1), np.uint8)
    futures[0, 0, :, 0, 0, 0] = [0, 255]     # sample 0 flickers on a static pixel: variance 0.25
    futures[0, 1, :, 1, 1, 0] = [0, 255]     # sample 1 flickers on the moving pixel only: not counted
    # static pixels (0,0), (0,1), (1,0): variances 0.25, 0, 0 for sample 0; 0, 0, 0 for sample 1
    assert static_background_variance(real, futures) == pytest.approx(0.25 / 3 / 2)
    assert static_background_variance(np.stack([np.arange(4)[:, None, None, None] * 40] * 1).astype(np.uint8)
                                      .repeat(2, 2).repeat(2, 3), futures) is None  # no static pixel


def test_best_of_n_picks_each_clips_best_sample_and_no_fvd_without_features(lpips):
    g = np.random.default_rng(0)
    real = g.integers(0, 256, (2, 5, SIZE, SIZE, 3), dtype=np.uint8)
    futures = g.integers(0, 256, (2, 3, 2, SIZE, SIZE, 3), dtype=np.uint8)
    futures[0, 1] = real[0, 3:]  # clip 0's sample 1 is the truth
    out = ablation_scores(real, futures, 3, lpips, None, None, 0)
    assert out["fvd"] is None and out["clips"] == 2
    truth = ablation_scores(real[:1], futures[:1], 3, lpips, None, None, 0)
    assert truth["lpips"] == pytest.approx(0.0, abs=1e-9) and truth["ssim"] == pytest.approx(1.0)
    assert out["lpips"] > 0 and out["ssim"] < 1


def test_protocol_futures_are_the_sample_stages_draws(tmp_path):
    """Copy-last on a frames file: real clips at the starts, futures its last context frame."""
    import h5py
    frames = np.random.default_rng(1).integers(0, 256, (30, SIZE, SIZE, 3), dtype=np.uint8)
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as f:
        f["frames"] = frames
    real, futures = protocol_futures(CopyLast(), path, np.array([0, 10, 20]), 4, 3, 2, seed=0, per_call=2)
    assert real.shape == (3, 7, SIZE, SIZE, 3) and np.array_equal(real[1], frames[10:17])
    assert futures.shape == (3, 2, 3, SIZE, SIZE, 3) and np.array_equal(futures[2, 1, 0], frames[23])
    assert torch.equal(torch.from_numpy(futures[0, 0, 2]), torch.from_numpy(frames[3]))


def test_protocol_futures_draw_each_batch_from_its_stream(tmp_path):
    """A batch's generator is seeded (seed, *stream, first clip), as stage sample seeds the protocol's
    (no stream) and the long horizon's (LONG_HORIZON_STREAM) batches."""
    import h5py

    from genvid.train.sampler import LONG_HORIZON_STREAM, derived_seed

    class Noise:  # futures that are the generator's first draws
        def predict(self, context, horizon, num_samples, generator, cond=None):
            shape = (context.shape[0], num_samples, horizon, *context.shape[2:])
            return torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)

    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as f:
        f["frames"] = np.zeros((30, SIZE, SIZE, 3), np.uint8)
    starts = np.array([0, 10, 20])
    _, plain = protocol_futures(Noise(), path, starts, 4, 3, 2, seed=5, per_call=2)
    _, long = protocol_futures(Noise(), path, starts, 4, 3, 2, seed=5, per_call=2, stream=(LONG_HORIZON_STREAM,))
    for first, rows in ((0, slice(0, 2)), (2, slice(2, 3))):
        for keys, got in (((first,), plain), ((LONG_HORIZON_STREAM, first), long)):
            g = torch.Generator().manual_seed(derived_seed(5, *keys))
            want = torch.randint(0, 256, (rows.stop - rows.start, 2, 3, SIZE, SIZE, 3), generator=g, dtype=torch.uint8)
            assert np.array_equal(got[rows], want.numpy())
    assert not np.array_equal(plain, long)


def test_an_ablation_draws_a_conditioned_model_s_futures_as_stage_sample_does(tmp_path):
    """Issue 45 item 3: one protocol loop (genvid.sampling). The ablation once passed no conditioning: a
    conditioned model now gets the clip's recorded actions for its context and horizon, exactly as in
    stage sample, and both draw the same bytes from the same seeds."""
    import h5py

    from genvid.data.frames import CONDITIONING
    from genvid.sampling import protocol_batches
    from genvid.train.sampler import derived_seed

    class Steered:  # futures: the generator's draws shifted by the sum of the actions it was given
        def __init__(self):
            self.given = []

        def predict(self, context, horizon, num_samples, generator, cond=None):
            self.given.append(None if cond is None else cond.clone())
            shape = (context.shape[0], num_samples, horizon, *context.shape[2:])
            shift = 0 if cond is None else int(cond.sum().round())
            return torch.randint(0, 200, shape, generator=generator, dtype=torch.uint8) + shift

    frames = np.zeros((30, SIZE, SIZE, 3), np.uint8)
    actions = np.random.default_rng(2).normal(size=(30, len(CONDITIONING["action"]))).astype(np.float32)
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as f:
        f["frames"], f["action"] = frames, actions
    starts = np.array([0, 10, 20])
    model = Steered()
    _, futures = protocol_futures(model, path, starts, 4, 3, 2, seed=5, per_call=2, conditioning="action")
    assert [c.shape for c in model.given] == [(2, 7, actions.shape[1]), (1, 7, actions.shape[1])]
    assert np.array_equal(model.given[1][0].numpy(), actions[20:27])  # the context's and the horizon's actions
    sampled = np.concatenate([b.futures for b in protocol_batches(Steered(), frames, actions, starts, 4, 3, 2, 2,
                                                                  lambda first: derived_seed(5, first))])
    assert np.array_equal(futures, sampled)
    _, blind = protocol_futures(Steered(), path, starts, 4, 3, 2, seed=5, per_call=2)
    assert not np.array_equal(futures, blind)  # the old loop's futures: the actions were never given
