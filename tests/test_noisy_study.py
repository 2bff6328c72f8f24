"""The noisy-VQ study's measures (genvid.models.vq.noisy_study) against hand computations and
hand-made codebooks, and the study config's checks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from genvid.context import RunContext
from genvid.data.noisy_vq import MEASURES, ROW_KEYS, TIER_KEYS, TIERS, NoisyVQConfig, check_study
from genvid.data.probe import ProbeData, ProbeSet, evenly
from genvid.errors import GenvidError, ParamError
from genvid.metrics.image import psnr
from genvid.models.vq import noisy_study as S
from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig, reflect_indices

TINY = dict(channels=8, res_channels=4, res_blocks=1, codebook_size=8, code_dim=4, in_channels=1)


def test_average_ranks_share_ties():
    assert S.average_ranks(np.array([10, 20, 20, 5])).tolist() == [2.0, 3.5, 3.5, 1.0]


@pytest.mark.parametrize("seed", range(3))
def test_spearman_matches_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, 5, 40), rng.normal(size=40)
    assert S.spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert S.spearman(x, 2 * x + 1) == pytest.approx(1.0)
    assert S.spearman(np.ones(5), y[:5]) == 0.0  # a constant has no ranking


def test_an_index_ordered_codebook_scores_near_one_and_a_shuffled_one_near_zero():
    k = 64
    line = torch.arange(k, dtype=torch.float64)[:, None] * torch.tensor([[0.3, -0.2, 0.1, 0.5]])
    curve = torch.stack([torch.cos(torch.arange(k) / 20.0), torch.sin(torch.arange(k) / 20.0)], 1)
    assert S.codebook_order(line) == pytest.approx(1.0)
    assert S.codebook_order(curve) > 0.95  # monotone in |i - j| along an arc shorter than a half turn
    shuffled = line[torch.randperm(k, generator=torch.Generator().manual_seed(0))]
    assert abs(S.codebook_order(shuffled)) < 0.1
    # By hand, K = 3 on a line with a fold: distances (0,1)=1, (0,2)=1, (1,2)=2 against |i-j| 1, 2, 1.
    folded = torch.tensor([[0.0], [1.0], [-1.0]])
    assert S.codebook_order(folded) == pytest.approx(S.spearman(np.array([1, 2, 1]), np.array([1.0, 1.0, 2.0])))
    assert S.codebook_order(folded) == pytest.approx(-0.5)


def test_pca_of_a_line_codebook_is_the_index_with_a_positive_sign():
    k = 16
    codes = torch.arange(k, dtype=torch.float64)[:, None] * torch.tensor([[-1.0, 2.0, 0.5]])
    pca = S.pca_2d(codes)
    assert pca.shape == (k, 2)
    assert np.all(np.diff(pca[:, 0]) > 0)  # the line is the first component, increasing with the index
    np.testing.assert_allclose(pca[:, 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(np.diff(pca[:, 0]), np.linalg.norm([-1.0, 2.0, 0.5]))
    np.testing.assert_allclose(S.pca_2d(-codes), pca)  # the sign convention, not the data's


def test_reflected_indices_stay_neighbours():
    j = torch.tensor([-3, -1, 0, 4, 5, 6, 9])
    assert reflect_indices(j, 5).tolist() == [3, 1, 0, 4, 3, 2, 1]
    assert reflect_indices(j, 1).tolist() == [0] * 7


def test_ridge_probe_on_separable_and_on_uninformative_features():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    targets = np.eye(3)[labels]
    informative = np.eye(3)[labels] * 5 + rng.normal(scale=0.1, size=(200, 3))
    result = S.ridge_probe(informative[:120], targets[:120], informative[120:], targets[120:])
    assert result["accuracy"] == 1.0 and result["ridge"] in S.RIDGES
    majority = np.bincount(labels[:120]).argmax()
    assert result["majority"] == pytest.approx((labels[120:] == majority).mean())
    noise = rng.normal(size=(200, 5))
    chance = S.ridge_probe(noise[:120], targets[:120], noise[120:], targets[120:])
    assert chance["accuracy"] < 0.6
    # Several right answers (two digits): a pick is right when it is any of them.
    two = np.zeros((4, 3))
    two[:, 0] = 1
    two[:2, 1] = 1
    x = np.array([[1.0], [1.0], [0.0], [0.0]])
    assert S.ridge_probe(x, two, x, two)["accuracy"] == 1.0


def test_index_features_are_the_indices_as_numbers():
    idx = torch.tensor([[[[0, 7]], [[3, 1]]]])  # [B=1, T=2, H=1, W=2], K = 8
    np.testing.assert_allclose(S.index_features(idx, 8), [[0.0, 1.0, 3 / 7, 1 / 7]])


class _Clips(torch.utils.data.Dataset):
    """Normalised clips [C, T, H, W], one tensor per item (as the study's sets give them)."""

    def __init__(self, data: torch.Tensor):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.data[i]


def _probe(n_fit: int = 8, n_held: int = 4) -> ProbeData:
    g = torch.Generator().manual_seed(3)
    fit = torch.randn(n_fit, 1, 8, 16, 16, generator=g)
    held = torch.randn(n_held, 1, 8, 16, 16, generator=g)
    targets = np.eye(2, dtype=np.float32)
    return ProbeData(ProbeSet(_Clips(fit), targets[np.arange(n_fit) % 2]),
                     ProbeSet(_Clips(held), targets[np.arange(n_held) % 2]), "parity")


def test_measure_follows_its_definitions_on_a_tiny_tokenizer():
    torch.manual_seed(0)
    model = VQVAE3D(VQVAEConfig(**TINY, noisy_sigma=1.0)).eval()
    probe = _probe()
    mean, std = np.array([0.5]), np.array([0.25])
    out = S.measure(model, probe, mean, std, batch_size=3)
    assert set(out) == {"psnr", "ssim", "probe_majority", "clips", *TIERS}
    x = probe.held_out.clips.data

    def pix(v):
        return (v * 0.25 + 0.5).clamp(0, 1).transpose(1, 2)

    with torch.no_grad():
        top, bottom = model.encode(x)
        clean = psnr(pix(model.decode_codes(top, bottom)), pix(x)).mean(1)
        moved = [psnr(pix(model.decode_codes(reflect_indices(top + o, 8), bottom)), pix(x)).mean(1) for o in (1, -1)]
    assert out["psnr"] == pytest.approx(float(clean.mean()))
    # (batches of 3 sum in another order: equal to float32 rounding)
    assert out["top"]["shift_psnr_drop"] == pytest.approx(float((clean - (moved[0] + moved[1]) / 2).mean()), abs=1e-5)
    assert out["top"]["order"] == pytest.approx(S.codebook_order(model.quant_top.embed))
    # issue 46: per held-out clip, what the report's bootstrap resamples; their means are the row's figures
    clips = out["clips"]
    assert clips["cluster"] == [0, 1, 2, 3]  # independent clips: one cluster each
    assert clips["psnr"] == pytest.approx(clean.tolist(), abs=1e-6)
    assert clips["top"]["shift_psnr_drop"] == pytest.approx((clean - (moved[0] + moved[1]) / 2).tolist(), abs=1e-5)
    for tier in TIERS:
        assert set(clips[tier]["probe_correct"]) <= {0, 1} and len(clips[tier]["probe_correct"]) == 4
        assert np.mean(clips[tier]["probe_correct"]) == out[tier]["probe_accuracy"]
    assert out["bottom"]["codes_used"] == len(torch.unique(bottom))
    # The noise is off: measuring twice gives the same numbers and leaves the codebook alone.
    embed = model.quant_bottom.embed.clone()
    assert S.measure(model, probe, mean, std, batch_size=3) == out
    assert torch.equal(model.quant_bottom.embed, embed)


def test_study_trains_each_pair_once_in_order():
    probe = _probe()
    calls = []

    def train_one(sigma, seed):
        calls.append((sigma, seed))
        torch.manual_seed(seed)
        return VQVAE3D(VQVAEConfig(**TINY, noisy_sigma=sigma))

    rows = S.study([0.0, 0.5], [1, 2], train_one, probe, np.array([0.5]), np.array([0.25]))
    assert calls == [(0.0, 1), (0.0, 2), (0.5, 1), (0.5, 2)]
    assert [(r["sigma"], r["seed"]) for r in rows] == calls
    check_study({"run": "r", "rows": rows}, "study.json", run="r")


def test_study_file_check_names_the_bad_key():
    clips = {"cluster": [0, 1], "psnr": [20.0, 21.0], **{t: {"shift_psnr_drop": [1.0, 2.0], "probe_correct": [0, 1]}
                                                       for t in TIERS}}
    row = {**{k: 1.0 for k in ROW_KEYS}, **{t: {**{k: 1.0 for k in TIER_KEYS}, "pca": [[0.0, 1.0]]} for t in TIERS},
           "clips": clips}
    check_study({"run": "a", "rows": [row]}, "s.json", run="a")
    with pytest.raises(GenvidError, match=r"s.json: rows\[0\].clips.top.probe_correct must be a non-empty list of finite "
                                          r"numbers \(one per held-out clip; rerun stage noisy_vq\)"):
        check_study({"run": "a", "rows": [{**row, "clips": {**clips, "top": {"shift_psnr_drop": [1.0, 2.0]}}}]}, "s.json")
    short = {**row, "clips": {**clips, "psnr": [20.0]}}
    with pytest.raises(GenvidError, match=r"rows\[1\].clips.psnr has 1 clips, the first row 2"):
        check_study({"run": "a", "rows": [row, short]}, "s.json")
    with pytest.raises(GenvidError, match="not of 'b'"):
        check_study({"run": "a", "rows": [row]}, "s.json", run="b")
    bad = {**row, "top": {**row["top"], "order": float("nan")}}
    with pytest.raises(GenvidError, match=r"s.json: rows\[0\].top.order must be a finite number"):
        check_study({"run": "a", "rows": [bad]}, "s.json")
    with pytest.raises(GenvidError, match="no 'rows'"):
        check_study([], "s.json")
    assert {m for m, _, _ in MEASURES} <= set(TIER_KEYS)


def test_config_refuses_an_empty_or_repeated_grid():
    from genvid.config import parse_config
    good = dict(benchmark="smmnist", model="vq", sigmas=[0.0, 0.5], seeds=[0], fit_clips=8, held_out_clips=4)
    assert parse_config(NoisyVQConfig, good, "noisy_vq.r").sigmas == (0.0, 0.5)
    for key, value in (("sigmas", []), ("sigmas", [0.5, 0.5]), ("sigmas", [-1.0]), ("seeds", [])):
        with pytest.raises(ParamError, match=f"noisy_vq.r.*{key}"):
            parse_config(NoisyVQConfig, {**good, key: value}, "noisy_vq.r")


def test_evenly_keeps_the_ends():
    assert evenly(10, 3) == [0, 4, 9]  # 4.5 rounds half to even
    assert evenly(3, 5) == [0, 1, 2]


def test_study_config_checks_the_entry_against_its_run(repo_root):
    from genvid import params as P
    from genvid.profiles import apply, load_profile
    from stages.noisy_vq import study_config, variant

    # the paper profile's study (the default profile has none since issue 48)
    params = apply(P.read_params(repo_root / "params.yaml"), load_profile("paper", repo_root / "profiles"))
    cfg, run = study_config(params, P.run(params, "smmnist-vq"), "params.yaml")
    assert run.train_params["vqvae"]["steps"] == params["noisy_vq"]["smmnist-vq"]["overrides"]["train"]["vqvae"]["steps"]
    assert run.model_params["vqvae"]["in_channels"] == 1  # the run's own overrides stay
    ctx = RunContext(run, None, Path("f"), Path("s"), Path("t"), Path("models/smmnist-vq"),
                     Path("reports/smmnist/runs/smmnist-vq"), Path("checkpoints/smmnist-vq"))
    v = variant(ctx, 0.5, 2, Path("reports/noisy_vq/smmnist-vq"))
    assert (v.run.model_params["vqvae"]["noisy_sigma"], v.run.train_params["vqvae"]["seed"]) == (0.5, 2)
    assert v.workdir == Path("checkpoints/smmnist-vq~noisy_vq-sigma0.5_seed2")
    assert v.report_dir == Path("reports/noisy_vq/smmnist-vq/sigma0.5_seed2")
    entry = params["noisy_vq"]["smmnist-vq"]
    with pytest.raises(ParamError, match="noisy_vq.smmnist-vq.benchmark must be the run's benchmark 'smmnist'"):
        study_config({**params, "noisy_vq": {"smmnist-vq": {**entry, "benchmark": "driving"}}},
                     P.run(params, "smmnist-vq"), "params.yaml")
    with pytest.raises(ParamError, match="noisy_vq.smmnist-vq.overrides may hold only 'models' and 'train'"):
        study_config({**params, "noisy_vq": {"smmnist-vq": {**entry, "overrides": {"runs": {}}}}},
                     P.run(params, "smmnist-vq"), "params.yaml")
    with pytest.raises(ParamError, match=r"noisy_vq.smmnist-vq.overrides.train.vqvae.stepz does not exist"):
        study_config({**params, "noisy_vq": {"smmnist-vq": {**entry, "overrides": {"train": {"vqvae": {"stepz": 1}}}}}},
                     P.run(params, "smmnist-vq"), "params.yaml")
    rfn = {**entry, "model": "rfn"}
    with pytest.raises(ParamError, match="run smmnist-rfn's model 'rfn' has no VQ-VAE"):
        study_config({**params, "noisy_vq": {"smmnist-rfn": {**rfn, "overrides": {}}}},
                     P.run(params, "smmnist-rfn"), "params.yaml")
