"""benchmarks/learning.py: the curve's bookkeeping (overrides, checkpoints, "beats copy-last") and the
training loop's checkpoint hook it copies weights from, which must not change what training computes."""
from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from conftest import ROOT, load_benchmark
from genvid import params as P
from genvid.context import RunContext
from genvid.models.family import Component, ModelSpec
from genvid.profiles import apply, load_profile
from genvid.train.run import train_run


@pytest.fixture(scope="module")
def learning():
    return load_benchmark("learning")


def test_sets_become_the_runs_overrides(learning):
    assert learning.parse_sets(["train.steps=600", "models.nf=32", "train.optimizers.g.lr=1e-3"]) == {
        "train": {"steps": 600, "optimizers": {"g": {"lr": 1e-3}}}, "models": {"nf": 32}}
    with pytest.raises(SystemExit, match="expected models.<key>=<value>"):
        learning.parse_sets(["repro.threads=1"])
    with pytest.raises(SystemExit, match="expected models.<key>=<value>"):
        learning.parse_sets(["train.steps"])


def test_scratch_params_checkpoint_every_k_steps_and_drop_the_long_horizon(learning):
    raw = P.read_params(ROOT / "params.yaml")
    out = learning.scratch_params(raw, "driving-svg_lp", {"train": {"steps": 600}}, 150)
    assert out["runs"]["driving-svg_lp"]["overrides"] == {"train": {"steps": 600, "ckpt_every": 150}}
    assert "long_horizon" not in out["benchmarks"]["driving"] and "long_horizon" in raw["benchmarks"]["driving"]
    run = P.run(out, "driving-svg_lp", "scratch")
    assert (run.train_params["steps"], run.train_params["ckpt_every"]) == (600, 150)
    vq = learning.scratch_params(raw, "smmnist-vq", {}, 50)["runs"]["smmnist-vq"]["overrides"]
    assert vq["train"]["vqvae"] == {"steps": 200, "ckpt_every": 50} and vq["models"] == {"vqvae": {"in_channels": 1}}
    assert all(vq["train"][c]["ckpt_every"] == 50 for c in ("prior_top", "prior_bottom", "decoder"))


def test_beats_copy_last_names_the_first_better_point_or_never(learning):
    points = [{"step": 100, "seconds": 60, "scores": {"psnr": 20.0, "fvd": 700.0, "lpips": 0.3}},
              {"step": 200, "seconds": 120, "scores": {"psnr": 21.0, "fvd": 650.0, "lpips": 0.3}},
              {"step": 300, "seconds": 180, "scores": {"psnr": 20.0, "fvd": 600.0, "lpips": 0.2}}]
    baseline = {"psnr": 20.5, "fvd": 666.0, "lpips": 0.149, "ssim": 0.5}
    assert learning.beats(points, baseline) == {"psnr": {"step": 200, "minutes": 2.0},
                                                "lpips": "never", "fvd": {"step": 200, "minutes": 2.0}}


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Linear(2, 1)
        self.drop = torch.nn.Dropout(0.5)  # draws from the global RNG: a hook that touched it would show

    def loss(self, batch):
        x, y = batch
        return ((self.w(self.drop(x)) - y) ** 2).mean(), {}


def _train(tmp_path, name, hook=None):
    tiny = apply(P.read_params(ROOT / "params.yaml"), load_profile("tiny", ROOT / "profiles"))
    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(32, 2, generator=gen), torch.randn(32, 1, generator=gen))
    train = {"steps": 6, "batch_size": 4, "lr": 0.1, "log_every": 1, "ckpt_every": 2}
    out = {}

    def family_train(ctx, fit):
        out["model"] = fit(Component("net", Net, lambda m, b, s: m.loss(b), data, None, "fp", train, "train.toy")).model
        return {}

    ctx = RunContext(P.Run("driving-toy", "driving", "toy", {}, train), P.benchmark(tiny, "driving"),
                     tmp_path / "f.h5", tmp_path / "s.json", tmp_path / "st.json", tmp_path / name / "m",
                     tmp_path / name / "r", tmp_path / name / "w")
    train_run(ctx, ModelSpec("toy", family_train, lambda ctx: None, components=("net",)), hook)
    return out["model"]


def test_the_checkpoint_hook_sees_every_checkpoint_and_changes_nothing(tmp_path):
    seen = []


    plain = _train(tmp_path, "plain")
    hooked = _train(tmp_path, "hooked", lambda c, s, m: seen.append((c, s, m.w.weight.detach().clone())))
    assert [(c, s) for c, s, _ in seen] == [("net", 2), ("net", 4), ("net", 6)]
    assert torch.equal(seen[-1][2], hooked.w.weight) and not torch.equal(seen[0][2], seen[-1][2])
    assert torch.equal(plain.w.weight, hooked.w.weight) and torch.equal(plain.w.bias, hooked.w.bias)


def test_the_committed_learning_page_is_its_render():
    module = load_benchmark("learning_table")
    assert module.main(["--check"]) == 0, "run python benchmarks/learning_table.py"
    assert module.page_text(f"a\n{module.BEGIN}\nold\n{module.END}\nb", "new\n", module.PAGE, module.BEGIN,
                            module.END) == f"a\n{module.BEGIN}\n\nnew\n\n{module.END}\nb"


def test_first_beats_says_the_minutes_of_its_point_as_the_table_does():
    module = load_benchmark("learning_table")
    points = [{"step": 300, "seconds": 180.0}, {"step": 600, "seconds": 375.2}]  # the table shows 6.3 minutes
    assert f"{module._minutes({'step': 600, 'minutes': 6.25}, points):.1f}" == "6.3"  # not 6.25 rounded again
    assert module._minutes({"step": 900, "minutes": 9.5}, points) == 9.5  # no such point: the entry's own


def test_a_curve_point_reads_scores_json_as_finely_as_the_dag_s_metrics(learning):
    """Every committed run's scores.json, flattened as a curve's point, agrees with its metrics.json within
    metrics.json's rounding (genvid.metrics.stats.headline_number) and keeps what metrics.json leaves out."""
    import json

    from genvid.metrics import stats
    runs = sorted((ROOT / "reports").glob("*/runs/*/metrics.json"))
    assert runs
    for path in runs:
        flat = learning.flat_scores(json.loads((path.parent / "scores.json").read_text()))
        metrics = json.loads(path.read_text())
        for key, value in metrics.items():
            if key == "bits_per_dim" or key.startswith("long_"):  # training's; a curve scores no long horizon
                continue
            places = stats.WIDE_DECIMALS.get(key, stats.HEADLINE_DECIMALS)
            assert abs(flat[key] - value) <= 0.5 * 10 ** -places + 1e-9, (path, key)
        if "cf_ssim" in metrics:
            assert 0 <= flat["cf_lpips"] <= 1 and "shift_gap" in flat


def test_an_entry_names_the_cpu_generation_its_minutes_were_measured_on():
    """One learning-<machine>.json spans a vendor's generations (a Zen 3 and a Zen 4 are both "amd-epyc"):
    an entry that records its ``cpu`` says it beside the threads; an older entry without one says nothing."""
    module = load_benchmark("learning_table")
    entry = {"run": "driving-x", "label": "10x2", "clips": "test", "threads": 2, "pinned": True,
             "train": {"batch_size": 2}, "collect": {}, "copy_last": {"psnr": 20.0},
             "points": [{"step": 10, "seconds": 60.0, "scores": {"psnr": 21.0}}], "beats_copy_last": {}}
    named = module.render([("amd-epyc", {"entries": [{**entry, "cpu": "AuthenticAMD family 25 model 1"}]})])
    assert "2 threads on AuthenticAMD family 25 model 1, the stages' pinned kernels" in named
    assert "2 threads, the stages' pinned kernels" in module.render([("amd-epyc", {"entries": [entry]})])


def test_an_entry_of_several_networks_names_each_networks_batch():
    """A family of several networks (the VQ family's VQ-VAE and priors) has no one batch_size: the rendered
    entry names each component's, and a one-network entry its own."""
    module = load_benchmark("learning_table")
    entry = {"run": "driving-x", "label": "points 1", "clips": "test", "threads": 2, "pinned": True,
             "train": {"vqvae": {"batch_size": 4, "steps": 8}, "prior_top": {"batch_size": 16, "steps": 4}},
             "collect": {}, "copy_last": {"psnr": 20.0},
             "points": [{"step": {"vqvae": 8, "prior_top": 4}, "seconds": 60.0, "scores": {"psnr": 21.0}}],
             "beats_copy_last": {}}
    text = module.render([("amd-epyc", {"entries": [entry]})])
    assert "1 points on the test clips, batches vqvae 4, prior_top 16, 2 threads" in text
    assert "batch ," not in text
    one = {**entry, "train": {"batch_size": 8, "steps": 10}}
    assert "on the test clips, batch 8, 2 threads" in module.render([("amd-epyc", {"entries": [one]})])


def test_the_sharpest_point_is_the_least_lpips_above_its_own_copy_last():
    """Issue 48's stretch: per benchmark the point whose mean-of-N LPIPS is least above the copy-last of its own
    entry (entries on another recording have another level), with FVD and motion beside it; an entry without
    mean-of-N LPIPS is left out, and a tie goes to the earlier point."""
    module = load_benchmark("learning_table")

    def entry(run, base, lpips, label="10x2"):
        return {"run": run, "benchmark": run.split("-")[0], "label": label,
                "copy_last": {"lpips_mean": base, "fvd": 100.0},
                "points": [{"step": 10 * (i + 1), "seconds": 60.0 * (i + 1), "scores": {"lpips_mean": v, "fvd": 90.0}}
                           for i, v in enumerate(lpips)]}

    entries = [entry("driving-a", 0.15, [0.30, 0.20]),           # gaps 0.15, 0.05
               entry("driving-b", 0.20, [0.24, 0.24], "old"),    # gaps 0.04 twice: the first wins, lower than a's
               entry("dynamics-c", 0.10, [0.09]),                # below copy-last: gap -0.01
               {**entry("smmnist-d", 0.2, [0.1]), "copy_last": {"fvd": 1.0}}]  # no copy-last LPIPS: left out
    picked = module.sharpest(entries)
    assert sorted(picked) == ["driving", "dynamics"]
    assert picked["driving"][0]["label"] == "old" and picked["driving"][1]["step"] == 10
    assert picked["dynamics"][1]["scores"]["lpips_mean"] == 0.09
    text = module.render_sharpest([("amd-epyc", {"entries": entries})])
    assert "| dynamics | `dynamics-c` [10x2] | 10 | 1.0 | **0.090** | 0.100 | **90** | 100 |  |" in text
    assert "| driving | `driving-b` [old] | 10 | 1.0 | 0.240 | 0.200 |" in text and "smmnist" not in text
    assert module.render_sharpest([("amd-epyc", {"entries": []})]) == ""
