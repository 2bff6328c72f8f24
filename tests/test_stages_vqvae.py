"""The VQ-VAE stages (train_vqvae → eval_vqvae → extract_latents) on a tiny config.

Happy path through the CLIs as subprocesses, byte-identical reruns, exact resume after
SIGKILL, extracted codes against `VQVAE3D.encode`, and one-line errors on bad input.
"""
import hashlib
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from conftest import ROOT, venv_env
from genvid.data.clips import ClipDataset, denormalize
from genvid.data.frames import write_frames
from genvid.data.split import SPLITS
from genvid.models.store import load_model
from genvid.models.vqvae3d import VQVAE3D, VQVAEConfig
from genvid.train import CHECKPOINT_NAME
from stages.eval_vqvae import main as eval_main
from stages.extract_latents import main as extract_main
from stages.normalize import main as normalize_main
from stages.split import main as split_main

torch.set_num_threads(1)

RES, CLIP_LEN, EVAL_STRIDE = 32, 8, 4
TINY_VQVAE = dict(channels=16, res_channels=8, res_blocks=1, codebook_size=16, code_dim=8)
TINY_TRAIN = dict(steps=12, batch_size=2, warmup_steps=2, val_every=6, val_batches=2, ckpt_every=4,
                  log_every=3, num_workers=0, seed=0)


# ----------------------------------------------------------------------------- helpers

def smooth_episodes(lengths, resolution=RES, seed=0):
    """Low-frequency colour fields panning sideways: compressible video, so the codes vary."""
    g = torch.Generator().manual_seed(seed)
    for n in lengths:
        coarse = torch.rand(1, 3, 4, 8, generator=g)
        field = F.interpolate(coarse, size=(resolution, 2 * resolution), mode="bicubic", align_corners=False)
        field = (field.clamp(0, 1)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        frames = np.stack([field[:, t % resolution:t % resolution + resolution] for t in range(n)])
        yield SimpleNamespace(frames=frames, actions=np.zeros((n, 3), np.float32), speed=np.zeros(n, np.float32))


def stage_env():
    env = venv_env()
    env["OMP_NUM_THREADS"] = "1"  # same thread count in every run: same float reductions
    return env


def stage(name, *args):
    result = subprocess.run([sys.executable, "-m", f"stages.{name}", *map(str, args)], cwd=ROOT,
                            env=stage_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def write_params(path, vqvae=None, train=None):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["clips"] = {"clip_len": CLIP_LEN, "train_stride": 1, "eval_stride": EVAL_STRIDE}
    params["vqvae"].update(TINY_VQVAE, **(vqvae or {}))
    params["train_vqvae"].update(TINY_TRAIN, **(train or {}))
    path.write_text(yaml.safe_dump(params))
    return path


def data_args(d):
    return ["--frames", d.frames, "--split", d.split, "--stats", d.stats]


def train(d, out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    return stage("train_vqvae", "--params", d.params, *data_args(d), "--out", out_dir / "vqvae.pt",
                 "--curves", out_dir / "curves", "--workdir", out_dir / "work")


def evaluate(d, model, out):
    return stage("eval_vqvae", "--params", d.params, *data_args(d), "--model", model, "--out", out)


def extract(d, model, out):
    return stage("extract_latents", "--params", d.params, *data_args(d), "--model", model, "--out", out)


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """frames → split → stats, then one train → eval → extract run shared by the tests."""
    root = tmp_path_factory.mktemp("vqvae")
    lengths = (48, 48, 48)
    write_frames(root / "frames.h5", smooth_episodes(lengths), sum(lengths), RES, {"source": "synthetic"})
    d = SimpleNamespace(root=root, frames=root / "frames.h5", split=root / "split.json",
                        stats=root / "stats.json", params=write_params(root / "params.yaml"))
    # The data stages in-process (their CLIs are tested in test_stages_data.py): saves two startups.
    split_main(["--params", str(d.params), "--frames", str(d.frames), "--out", str(d.split)])
    normalize_main(["--params", str(d.params), "--frames", str(d.frames), "--split", str(d.split),
                    "--out", str(d.stats)])
    run = root / "run"
    train(d, run)
    d.model, d.curves, d.workdir = run / "vqvae.pt", run / "curves", run / "work"
    d.metrics, d.latents = run / "vqvae_metrics.json", run / "latents.h5"
    evaluate(d, d.model, d.metrics)
    extract(d, d.model, d.latents)
    return d


@pytest.fixture
def restore_torch_flags():
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


# ----------------------------------------------------------------------------- happy path

def test_train_eval_extract_outputs(data):
    import json

    blob = torch.load(data.model, weights_only=True)
    assert blob["kind"] == "vqvae3d"
    assert blob["config"] == VQVAEConfig.from_dict(yaml.safe_load(data.params.read_text())["vqvae"]).to_dict()
    assert blob["config"]["codebook_size"] == 16 and blob["state_dict"]["quant_top.embed"].shape == (16, 8)
    state = torch.load(data.workdir / CHECKPOINT_NAME, weights_only=True)
    assert state["step"] == TINY_TRAIN["steps"]
    for k, v in blob["state_dict"].items():  # the model file holds the final checkpoint's weights
        assert torch.equal(v, state["model"][k]), k

    train_tsv = (data.curves / "train.tsv").read_text().splitlines()
    assert train_tsv[0].split("\t") == ["step", "loss", "commitment", "mse", "perplexity_bottom",
                                        "perplexity_top", "lr"]
    assert [int(r.split("\t")[0]) for r in train_tsv[1:]] == [3, 6, 9, 12]
    val_tsv = (data.curves / "val.tsv").read_text().splitlines()
    assert [int(r.split("\t")[0]) for r in val_tsv[1:]] == [6, 12]

    metrics = json.loads(data.metrics.read_text())
    assert set(metrics) == {*SPLITS, "bits_reduction", "code_shapes"}
    assert metrics["code_shapes"] == {"top": [2, 4, 4], "bottom": [4, 8, 8]}
    # 1 - (2·4·4 + 4·8·8) codes · log2(16) bits / (3·8·32·32 pixels · 8 bits)
    assert metrics["bits_reduction"] == pytest.approx(1 - (32 + 256) * 4 / (3 * 8 * 32 * 32 * 8), abs=1e-12)
    for split in SPLITS:
        m = metrics[split]
        n = len(ClipDataset(data.frames, data.split, data.stats, split, CLIP_LEN, EVAL_STRIDE))
        assert m["clips"] == n > 0
        assert 0 < m["mse_normalized"] < 10 and 0 < m["psnr"] < 100 and -1 <= m["ssim"] <= 1
        for level in ("top", "bottom"):
            used = m[f"{level}_codes_used"]
            assert m[f"{level}_usage"] == pytest.approx(used / 16)
            assert 1.0 - 1e-9 <= m[f"{level}_perplexity"] <= used + 1e-9

    with h5py.File(data.latents) as f:
        assert {k: int(v) for k, v in f.attrs.items()} == {
            "codebook_size": 16, "clip_len": CLIP_LEN, "stride_train": 1, "stride_val": EVAL_STRIDE,
            "stride_test": EVAL_STRIDE}
        for split in SPLITS:
            stride = 1 if split == "train" else EVAL_STRIDE
            n = len(ClipDataset(data.frames, data.split, data.stats, split, CLIP_LEN, stride))
            assert f[split]["top"].shape == (n, 2, 4, 4) and f[split]["bottom"].shape == (n, 4, 8, 8)
            assert f[split]["top"].dtype == np.int16 and f[split]["start"].dtype == np.int64


def load_tiny(path):
    return load_model(path, "vqvae3d", lambda c: VQVAE3D(VQVAEConfig.from_dict(c)))[0]


def test_eval_metrics_match_a_hand_computation(data):
    """Test-split PSNR, SSIM (scikit-image) and code usage recomputed clip by clip."""
    import json

    from skimage.metrics import structural_similarity

    model = load_tiny(data.model)
    ds = ClipDataset(data.frames, data.split, data.stats, "test", CLIP_LEN, EVAL_STRIDE)
    psnrs, ssims, tops, bottoms = [], [], set(), set()
    with torch.no_grad():
        for i in range(len(ds)):
            x = ds[i][None]
            recon = model(x).recon
            pred = denormalize(recon, ds.mean, ds.std)[0].permute(1, 2, 3, 0).double().numpy()  # [T,H,W,3]
            real = ds.raw(i).astype(np.float64) / 255.0
            for p, r in zip(pred, real):
                psnrs.append(10 * math.log10(1 / np.mean((p - r) ** 2)))
                ssims.append(structural_similarity(p, r, gaussian_weights=True, sigma=1.5, data_range=1.0,
                                                   use_sample_covariance=False, channel_axis=-1))
            top, bottom = model.encode(x)
            tops |= set(top.flatten().tolist())
            bottoms |= set(bottom.flatten().tolist())
    m = json.loads(data.metrics.read_text())["test"]
    assert m["psnr"] == pytest.approx(np.mean(psnrs), abs=1e-4)
    assert m["ssim"] == pytest.approx(np.mean(ssims), abs=1e-4)
    assert m["top_codes_used"] == len(tops) and m["bottom_codes_used"] == len(bottoms)


def test_extracted_codes_equal_encode(data):
    model = load_tiny(data.model)
    with h5py.File(data.latents) as f:
        for split in SPLITS:
            stride = 1 if split == "train" else EVAL_STRIDE
            ds = ClipDataset(data.frames, data.split, data.stats, split, CLIP_LEN, stride)
            assert np.array_equal(f[split]["start"][:], ds.starts)
            rows = sorted({0, len(ds) // 2, len(ds) - 1})
            top, bottom = model.encode(torch.stack([ds[i] for i in rows]))
            assert np.array_equal(f[split]["top"][rows], top.numpy())
            assert np.array_equal(f[split]["bottom"][rows], bottom.numpy())
        # Codes that never vary would make the comparison above vacuous.
        assert len(np.unique(f["train"]["bottom"][:])) > 1


def test_same_seed_gives_identical_bytes(data, tmp_path, restore_torch_flags):
    train(data, tmp_path)
    assert sha(tmp_path / "vqvae.pt") == sha(data.model)
    for name in ("train.tsv", "val.tsv"):
        assert (tmp_path / "curves" / name).read_bytes() == (data.curves / name).read_bytes()
    # Reruns in this process (one thread, like the stage subprocesses) against the CLI's bytes.
    args = ["--params", str(data.params), *map(str, data_args(data)), "--model", str(tmp_path / "vqvae.pt")]
    eval_main([*args, "--out", str(tmp_path / "m.json")])
    extract_main([*args, "--out", str(tmp_path / "l.h5")])
    assert sha(tmp_path / "m.json") == sha(data.metrics)
    assert sha(tmp_path / "l.h5") == sha(data.latents)


# ----------------------------------------------------------------------------- bad input

def run_in_process(name, argv, capsys):
    """Call the stage's main() (the same @cli_main wrapper the CLI runs); return (code, stderr lines)."""
    import importlib

    main = importlib.import_module(f"stages.{name}").main
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return exc.value.code, err


def assert_one_line_error(code, lines, *fragments):
    assert code == 2, lines
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("name", ["eval_vqvae", "extract_latents"])
def test_model_from_another_config_is_rejected(data, tmp_path, capsys, restore_torch_flags, name):
    params = write_params(tmp_path / "params.yaml", vqvae={"codebook_size": 32})
    out = tmp_path / "out"
    code, err = run_in_process(name, ["--params", params, *data_args(data), "--model", data.model,
                                      "--out", out], capsys)
    assert_one_line_error(code, err, str(data.model), "vqvae.codebook_size=16", "32")
    assert not out.exists() and os.listdir(tmp_path) == ["params.yaml"]


@pytest.mark.parametrize("name", ["eval_vqvae", "extract_latents"])
def test_truncated_model_file_is_rejected(data, tmp_path, capsys, restore_torch_flags, name):
    model = tmp_path / "vqvae.pt"
    model.write_bytes(data.model.read_bytes()[:2000])
    out = tmp_path / "out"
    code, err = run_in_process(name, ["--params", data.params, *data_args(data), "--model", model,
                                      "--out", out], capsys)
    assert_one_line_error(code, err, f"{model}: not a readable model file")
    assert not out.exists()


def test_stats_missing_a_channel_is_rejected_by_train(data, tmp_path, capsys):
    stats = tmp_path / "stats.json"
    stats.write_text('{"mean": [0.5, 0.5], "std": [0.3, 0.3, 0.3], "scale": "pixel/255"}')
    out = tmp_path / "run"
    code, err = run_in_process("train_vqvae", ["--params", data.params, "--frames", data.frames,
                                               "--split", data.split, "--stats", stats,
                                               "--out", out / "vqvae.pt", "--curves", out / "curves",
                                               "--workdir", out / "work"], capsys)
    assert_one_line_error(code, err, f"{stats}: 'mean' must list 3 channel values, got 2")
    assert not out.exists()


@pytest.mark.parametrize("name", ["train_vqvae", "eval_vqvae", "extract_latents"])
def test_unknown_vqvae_key_is_rejected(data, tmp_path, capsys, name):
    params = write_params(tmp_path / "params.yaml", vqvae={"codebook_szie": 16})
    out = tmp_path / "run"
    extra = (["--curves", out / "curves", "--workdir", out / "work"] if name == "train_vqvae"
             else ["--model", data.model])
    code, err = run_in_process(name, ["--params", params, *data_args(data), "--out", out / "x", *extra], capsys)
    assert_one_line_error(code, err, "vqvae.codebook_szie is not a known parameter")
    assert not out.exists()


def test_bad_model_through_the_cli_exits_2(data, tmp_path):
    """The same check end to end in a real process: exit status 2, one stderr line."""
    model = tmp_path / "vqvae.pt"
    model.write_bytes(b"not a zip file")
    out = tmp_path / "latents.h5"
    result = subprocess.run([sys.executable, "-m", "stages.extract_latents", "--params", str(data.params),
                             *map(str, data_args(data)), "--model", str(model), "--out", str(out)],
                            cwd=ROOT, env=stage_env(), capture_output=True, text=True)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert_one_line_error(result.returncode, lines, f"{model}: not a readable model file")
    assert not out.exists()


# ----------------------------------------------------------------------------- kill and resume

def checkpoint_step(path):
    try:
        return int(torch.load(path, weights_only=True)["step"])
    except Exception:  # not there yet
        return None


@pytest.mark.slow
def test_sigkill_then_rerun_equals_uninterrupted(data, tmp_path):
    # 47 batches per epoch: the kill comes after an epoch boundary and a validation (step 50).
    steps, every, kill_after = 200, 10, 60
    params = write_params(tmp_path / "params.yaml",
                          train={"steps": steps, "ckpt_every": every, "val_every": 50, "val_batches": 1,
                                 "log_every": 7, "warmup_steps": 20})

    def popen(out_dir):
        out_dir.mkdir()
        return subprocess.Popen(
            [sys.executable, "-m", "stages.train_vqvae", "--params", str(params), *map(str, data_args(data)),
             "--out", str(out_dir / "vqvae.pt"), "--curves", str(out_dir / "curves"),
             "--workdir", str(out_dir / "work")],
            cwd=ROOT, env=stage_env(), stdout=subprocess.DEVNULL, stderr=(out_dir / "stderr.txt").open("w"))

    reference = popen(tmp_path / "ref")  # runs alongside the interrupted one
    killed = popen(tmp_path / "kill")
    ckpt = tmp_path / "kill" / "work" / CHECKPOINT_NAME
    deadline, step = time.time() + 300, None
    while time.time() < deadline and killed.poll() is None:
        step = checkpoint_step(ckpt)
        if step is not None and kill_after <= step < steps:
            break
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, f"training ended before the kill (step {step})"
    assert kill_after <= step < steps and step % every == 0
    assert not (tmp_path / "kill" / "vqvae.pt").exists()

    resumed = subprocess.run(
        [sys.executable, "-m", "stages.train_vqvae", "--params", str(params), *map(str, data_args(data)),
         "--out", str(tmp_path / "kill" / "vqvae.pt"), "--curves", str(tmp_path / "kill" / "curves"),
         "--workdir", str(tmp_path / "kill" / "work")],
        cwd=ROOT, env=stage_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    resumed_at = int(resumed.stderr.split("resuming from ")[1].split(" at step ")[1].split()[0])
    assert step <= resumed_at < steps
    assert reference.wait() == 0, (tmp_path / "ref" / "stderr.txt").read_text()[-3000:]

    assert sha(tmp_path / "kill" / "vqvae.pt") == sha(tmp_path / "ref" / "vqvae.pt")
    for name in ("train.tsv", "val.tsv"):
        ref = (tmp_path / "ref" / "curves" / name).read_bytes()
        assert (tmp_path / "kill" / "curves" / name).read_bytes() == ref
        assert len(ref.splitlines()) > 3
