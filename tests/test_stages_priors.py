"""The prior stages (train_prior --level top/bottom → sample) on tiny priors and structured codes.

Metrics against hand computations, priors that learn the synthetic structure (and the bottom
prior its condition), byte-identical reruns, the contracted samples.h5, context codes kept by
generation, and one-line errors on bad input with nothing written.
"""
import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
import yaml

import genvid.generate as G
from conftest import ROOT, make_frames_file, venv_env
from genvid.data.latents import LatentDataset, read_latent_info
from genvid.data.split import SPLITS
from genvid.io import write_json
from genvid.models.pixelsnail3d import PixelSNAIL3d
from genvid.models.store import load_prior, load_vqvae, save_model
from genvid.models.vqvae3d import VQVAE3D, VQVAEConfig
from genvid.priors import evaluate_prior, prior_config
from stages.sample import main as sample_main
from stages.sample import to_uint8
from stages.train_prior import main as train_prior_main
from test_priors import CLIP_LEN, K, SHAPES, TINY_PRIOR, write_structured_latents

torch.set_num_threads(1)

RES, FRAMES = 32, 48
COUNTS = {"train": 64, "val": 16, "test": 6}
TEST_STARTS = [0, 5, 10, 20, 30, 40]  # frame indices of the test clips (the last ends at frame 47)
TINY_VQVAE = dict(channels=16, res_channels=8, res_blocks=1, codebook_size=K, code_dim=8)
TINY_TRAIN = dict(steps=30, batch_size=8, lr=0.01, warmup_steps=3, grad_clip=0.5, val_every=15,
                  val_batches=2, ckpt_every=10, log_every=5, num_workers=0)
SAMPLE = dict(context_frames=4, num_samples=2, temperature=1.0, top_k=0, batch_size=4, max_clips=3, seed=3)
MEAN, STD = [0.5, 0.4, 0.3], [0.25, 0.2, 0.3]


# ----------------------------------------------------------------------------- helpers

def write_params(path, sample=None, **sections):
    """The repo's params.yaml with the tiny priors; ``sections`` update prior_top, prior_bottom, ..."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["clips"]["clip_len"] = CLIP_LEN
    for level in ("top", "bottom"):
        params[f"prior_{level}"].update(TINY_PRIOR[level])
        params[f"train_prior_{level}"].update(TINY_TRAIN)
    params["sample"].update(SAMPLE, **(sample or {}))
    for name, values in sections.items():
        params[name].update(values)
    path.write_text(yaml.safe_dump(params))
    return path


def stage_env():
    env = venv_env()
    env["OMP_NUM_THREADS"] = "1"  # same thread count in every run: same float reductions
    return env


def train_args(d, level, out_dir, params=None, latents=None):
    return ["--level", level, "--params", params or d.params, "--latents", latents or d.latents,
            "--out", out_dir / f"prior_{level}.pt", "--metrics", out_dir / f"prior_{level}_metrics.json",
            "--curves", out_dir / f"train_prior_{level}", "--workdir", out_dir / f"work_{level}"]


def sample_args(d, out, params=None, latents=None, prior_top=None):
    return ["--params", params or d.params, "--frames", d.frames, "--stats", d.stats,
            "--latents", latents or d.latents, "--vqvae", d.vqvae, "--prior-top", prior_top or d.prior["top"],
            "--prior-bottom", d.prior["bottom"], "--out", out]


def call(main, args):
    main([str(a) for a in args])


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_in_process(main, argv, capsys):
    """Call a stage's main() (the @cli_main wrapper the CLI runs); return (exit code, stderr lines)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    return exc.value.code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def assert_one_line_error(code, lines, *fragments):
    assert code == 2, lines
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(autouse=True)
def restore_torch_flags():
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Frames, stats, an (untrained) tiny VQ-VAE and structured latents; both priors trained
    (top through the CLI in a subprocess, bottom in-process) and one sample run."""
    root = tmp_path_factory.mktemp("priors")
    d = SimpleNamespace(root=root, frames=make_frames_file(root / "frames.h5", (FRAMES,), RES),
                        stats=root / "stats.json", vqvae=root / "vqvae.pt", latents=root / "latents.h5",
                        params=write_params(root / "params.yaml"), run=root / "run")
    write_json(d.stats, {"mean": MEAN, "std": STD, "pixels_per_channel": 1, "scale": "pixel/255"})
    cfg = VQVAEConfig(**TINY_VQVAE)
    torch.manual_seed(0)
    vqvae = VQVAE3D(cfg)
    assert vqvae.code_shapes(CLIP_LEN, RES, RES) == (SHAPES["top"], SHAPES["bottom"])
    save_model(d.vqvae, "vqvae3d", cfg.to_dict(), vqvae)
    starts = {"train": np.arange(64) % 40, "val": np.arange(16) * 2, "test": TEST_STARTS}
    write_structured_latents(d.latents, COUNTS, starts)

    result = subprocess.run([sys.executable, "-m", "stages.train_prior", *map(str, train_args(d, "top", d.run))],
                            cwd=ROOT, env=stage_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train_prior_top: test " in result.stdout
    call(train_prior_main, train_args(d, "bottom", d.run))
    d.prior = {level: d.run / f"prior_{level}.pt" for level in ("top", "bottom")}
    d.metrics = {level: d.run / f"prior_{level}_metrics.json" for level in ("top", "bottom")}
    d.samples = d.run / "samples.h5"
    call(sample_main, sample_args(d, d.samples))
    return d


# ----------------------------------------------------------------------------- train_prior

@pytest.mark.parametrize("level", ["top", "bottom"])
def test_train_prior_outputs(data, level):
    blob = torch.load(data.prior[level], weights_only=True)
    assert blob["kind"] == f"pixelsnail3d_{level}"
    section = yaml.safe_load(data.params.read_text())[f"prior_{level}"]
    expected = prior_config(section, level, read_latent_info(data.latents), f"prior_{level}")
    assert blob["config"] == dict(vars(expected))
    assert blob["state_dict"]["embed.weight"].shape == (K, 16)
    model, _ = load_prior(data.prior[level], level, K)

    metrics = json.loads(data.metrics[level].read_text())
    assert set(metrics) == {*SPLITS, "baselines", "parameters"}
    for split in SPLITS:
        m = metrics[split]
        assert m["clips"] == COUNTS[split]
        assert m["bits_per_code"] == pytest.approx(m["nll_nats"] / math.log(2), rel=1e-12)
        assert 0.0 <= m["accuracy"] <= 1.0
    assert metrics["parameters"] == sum(p.numel() for p in model.parameters())
    assert metrics["baselines"]["uniform_bits"] == 4.0  # log2 K
    with h5py.File(data.latents) as f:  # unigram: test codes under add-one-smoothed train frequencies
        counts = np.bincount(f["train"][level][:].ravel(), minlength=K) + 1.0
        log2_p = np.log2(counts / counts.sum())
        unigram = -log2_p[f["test"][level][:].ravel()].mean()
    assert metrics["baselines"]["unigram_bits"] == pytest.approx(unigram, rel=1e-12)
    # The test metrics are those of the saved model.
    again = evaluate_prior(model, LatentDataset(data.latents, "test"), level, 4, "test")
    assert again["nll_nats"] == pytest.approx(metrics["test"]["nll_nats"], rel=1e-6)

    curves = data.run / f"train_prior_{level}"
    train_rows = (curves / "train.tsv").read_text().splitlines()
    val_rows = (curves / "val.tsv").read_text().splitlines()
    assert {"step", "loss", "bits_per_code", "accuracy"} <= set(train_rows[0].split("\t"))
    assert {"step", "loss", "bits_per_code", "accuracy"} <= set(val_rows[0].split("\t"))
    assert [int(r.split("\t")[0]) for r in train_rows[1:]] == [5, 10, 15, 20, 25, 30]
    assert [int(r.split("\t")[0]) for r in val_rows[1:]] == [15, 30]
    header = train_rows[0].split("\t")
    for row in train_rows[1:]:
        cells = dict(zip(header, row.split("\t")))
        assert float(cells["bits_per_code"]) == pytest.approx(float(cells["loss"]) / math.log(2), rel=1e-5)


def test_trained_priors_learn_the_structure(data):
    for level in ("top", "bottom"):
        metrics = json.loads(data.metrics[level].read_text())
        bits, base = metrics["test"]["bits_per_code"], metrics["baselines"]
        # The synthetic codes have a flat histogram (unigram ~ uniform = 4 bits) but ~85 %
        # of them follow from their neighbours / the top codes.
        assert bits < base["uniform_bits"] - 1.0 and bits < base["unigram_bits"] - 1.0, (level, bits)
        assert metrics["test"]["accuracy"] > 0.5
    # The bottom prior uses its condition: other clips' top codes make the test codes less likely.
    model, _ = load_prior(data.prior["bottom"], "bottom", K)
    test = LatentDataset(data.latents, "test")
    true = evaluate_prior(model, test, "bottom", 8, "true top")["bits_per_code"]
    test.top = test.top.roll(1, dims=0)
    shuffled = evaluate_prior(model, test, "bottom", 8, "shuffled top")["bits_per_code"]
    assert shuffled > true + 0.5, (true, shuffled)


def test_train_prior_same_seed_gives_identical_bytes(data, tmp_path):
    for level in ("top", "bottom"):  # in-process, against the fixture's run (top: a subprocess)
        call(train_prior_main, train_args(data, level, tmp_path))
        for name in (f"prior_{level}.pt", f"prior_{level}_metrics.json",
                     f"train_prior_{level}/train.tsv", f"train_prior_{level}/val.tsv"):
            assert sha(tmp_path / name) == sha(data.run / name), name


# ----------------------------------------------------------------------------- sample

def test_samples_file_follows_the_contract(data):
    n, s, t = SAMPLE["max_clips"], SAMPLE["num_samples"], CLIP_LEN
    with h5py.File(data.samples) as f:
        assert set(f) == {"real", "recon", "full", "top_only", "bottom_only", "clip_index", "start"}
        for name in ("real", "recon"):
            assert f[name].shape == (n, t, RES, RES, 3) and f[name].dtype == np.uint8
        for name in G.VARIANTS:
            assert f[name].shape == (n, s, t, RES, RES, 3) and f[name].dtype == np.uint8
        assert f["clip_index"][:].tolist() == [0, 1, 2] and f["clip_index"].dtype == np.int64
        assert f["start"][:].tolist() == TEST_STARTS[:n] and f["start"].dtype == np.int64
        assert {k: v.item() for k, v in f.attrs.items()} == {
            "context_frames": 4, "num_samples": s, "temperature": 1.0, "top_k": 0, "clip_len": t, "seed": 3}
        real, recon, full = f["real"][:], f["recon"][:], f["full"][:]
    with h5py.File(data.frames) as f:
        for i, start in enumerate(TEST_STARTS[:n]):
            assert np.array_equal(real[i], f["frames"][start:start + t])
    vqvae, _ = load_vqvae(data.vqvae)
    test = LatentDataset(data.latents, "test")
    with torch.no_grad():
        expected = to_uint8(vqvae.decode_codes(test.top[:1], test.bottom[:1]), np.array(MEAN), np.array(STD))
    assert np.array_equal(recon[:1], expected)
    assert not np.array_equal(full[:, 0], full[:, 1])  # two samples of a clip differ


def test_generate_keeps_the_context_codes(data, monkeypatch):
    """Wrap the sampler generate() calls; check what it was given and what it returned."""
    calls = []

    def recording(prior, codes, start, generator, temperature, top_k, cond=None):
        out = sample_fast(prior, codes, start, generator, temperature, top_k, cond)
        calls.append(SimpleNamespace(prior=prior, codes=codes, start=start, cond=cond, out=out))
        return out

    sample_fast = G.sample_fast
    monkeypatch.setattr(G, "sample_fast", recording)
    vqvae, _ = load_vqvae(data.vqvae)
    top_prior, _ = load_prior(data.prior["top"], "top", K)
    bottom_prior, _ = load_prior(data.prior["bottom"], "bottom", K)
    test, s = LatentDataset(data.latents, "test"), SAMPLE["num_samples"]
    top, bottom = test.top[:2].repeat_interleave(s, 0), test.bottom[:2].repeat_interleave(s, 0)
    settings = G.SampleSettings(SAMPLE["context_frames"], SAMPLE["temperature"], SAMPLE["top_k"])
    generator = torch.Generator().manual_seed(SAMPLE["seed"] * 1_000_003)  # the stage's first batch
    decoded = G.generate(vqvae, top_prior, bottom_prior, top, bottom, CLIP_LEN, settings, generator)

    gen_top, gen_bottom, gen_bottom_true_top = calls
    # 4 of 8 frames: 1 of 2 top time steps (16 codes), 2 of 4 bottom time steps (128 codes).
    assert (gen_top.start, gen_bottom.start, gen_bottom_true_top.start) == (16, 128, 128)
    assert gen_top.prior is top_prior and gen_top.cond is None and torch.equal(gen_top.codes, top)
    assert gen_bottom.prior is bottom_prior and gen_bottom.cond is gen_top.out  # full pipeline
    assert gen_bottom_true_top.cond is top  # bottom_only diagnostic
    for c, true in ((gen_top, top), (gen_bottom, bottom), (gen_bottom_true_top, bottom)):
        out = c.out.flatten(1)
        assert torch.equal(out[:, :c.start], true.flatten(1)[:, :c.start])  # context kept
        assert not torch.equal(out[:, c.start:], true.flatten(1)[:, c.start:])  # the rest is drawn
        assert out.min() >= 0 and out.max() < K
    # Clips repeated S times draw different futures.
    assert not torch.equal(gen_top.out[0], gen_top.out[1]) or not torch.equal(gen_bottom.out[0], gen_bottom.out[1])
    with torch.no_grad():
        assert torch.equal(decoded["recon"], vqvae.decode_codes(top, bottom))
        assert torch.equal(decoded["full"], vqvae.decode_codes(gen_top.out, gen_bottom.out))
        assert torch.equal(decoded["top_only"], vqvae.decode_codes(gen_top.out, bottom))
        assert torch.equal(decoded["bottom_only"], vqvae.decode_codes(top, gen_bottom_true_top.out))
    # The stage stored exactly these videos for its first batch (clips 0 and 1, S samples each).
    with h5py.File(data.samples) as f:
        for variant in G.VARIANTS:
            video = to_uint8(decoded[variant], np.array(MEAN), np.array(STD)).reshape(2, s, *f[variant].shape[2:])
            assert np.array_equal(f[variant][:2], video), variant


def test_sample_same_seed_gives_identical_bytes(data, tmp_path):
    call(sample_main, sample_args(data, tmp_path / "samples.h5"))
    assert sha(tmp_path / "samples.h5") == sha(data.samples)


# ----------------------------------------------------------------------------- bad input

def test_sample_rejects_latents_with_a_larger_codebook(data, tmp_path, capsys):
    latents = write_structured_latents(tmp_path / "k32.h5", COUNTS, attrs={"codebook_size": 32})
    out = tmp_path / "out" / "samples.h5"
    code, err = run_in_process(sample_main, sample_args(data, out, latents=latents), capsys)
    assert_one_line_error(code, err, f"{data.prior['top']}: prior has K=16 but the latent file has codebook_size=32")
    assert not out.parent.exists()


@pytest.mark.parametrize("context,message", [
    (8, "sample.context_frames must be in [1, 7] for clips of 8 frames, got 8"),
    (2, "sample.context_frames=2 is not a whole number of top code time steps (4 frames each)"),
])
def test_sample_rejects_a_bad_context(data, tmp_path, capsys, context, message):
    params = write_params(tmp_path / "params.yaml", sample={"context_frames": context})
    out = tmp_path / "out" / "samples.h5"
    code, err = run_in_process(sample_main, sample_args(data, out, params=params), capsys)
    assert_one_line_error(code, err, message)
    assert not out.parent.exists()


def test_sample_rejects_latents_of_another_clip_length(data, tmp_path, capsys):
    latents = write_structured_latents(tmp_path / "l16.h5", COUNTS, attrs={"clip_len": 16})
    out = tmp_path / "out" / "samples.h5"
    code, err = run_in_process(sample_main, sample_args(data, out, latents=latents), capsys)
    assert_one_line_error(code, err, f"{latents}: codes of 16-frame clips but {data.params} has clips.clip_len=8")
    assert not out.parent.exists()


def test_sample_rejects_a_prior_of_another_code_grid(data, tmp_path, capsys):
    info = {"shapes": {"top": (1, 4, 4), "bottom": (2, 8, 8)}, "codebook_size": K}
    cfg = prior_config(TINY_PRIOR["top"], "top", info, "prior_top")
    prior = tmp_path / "prior_top.pt"
    save_model(prior, "pixelsnail3d_top", dict(vars(cfg)), PixelSNAIL3d(cfg))
    out = tmp_path / "out" / "samples.h5"
    code, err = run_in_process(sample_main, sample_args(data, out, prior_top=prior), capsys)
    assert_one_line_error(code, err, f"{prior}: prior models code grids [1, 4, 4] but {data.latents} has [2, 4, 4]")
    assert not out.parent.exists()


@pytest.mark.parametrize("level", ["top", "bottom"])
def test_train_prior_rejects_an_unknown_key(data, tmp_path, capsys, level):
    params = write_params(tmp_path / "params.yaml", **{f"prior_{level}": {"chanels": 16}})
    code, err = run_in_process(train_prior_main, train_args(data, level, tmp_path / "run", params=params), capsys)
    assert_one_line_error(code, err, f"{params}: prior_{level}.chanels is not a known parameter")
    assert os.listdir(tmp_path) == ["params.yaml"]


def test_train_prior_rejects_a_grid_set_in_params(data, tmp_path, capsys):
    params = write_params(tmp_path / "params.yaml", prior_top={"shape": [2, 4, 4]})
    code, err = run_in_process(train_prior_main, train_args(data, "top", tmp_path / "run", params=params), capsys)
    assert_one_line_error(code, err, f"{params}: prior_top.shape is set from the latent file")
    assert os.listdir(tmp_path) == ["params.yaml"]


@pytest.mark.parametrize("split,level,shape,message", [
    ("train", "top", (64, 2, 4), "'train/top' has shape (64, 2, 4), expected [64,T,H,W]"),
    ("test", "bottom", (6, 4, 8, 4), "'test' code shapes"),
])
def test_train_prior_rejects_a_wrongly_shaped_latent_file(data, tmp_path, capsys, split, level, shape, message):
    latents = tmp_path / "latents.h5"
    latents.write_bytes(data.latents.read_bytes())
    with h5py.File(latents, "r+") as f:
        del f[split][level]
        f[split].create_dataset(level, data=np.zeros(shape, np.int16))
    code, err = run_in_process(train_prior_main, train_args(data, "bottom", tmp_path / "run", latents=latents),
                               capsys)
    assert_one_line_error(code, err, f"{latents}: {message}")
    assert sorted(os.listdir(tmp_path)) == ["latents.h5"]
