"""The per-run stages (train -> sample -> evaluate) on a tiny driving benchmark.

One shared tiny root: synthetic smooth video, the data stages, then train of the VQ family and
copy-last. Checks the outputs, the extracted codes, the samples contract, the stage-level leak
test (post-context test frames scrambled: identical predictions), a conditioned model fed the
recorded actions, byte-identical reruns, exact resume after SIGKILL, and one-line errors on bad
input.
"""
import hashlib
import json
import shutil
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

from _stage_server import command, serving
from conftest import ROOT, venv_env
from genvid.data.clips import ClipDataset
from genvid.data.frames import write_frames
from genvid.data.latents import LatentDataset
from genvid.data.samples import read_long_horizon, read_samples_info
from genvid.io import read_json
from genvid.models.store import load_model
from genvid.profiles import apply, load_profile
from genvid.train import CHECKPOINT_NAME
from stages.normalize import main as normalize_main
from stages.counterfactuals import main as counterfactuals_main
from stages.sample import main as sample_main
from stages.split import main as split_main
from stages.train import main as train_main

RES = 32
LENGTHS = (48, 48, 48, 48)


def smooth_episodes(lengths, resolution=RES, seed=0):
    """Low-frequency colour fields panning sideways: compressible video, so the codes vary."""
    g = torch.Generator().manual_seed(seed)
    for n in lengths:
        coarse = torch.rand(1, 3, 4, 8, generator=g)
        field = F.interpolate(coarse, size=(resolution, 2 * resolution), mode="bicubic", align_corners=False)
        field = (field.clamp(0, 1)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        frames = np.stack([field[:, t % resolution:t % resolution + resolution] for t in range(n)])
        yield SimpleNamespace(frames=frames, actions=np.zeros((n, 3), np.float32), speed=np.zeros(n, np.float32))


def tiny_params(**protocol) -> dict:
    params = apply(yaml.safe_load((ROOT / "params.yaml").read_text()), load_profile("tiny", ROOT / "profiles"))
    params["benchmarks"]["driving"]["split"] = {"train": 0.5, "val": 0.25, "test": 0.25}
    params["benchmarks"]["driving"]["protocol"].update(protocol)
    del params["benchmarks"]["driving"]["counterfactuals"]  # synthetic frames: no simulator to replay
    params["runs"] = {"driving-vq": {"benchmark": "driving", "model": "vq"},
                      "driving-copy_last": {"benchmark": "driving", "model": "copy_last"}}
    return params


def make_root(root: Path, params: dict, frames_from: Path | None = None) -> Path:
    (root / "data/driving").mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    frames = root / "data/driving/frames.h5"
    if frames_from is None:
        write_frames(frames, smooth_episodes(LENGTHS), sum(LENGTHS), RES, {"source": "synthetic"})
    else:
        shutil.copy(frames_from, frames)
    for main in (split_main, normalize_main, counterfactuals_main):
        main(["--params", str(root / "params.yaml"), "--benchmark", "driving", "--root", str(root)])
    return root


def args(root: Path, run: str) -> list[str]:
    return ["--params", str(root / "params.yaml"), "--run", run, "--root", str(root)]


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def samples_path(root: Path, run: str) -> Path:
    return root / "data/driving/samples" / f"{run}.h5"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = make_root(tmp_path_factory.mktemp("runs"), tiny_params())
    for run in ("driving-vq", "driving-copy_last"):
        train_main(args(root, run))
        sample_main(args(root, run))
    return root


def test_train_outputs(trained):
    model_dir = trained / "models/driving-vq"
    for name in ("vqvae.pt", "prior_top.pt", "prior_bottom.pt", "latents.h5", "run.json"):
        assert (model_dir / name).is_file(), name
    metrics = read_json(trained / "reports/driving/runs/driving-vq/train_metrics.json")
    assert set(metrics) >= {"vqvae", "prior_top", "prior_bottom", "parameters"}
    assert metrics["prior_top"]["baselines"]["uniform_bits"] == pytest.approx(4.0)  # K = 16
    assert 0 < metrics["vqvae"]["test"]["psnr"] < 100
    for component in ("vqvae", "prior_top", "prior_bottom"):
        assert (trained / "reports/driving/runs/driving-vq/curves" / component / "train.tsv").is_file()
    assert read_json(trained / "reports/driving/runs/driving-copy_last/train_metrics.json") == {
        "run": "driving-copy_last", "parameters": 0}


def test_extracted_codes_equal_encode(trained):
    model, _ = load_model(trained / "models/driving-vq/vqvae.pt", "vqvae3d")
    codes = LatentDataset(trained / "models/driving-vq/latents.h5", "test")
    clips = ClipDataset(trained / "data/driving/frames.h5", trained / "data/driving/split.json",
                        trained / "data/driving/stats.json", "test", 16, 8)
    top, bottom = model.encode(torch.stack([clips[i] for i in range(len(clips))]))
    assert torch.equal(top, codes.top) and torch.equal(bottom, codes.bottom)


def test_samples_file_follows_the_contract(trained):
    info = read_samples_info(samples_path(trained, "driving-vq"))
    assert (info.context_frames, info.horizon, info.samples) == (8, 8, 2)
    assert set(info.extras) == {"top_only", "bottom_only", "recon"}
    assert all(e.sees_future for e in info.extras.values()) and info.extras["recon"].samples == 1
    with h5py.File(samples_path(trained, "driving-vq")) as f:
        starts, real = f["start"][:], f["real"][:]
        with h5py.File(trained / "data/driving/frames.h5") as frames:
            for start, clip in zip(starts, real):
                assert np.array_equal(frames["frames"][start:start + 16], clip)
    assert np.all(np.diff(starts) >= 16)  # test clips do not overlap (test_stride = 16)


def resampled(trained, tmp_path, frames):
    """Stage sample rerun for driving-vq and copy-last on a copy of the trained root whose frames file is
    ``frames``: (run, the trained samples file, the new one), both open."""
    root = tmp_path / "root"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("samples", "checkpoints"))
    shutil.copy(frames, root / "data/driving/frames.h5")
    for run in ("driving-vq", "driving-copy_last"):
        sample_main(args(root, run))
        yield run, h5py.File(samples_path(trained, run)), h5py.File(samples_path(root, run))


def test_scrambled_future_gives_identical_predictions(trained, tmp_path):
    """The stage-level leak test: every test frame after each clip's context replaced by noise."""
    scrambled = tmp_path / "frames.h5"
    shutil.copy(trained / "data/driving/frames.h5", scrambled)
    with h5py.File(samples_path(trained, "driving-vq")) as f:
        starts = f["start"][:]
    rng = np.random.default_rng(0)
    with h5py.File(scrambled, "r+") as f:
        for start in starts:
            future = f["frames"][start + 8:start + 16]
            f["frames"][start + 8:start + 16] = rng.integers(0, 256, future.shape, dtype=np.uint8)
    for run, a, b in resampled(trained, tmp_path, scrambled):
        with a, b:
            assert np.array_equal(a["predictions"][:], b["predictions"][:]), run
            if run == "driving-vq":  # the reconstruction sees the whole clip, and says so
                assert not np.array_equal(a["extras/recon"][:], b["extras/recon"][:])


def test_long_horizon_futures_see_only_their_context(trained, tmp_path):
    """The leak test for the long-horizon clips (issue 23 item 2): every test frame outside their context
    frames replaced by noise leaves their futures byte-identical; the protocol's real clips change."""
    scrambled = tmp_path / "frames.h5"
    shutil.copy(trained / "data/driving/frames.h5", scrambled)
    info = read_long_horizon(samples_path(trained, "driving-vq"))
    assert (info.context_frames, info.horizon, info.samples, info.clips) == (8, 12, 2, 3)
    with h5py.File(samples_path(trained, "driving-vq")) as f:
        starts = f["long_horizon/start"][:]
    test = json.loads((trained / "data/driving/split.json").read_text())["splits"]["test"]["ranges"]
    keep = np.zeros(sum(LENGTHS), bool)
    for start in starts:
        keep[start:start + 8] = True
    rng = np.random.default_rng(0)
    with h5py.File(scrambled, "r+") as f:
        for a, b in test:
            for t in range(a, b):
                if not keep[t]:
                    f["frames"][t] = rng.integers(0, 256, f["frames"][t].shape, dtype=np.uint8)
    for run, a, b in resampled(trained, tmp_path, scrambled):
        with a, b:
            assert np.array_equal(a["long_horizon/predictions"][:], b["long_horizon/predictions"][:]), run
            assert not np.array_equal(a["long_horizon/real"][:], b["long_horizon/real"][:])


def test_long_horizon_futures_have_their_own_seeds(trained, tmp_path):
    """Adding the long horizon leaves every byte of the protocol's series as it was (its futures come from
    another seed stream), and its futures are predict's on its clips' context frames from the generator
    seeded (sample.seed, LONG_HORIZON_STREAM, first clip of the call)."""
    from genvid.context import run_context
    from genvid.models.predictor import clips_per_call
    from genvid.models.registry import get
    from genvid.train.sampler import LONG_HORIZON_STREAM, derived_seed

    root = tmp_path / "root"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("samples", "checkpoints"))
    params = tiny_params()
    del params["benchmarks"]["driving"]["long_horizon"]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    sample_main(args(root, "driving-vq"))
    with h5py.File(samples_path(trained, "driving-vq")) as a, h5py.File(samples_path(root, "driving-vq")) as b:
        assert "long_horizon" in a and "long_horizon" not in b
        assert sorted(b) == sorted(k for k in a if k != "long_horizon")
        for name in ("real", "predictions", "extras/recon", "extras/top_only", "episode", "start", "cluster"):
            assert np.array_equal(a[name][:], b[name][:]), name
        long_real, long_pred = a["long_horizon/real"][:], a["long_horizon/predictions"][:]
    ctx, raw = run_context(trained / "params.yaml", "driving-vq", trained)
    per_call = clips_per_call(ctx.run.model_params, 2)
    predictor = get("vq").predictor(ctx)
    generator = torch.Generator().manual_seed(derived_seed(raw["sample"]["seed"], LONG_HORIZON_STREAM, 0))
    futures = predictor.predict(torch.from_numpy(long_real[:per_call, :8]), 12, 2, generator)
    assert np.array_equal(futures.numpy(), long_pred[:per_call])


def test_a_sample_stage_killed_part_way_resumes_to_the_same_bytes_and_clears_what_it_kept(trained, monkeypatch):
    """genvid.sampling.BatchCache through the stage: killed after its first predict call, the rerun draws only
    the rest, the samples file is the uninterrupted one's, and checkpoints/<run>/sample/ is gone after it."""
    import dataclasses

    import stages.sample as S

    out, kept = samples_path(trained, "driving-vq"), trained / "checkpoints" / "driving-vq" / "sample"
    before = sha(out)
    real_get = S.get

    class Killed(Exception):
        pass

    class Dying:
        def __init__(self, inner, calls: list):
            self.inner, self.calls = inner, calls

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def _call(self, method: str, *a, **k):
            if len(self.calls) == 1:
                raise Killed
            self.calls.append(method)
            return getattr(self.inner, method)(*a, **k)

        def predict(self, *a, **k):
            return self._call("predict", *a, **k)

        def predict_with_diagnostics(self, *a, **k):
            return self._call("predict_with_diagnostics", *a, **k)

    calls: list = []

    def dying_get(name, where):
        spec = real_get(name, where)
        return dataclasses.replace(spec, predictor=lambda ctx: Dying(spec.predictor(ctx), calls))

    monkeypatch.setattr(S, "get", dying_get)
    with pytest.raises(Killed):
        sample_main(args(trained, "driving-vq"))
    assert len(list(kept.rglob("protocol-*.npz"))) == 1 and sha(out) == before  # one call kept; the file untouched
    monkeypatch.setattr(S, "get", real_get)
    counted: list = []
    monkeypatch.setattr(S, "get", lambda name, where: dataclasses.replace(
        real_get(name, where), predictor=lambda ctx: Counting(real_get(name, where).predictor(ctx), counted)))

    class Counting(Dying):
        def _call(self, method: str, *a, **k):
            self.calls.append(method)
            return getattr(self.inner, method)(*a, **k)

    sample_main(args(trained, "driving-vq"))
    assert sha(out) == before and not kept.exists()
    resumed = len(counted)
    counted.clear()
    sample_main(args(trained, "driving-vq"))  # a fresh run (nothing kept now) for the count
    assert sha(out) == before and not kept.exists()
    assert resumed == len(counted) - 1  # the first protocol call was read back, every other call drawn


def test_sample_twice_gives_identical_bytes(trained, tmp_path):
    out = samples_path(trained, "driving-vq")
    before = sha(out)
    sample_main(args(trained, "driving-vq"))
    assert sha(out) == before


@pytest.fixture(scope="module")
def run_cli(tmp_path_factory):
    """``run_cli(root, stage, run)``: ``python -m stages.<stage>`` on ``root`` as a fork of the stage server
    (tests/_stage_server.py), pinned for tiny_params' thread count."""
    params = tmp_path_factory.mktemp("server") / "params.yaml"
    params.write_text(yaml.safe_dump(tiny_params()))
    with serving(ROOT, venv_env(), params=params) as (env, _log):
        def run_cli(root: Path, stage: str, run: str):
            return subprocess.run(command("-m", f"stages.{stage}", *args(root, run)), cwd=ROOT, env=env,
                                  capture_output=True, text=True)

        yield run_cli


def one_line_error(result, fragment: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and fragment in lines[-1], lines[-1]
    assert "Traceback" not in result.stderr


def test_sample_errors_are_one_line_and_write_nothing(trained, tmp_path, run_cli):
    # an empty test split: no clip of context + horizon frames fits in it
    root = tmp_path / "empty"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("samples", "checkpoints"))
    params = tiny_params()
    params["benchmarks"]["driving"]["protocol"]["horizon"] = 200
    del params["benchmarks"]["driving"]["long_horizon"]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    one_line_error(run_cli(root, "sample", "driving-vq"), "the test split holds no clip of 208 frames")
    # the long-horizon protocol's clips are checked before anything is written too
    root = tmp_path / "long"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("samples", "checkpoints"))
    params = tiny_params()
    params["benchmarks"]["driving"]["long_horizon"]["horizon"] = 200
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    one_line_error(run_cli(root, "sample", "driving-copy_last"), "the test split holds no clip of 208 frames")
    # frames of another resolution than the model's: its files' stamps say so (genvid.models.store.check_stamp)
    root = tmp_path / "res"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("samples", "checkpoints"))
    write_frames(root / "data/driving/frames.h5", smooth_episodes(LENGTHS, resolution=16), sum(LENGTHS), 16,
                 {"source": "synthetic"})
    one_line_error(run_cli(root, "sample", "driving-vq"), "built for frames [H, W, C] = [32, 32, 3], but the frames "
                   "of run 'driving-vq' (benchmark driving) are [16, 16, 3]")
    # a split whose test clips run past the end of the frames file
    root = tmp_path / "short"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("samples", "checkpoints"))
    write_frames(root / "data/driving/frames.h5", smooth_episodes((48, 48, 48)), 144, RES, {"source": "synthetic"})
    one_line_error(run_cli(root, "sample", "driving-vq"), "runs past the end")
    one_line_error(run_cli(root, "sample", "driving-nope"), "section 'runs.driving-nope' is missing")
    # issue 26: top_k above the codebook size named no params key
    root = tmp_path / "top_k"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("samples", "checkpoints"))
    params = tiny_params()
    params["models"]["vq"]["sampling"]["top_k"] = 100000
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    one_line_error(run_cli(root, "sample", "driving-vq"), "models.vq.sampling.top_k must be 0 (off) or in [1, ")
    for path in (tmp_path / "empty", tmp_path / "long", tmp_path / "res", tmp_path / "short", tmp_path / "top_k"):
        assert not (path / "data/driving/samples").exists() or not any((path / "data/driving/samples").iterdir())


def test_unknown_model_key_is_rejected_by_train(trained, tmp_path, run_cli):
    root = tmp_path / "bad"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("samples", "checkpoints", "models"))
    params = tiny_params()
    params["models"]["vq"]["vqvae"]["chanels"] = 3
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    one_line_error(run_cli(root, "train", "driving-vq"), "models.vq.vqvae.chanels is not a known parameter")


def checkpoint_step(path: Path) -> int | None:
    try:
        return int(torch.load(path, weights_only=True)["step"])
    except Exception:  # not there yet, or being replaced
        return None


@pytest.mark.slow
def test_sigkill_then_rerun_equals_uninterrupted(trained, tmp_path, run_cli):
    params = tiny_params()
    params["train"]["vq"]["vqvae"].update(steps=48, ckpt_every=6, val_every=20, val_batches=1, log_every=7)
    params["train"]["vq"]["prior_top"].update(steps=2)
    params["train"]["vq"]["prior_bottom"].update(steps=2)
    roots = {}
    for name in ("ref", "kill"):
        roots[name] = tmp_path / name
        shutil.copytree(trained, roots[name], ignore=shutil.ignore_patterns("samples", "checkpoints", "models",
                                                                             "reports"))
        (roots[name] / "params.yaml").write_text(yaml.safe_dump(params))

    def popen(root: Path):
        return subprocess.Popen([sys.executable, "-m", "stages.train", *args(root, "driving-vq")], cwd=ROOT,
                                env=venv_env(), stdout=subprocess.DEVNULL, stderr=(root / "stderr.txt").open("w"))

    reference, killed = popen(roots["ref"]), popen(roots["kill"])
    ckpt = roots["kill"] / "checkpoints/driving-vq/vqvae" / CHECKPOINT_NAME
    deadline, step = time.time() + 300, None
    while time.time() < deadline and killed.poll() is None:
        step = checkpoint_step(ckpt)
        if step is not None and 12 <= step < 48:
            break
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, f"training ended before the kill (step {step})"
    assert not (roots["kill"] / "models/driving-vq/vqvae.pt").exists()
    resumed = run_cli(roots["kill"], "train", "driving-vq")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr
    assert reference.wait() == 0, (roots["ref"] / "stderr.txt").read_text()[-3000:]
    for name in ("vqvae.pt", "prior_top.pt", "prior_bottom.pt", "latents.h5"):
        assert sha(roots["kill"] / "models/driving-vq" / name) == sha(roots["ref"] / "models/driving-vq" / name)
    curves = "reports/driving/runs/driving-vq/curves/vqvae/train.tsv"
    assert (roots["kill"] / curves).read_bytes() == (roots["ref"] / curves).read_bytes()


def test_a_pixel_likelihood_model_trains_and_reports_bits_per_dim(trained, tmp_path, capsys):
    """Seed 001's SRNN through the same train and sample stages; Table 9.5's bound in its metrics."""
    root = tmp_path / "srnn"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("samples", "checkpoints", "models", "reports"))
    params = tiny_params()
    params["runs"]["driving-srnn"] = {"benchmark": "driving", "model": "srnn"}
    # clips of 6 frames where the benchmark's are 16 (seed 001 Table 9.5 trains on 10 of SM-MNIST's 15)
    params["train"]["srnn"].update(steps=4, batch_size=2, val_every=2, val_batches=1, ckpt_every=2, log_every=1,
                                   clip_len=6)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    train_main(args(root, "driving-srnn"))
    metrics = read_json(root / "reports/driving/runs/driving-srnn/train_metrics.json")
    assert 0 < metrics["bits_per_dim"] <= metrics["bits_per_dim_elbo"] <= 16
    protocol = metrics["bits_per_dim_protocol"]
    assert (protocol["iwae_samples"], protocol["frames"]) == (params["likelihood"]["iwae_samples"], 6)
    assert params["benchmarks"]["driving"]["clips"]["clip_len"] == 16
    params["train"]["srnn"]["clip_len"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(SystemExit) as exit_:
        train_main(args(root, "driving-srnn"))
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 2 and err.endswith("params.yaml: train.srnn.clip_len must be >= 2, got 1"), err
    sample_main(args(root, "driving-srnn"))
    info = read_samples_info(samples_path(root, "driving-srnn"))
    assert (info.samples, info.horizon, info.extras) == (2, 8, {})


def test_a_conditioned_model_gets_the_recorded_actions(trained, tmp_path, monkeypatch):
    """A model that declares ``conditioning: action`` (tests/_steer_model.py) trains on (clip,
    actions) pairs and samples from the context frames plus the actions recorded for the context
    and the horizon; the samples file carries those actions. Scrambling the future frames leaves
    the predictions alone; changing the future actions moves them."""
    import _steer_model as steer
    from genvid.data.frames import ACTION_NAMES
    from genvid.data.samples import Cond, read_cond
    from genvid.models import registry

    monkeypatch.setitem(registry.MODELS, steer.NAME, steer.spec())
    run = f"driving-{steer.NAME}"
    root = tmp_path / "root"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("samples", "checkpoints", "models", "reports"))
    steering = np.random.default_rng(1).uniform(-1, 1, (sum(LENGTHS), 3)).astype(np.float32)
    with h5py.File(root / "data/driving/frames.h5", "r+") as f:
        f["action"][:] = steering
    params = tiny_params()
    params["runs"][run] = {"benchmark": "driving", "model": steer.NAME}
    params["models"][steer.NAME] = {}
    params["train"][steer.NAME] = {**params["train"]["srnn"], "steps": 4, "batch_size": 2, "val_every": 2,
                                   "val_batches": 1, "ckpt_every": 2, "log_every": 1}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    train_main(args(root, run))
    assert read_json(root / f"reports/driving/runs/{run}/train_metrics.json")["val"]["loss"] > 0
    sample_main(args(root, run))
    out = samples_path(root, run)
    info = read_samples_info(out)
    assert info.cond == Cond("action", ACTION_NAMES)
    with h5py.File(out) as f:
        starts, predictions = f["start"][:], f["predictions"][:]
    cond = read_cond(out, slice(None))
    assert np.array_equal(cond, np.stack([steering[s:s + info.clip_len] for s in starts]))
    long = read_long_horizon(out)  # the long-horizon clips' recorded actions, given to predict and kept
    assert long.cond == info.cond
    with h5py.File(out) as f:
        assert np.array_equal(f["long_horizon/cond"][:], np.stack([steering[s:s + long.clip_len]
                                                                   for s in f["long_horizon/start"][:]]))

    def resample(change) -> np.ndarray:
        with h5py.File(root / "data/driving/frames.h5", "r+") as f:
            saved = {k: f[k][:] for k in ("frames", "action")}
            for s in starts:
                change(f, slice(s + info.context_frames, s + info.clip_len))
        try:
            sample_main(args(root, run))
            with h5py.File(out) as f:
                return f["predictions"][:]
        finally:
            with h5py.File(root / "data/driving/frames.h5", "r+") as f:
                for k, v in saved.items():
                    f[k][:] = v

    def noise_frames(f, future):
        f["frames"][future] = np.random.default_rng(2).integers(0, 256, f["frames"][future].shape, dtype=np.uint8)

    def steer_back(f, future):
        f["action"][future] = -f["action"][future]

    assert np.array_equal(resample(noise_frames), predictions)
    assert not np.array_equal(resample(steer_back), predictions)

    # counterfactual clips (issue 24): every action's future of a clip from the same noise, so two
    # actions the model maps to the same shift (round(4 x 0.01) = 0) give the same bytes
    from genvid.data.counterfactuals import Counterfactuals, save_counterfactuals
    from genvid.data.samples import read_counterfactual
    m, k = 2, 3
    with h5py.File(root / "data/driving/frames.h5") as f:
        context = np.stack([f["frames"][s:s + info.context_frames] for s in starts[:m]])
    cond = np.zeros((m, k, info.clip_len, 3), np.float32)
    cond[:, :, info.context_frames - 1:, 0] = np.array([-1.0, 0.0, 0.01], np.float32)[None, :, None]
    truth = np.zeros((m, k, info.horizon, *context.shape[2:]), np.uint8)
    cf = Counterfactuals(True, "", ("left", "still", "nudge"), info.context_frames, info.horizon, 2, context, truth, cond,
                         np.zeros((m, k, info.horizon + 1, 3), np.float32),
                         {"clip": np.arange(m), "start": starts[:m], "episode": np.zeros(m, np.int64),
                          "cluster": np.arange(m)})
    save_counterfactuals(root / "data/driving/counterfactuals.h5", cf, SimpleNamespace(source="procedural", seed=0))
    sample_main(args(root, run))
    got = read_counterfactual(out)
    assert got.conditioned and got.sequences == cf.sequences and got.predictions.shape[:3] == (m, k, 2)
    assert np.array_equal(got.predictions[:, 1], got.predictions[:, 2])
    assert not np.array_equal(got.predictions[:, 0], got.predictions[:, 1])
    train_main(args(root, "driving-copy_last"))
    sample_main(args(root, "driving-copy_last"))  # a model that reads no actions: one prediction, K times
    copy = read_counterfactual(samples_path(root, "driving-copy_last"))
    assert not copy.conditioned and np.array_equal(copy.predictions[:, 0], copy.predictions[:, 2])
    assert np.array_equal(copy.predictions[:, 0, 0, 0], context[:, -1])


def test_clips_with_actions_refuse_a_frames_file_without_them(tmp_path):
    from genvid.data.clips import UnitClipDataset
    from genvid.errors import GenvidError

    frames = tmp_path / "frames.h5"
    with h5py.File(frames, "w") as f:
        f["frames"] = np.zeros((8, 4, 4, 1), np.uint8)
        f["episode"] = np.zeros(8, np.int32)
    split = tmp_path / "split.json"
    split.write_text('{"splits": {"train": {"ranges": [[0, 8]], "frames": 8}, "val": {"ranges": [], "frames": 0},'
                     ' "test": {"ranges": [], "frames": 0}}}')
    assert len(UnitClipDataset(frames, split, "train", 4, 1)) == 5
    with pytest.raises(GenvidError, match="reads per-frame 'action', which this frames file does not record"):
        UnitClipDataset(frames, split, "train", 4, 1, cond="action")
