"""benchmarks/memorise.py's parts: its minibatches, its scores against copy-last, its refusals (the smoke row in
tests/test_benchmarks_smoke.py runs it end to end)."""
import numpy as np
import pytest
import torch

from conftest import load_benchmark

memorise = load_benchmark("memorise")


def test_every_epoch_draws_each_training_clip_once():
    draw = memorise.batches(7, 3, seed=5)
    flat = [i for _ in range(7) for i in next(draw)]  # 21 indices: three epochs of 7
    for epoch in range(3):
        assert sorted(flat[7 * epoch:7 * epoch + 7]) == list(range(7))
    again = memorise.batches(7, 3, seed=5)
    assert [next(again) for _ in range(7)] == [flat[3 * k:3 * k + 3] for k in range(7)]  # seeded


def test_one_value_serves_every_size_and_a_list_must_match_them():
    assert memorise.per_size([300], [10, 200], "steps") == [300, 300]
    assert memorise.per_size([1, 2], [10, 200], "steps") == [1, 2]
    with pytest.raises(SystemExit, match="--steps gives 3 values for 2 sizes"):
        memorise.per_size([1, 2, 3], [10, 200], "steps")
    with pytest.raises(SystemExit, match="--clips '10,x' is not a comma-separated list"):
        memorise._ints("10,x", "clips")
    with pytest.raises(SystemExit, match="every value must be >= 1"):
        memorise._ints("0", "every")


class _Oracle(torch.nn.Module):
    """Predicts from a table of clips: the true future, or the last context frame held."""

    def __init__(self, clips, copy):
        super().__init__()
        self.clips, self.copy, self.seen = clips, copy, 0

    def generate(self, context, horizon, num_samples, generator):
        n = context.shape[0]
        rows = self.clips[self.seen:self.seen + n]
        self.seen += n
        out = context[:, -1:].expand(n, horizon, *context.shape[2:]) if self.copy else \
            rows[:, context.shape[1]:context.shape[1] + horizon]
        return out[:, None]


def test_a_perfect_future_scores_zero_error_and_a_held_frame_scores_copy_last():
    clips = torch.rand(11, 6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    scorer = memorise.Scorer("trained", clips, np.zeros(11, np.int64), context=3, horizon=3, classifier=None)
    by_hand = float(((clips[:, 2:3] - clips[:, 3:6]) ** 2).mean())
    assert scorer.copy_mse == pytest.approx(by_hand, rel=1e-6)
    mse, acc = scorer.row(_Oracle(clips, copy=False), seed=1)
    assert mse == pytest.approx(0.0, abs=1e-12) and acc is None  # no classifier: no accuracy
    mse, _ = scorer.row(_Oracle(clips, copy=True), seed=1)
    assert mse == pytest.approx(by_hand, rel=1e-6)


@pytest.mark.parametrize("args, message", [
    (["--run", "driving-feature_flow"], "benchmark 'driving' is recorded, not generated"),
    (["--run", "dynamics-copy_last"], "model 'copy_last' is not one network trained on pixels"),
    (["--run", "dynamics-feature_flow", "--clips", "100000"], "is more than the"),
    (["--run", "nope"], "memorise.py: "),
    (["--set", "models.no_such_key=1"], "runs.dynamics-feature_flow.overrides.models.no_such_key does not exist"),
    (["--set", "repro.threads=1"], "memorise.py: --set 'repro.threads=1': expected models.<key>=<value>"),
])
def test_a_run_it_cannot_check_gets_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        memorise.main(args)
    assert message in str(stop.value) and "\n" not in str(stop.value)


def test_set_extends_the_runs_overrides_and_leaves_the_params_alone():
    raw = {"runs": {"r": {"benchmark": "b", "model": "m", "overrides": {"models": {"a": 1}, "train": {"steps": 9}}}}}
    out = memorise.with_sets(raw, "r", ["models.object_weight=30", "train.optimizers.g.lr=3e-4", "models.a=2"])
    assert out["runs"]["r"]["overrides"] == {"models": {"a": 2, "object_weight": 30},
                                             "train": {"steps": 9, "optimizers": {"g": {"lr": 3e-4}}}}
    assert raw["runs"]["r"]["overrides"] == {"models": {"a": 1}, "train": {"steps": 9}}  # a copy
