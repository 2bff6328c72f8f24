"""A sample stage killed part-way resumes (genvid.sampling.BatchCache): the calls it finished are read back, the
rest drawn, and what comes out is the uninterrupted run's, byte for byte; a cache of other inputs is never read."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from genvid.sampling import BatchCache, protocol_batches

CONTEXT, HORIZON, SAMPLES = 2, 3, 2


class Killed(Exception):
    pass


class Predictor:
    """Futures drawn from the call's generator (so a call's futures depend on its seed alone), and a diagnostic
    series; ``die_after`` calls, it is killed."""

    def __init__(self, die_after: int | None = None):
        self.calls, self.die_after = [], die_after

    def predict_with_diagnostics(self, real, context_frames, horizon, num_samples, generator):
        if self.die_after is not None and len(self.calls) == self.die_after:
            raise Killed
        self.calls.append(int(real[0, 0, 0, 0, 0]))
        b = real.shape[0]
        futures = torch.randint(0, 256, (b, num_samples, horizon, *real.shape[2:]), generator=generator,
                                dtype=torch.uint8)
        return futures, {"energy": futures.float().mean(dim=(2, 3, 4, 5))}


def run(predictor, cache=None, per_call=2):
    frames = np.arange(40, dtype=np.uint8)[:, None, None, None].repeat(4, 1).repeat(4, 2)  # [T, 4, 4, 1]: t everywhere
    starts = np.array([0, 5, 10, 15, 20, 25, 30])
    out = []
    for b in protocol_batches(predictor, frames, None, starts, CONTEXT, HORIZON, SAMPLES, per_call,
                              lambda first: 1000 + first, diagnostics=True, cache=cache):
        out.append((b.rows, b.real.copy(), b.futures.copy(), {k: v.copy() for k, v in b.series.items()}))
    return out


def same(a, b) -> bool:
    return len(a) == len(b) and all(x[0] == y[0] and np.array_equal(x[1], y[1]) and np.array_equal(x[2], y[2])
                                    and x[3].keys() == y[3].keys() and all(np.array_equal(x[3][k], y[3][k]) for k in x[3])
                                    for x, y in zip(a, b))


def test_a_killed_run_resumes_from_its_kept_calls_to_the_uninterrupted_bytes(tmp_path):
    whole = run(Predictor())
    cache = BatchCache(tmp_path / "sample", "a" * 64)
    with pytest.raises(Killed):
        run(Predictor(die_after=2), cache)
    assert cache.count("protocol") == 2  # the two calls that finished, each kept whole
    again = Predictor()
    resumed = run(again, cache)
    assert again.calls == [20, 30]  # only the calls not kept: clips 4-5 and 6 (their first frames)
    assert same(resumed, whole)
    cache.clear()
    assert not (tmp_path / "sample").exists()


def test_a_cache_of_other_inputs_is_never_read(tmp_path):
    first = BatchCache(tmp_path / "sample", "a" * 64)
    run(Predictor(), first)
    other = Predictor()
    run(other, BatchCache(tmp_path / "sample", "b" * 64))  # another identity: another folder
    assert other.calls == [0, 10, 20, 30]
    wider = Predictor()  # calls of other rows are other calls, even under the same identity
    assert same(run(wider, BatchCache(tmp_path / "sample", "a" * 64), per_call=3), run(Predictor(), per_call=3))
    assert wider.calls == [0, 15]  # clips 0-2 and 3-5 drawn; clip 6 alone is the same call at either size
