"""The Dynamics-like benchmark (issue 22 item 4; genvid.data.dynamics) and its semantic check
(genvid.metrics.motion, stage motion_classifier, evaluate's motion accuracy).

Every motion class is checked against the module docstring's formula computed here by hand (numpy's
sin/cos, not the generator's), and on the rendered pixels; the classifier learns above chance on a
small set, a frozen (copy-last) future scores chance and the real futures the ceiling."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
import yaml

from conftest import ROOT
from genvid import params as P
from genvid.data import dynamics as D
from genvid.data.benchmark import generated_split, generated_stats
from genvid.data.clips import GeneratedClips, clip_set
from genvid.data.frames import read_frames_info
from genvid.data.samples import read_samples_info, write_samples
from genvid.errors import GenvidError, ParamError
from genvid.io import write_json
from genvid.layout import benchmark_paths
from genvid.metrics import motion as M
from genvid.params import EvaluateConfig

SEED, LENGTH = 7, 16


@pytest.fixture(scope="module")
def sequences():
    """Two sequences of every class (indices 0..19 of the training stream)."""
    return [D.generate_sequence(SEED, i, LENGTH) for i in range(20)]


# ----------------------------------------------------------------------------- determinism

def test_a_sequence_is_a_pure_function_of_seed_stream_and_index():
    a, b = D.generate_sequence(3, 5, 12), D.generate_sequence(3, 5, 12)
    assert a.frames.tobytes() == b.frames.tobytes() and np.array_equal(a.centres, b.centres)
    assert a.frames.shape == (12, 64, 64, 3) and a.frames.dtype == np.uint8
    for other in (D.generate_sequence(3, 6, 12), D.generate_sequence(4, 5, 12), D.generate_sequence(3, 5, 12, "test")):
        assert other.frames.tobytes() != a.frames.tobytes()
    short = D.generate_sequence(3, 5, 5)  # the placement does not depend on the length: a prefix
    assert np.array_equal(short.frames, a.frames[:5]) and short.motion == a.motion


def test_bad_arguments_are_one_line():
    with pytest.raises(GenvidError, match="length=21 exceeds 20 frames"):
        D.generate_sequence(0, 0, 21)
    with pytest.raises(GenvidError, match="stream='val'"):
        D.generate_sequence(0, 0, 4, "val")
    with pytest.raises(GenvidError, match="index=-1"):
        D.generate_sequence(0, -1, 4)


# ----------------------------------------------------------------------------- each class by hand

def hand_progress(speed: str, m: dict, t: np.ndarray) -> np.ndarray:
    if speed == "constant":
        return m["v"] * t
    if speed == "accelerating":
        return m["v0"] * t + m["a"] * t ** 2 / 2
    h = m["half_period"]
    return m["v"] * (h - np.abs(np.mod(t + m["t0"], 2 * h) - h))


def hand_offsets(path: str, m: dict, s: np.ndarray) -> np.ndarray:
    u = np.array([math.cos(m["heading"]), math.sin(m["heading"])])
    n = np.array([-u[1], u[0]])
    if path == "linear":
        return s[:, None] * u
    if path == "sinusoidal":
        side = m["amplitude"] * np.sin(2 * math.pi * s / m["wavelength"] + m["psi"])
        return s[:, None] * u + side[:, None] * n
    big, k = m["big_radius"], m["cusps"]
    r = big / k
    th = m["direction"] * 1.5 * s / big
    x = (big - r) * np.cos(th) + r * np.cos((big - r) / r * th)
    y = (big - r) * np.sin(th) - r * np.sin((big - r) / r * th)
    return x[:, None] * u + y[:, None] * n  # rotated by the heading


def test_every_class_follows_its_formula(sequences):
    t = np.arange(LENGTH, dtype=np.float64)
    for i, seq in enumerate(sequences):
        name, m = D.CLASSES[seq.label], seq.motion
        assert seq.label == seq.labels[0] == i % 10
        if name == "rotation":
            assert np.allclose(seq.centres, m["base"], atol=0) and 0.12 <= abs(m["omega"]) <= 0.3
            assert np.allclose(np.diff(seq.angles), m["omega"], atol=1e-12)
            continue
        path, speed = name.split("_")
        want = np.array(m["base"]) + hand_offsets(path, m, hand_progress(speed, m, t))
        assert np.allclose(seq.centres, want, atol=1e-9), name
        assert np.allclose(seq.angles, seq.angles[0], atol=0)  # the path classes do not turn


def test_linear_speeds_constant_increasing_and_reversing(sequences):
    for seq in sequences[:3] + sequences[10:13]:
        step = np.diff(seq.centres, axis=0)
        length = np.linalg.norm(step, axis=1)
        direction = step / length[:, None]
        name = D.CLASSES[seq.label]
        if name == "linear_constant":  # equal successive displacements
            assert np.allclose(step, step[0], atol=1e-9) and 1.2 <= length[0] <= 2.0
        elif name == "linear_accelerating":  # one direction, displacements growing by a each frame
            assert np.allclose(direction, direction[0], atol=1e-9)
            assert np.allclose(np.diff(length), seq.motion["a"], atol=1e-9) and np.all(np.diff(length) > 0)
        else:  # bouncing: along one line, reversing in every 8-frame window, never faster than v
            along = step @ direction[0]
            assert np.allclose(np.abs(along), length, atol=1e-9)  # colinear with the first step
            assert np.all(length <= seq.motion["v"] + 1e-9)
            for w in range(0, LENGTH - 8):
                signs = np.sign(along[w:w + 7])
                assert (signs > 0).any() and (signs < 0).any(), w


def test_trajectories_stay_in_frame_by_construction():
    """The widest extent each path/speed can reach over MAX_LENGTH frames fits the frame at the largest
    object (by hand from the ranges), and a sweep of random trajectories never leaves it."""
    t = D.MAX_LENGTH - 1
    room = D.FRAME_SIZE - 2 * D.RADIUS[1]
    s_max = {"constant": D.CONSTANT_SPEED[1] * t, "accelerating": D.ACCEL_START[1] * t + D.ACCEL[1] * t * t / 2,
             "bouncing": D.BOUNCE_SPEED[1] * D.BOUNCE_HALF_PERIOD[1]}
    for s in s_max.values():
        assert s <= room and math.hypot(s, 2 * D.SINE_AMPLITUDE[1]) <= room
    assert 2 * D.HYPO_RADIUS[1] <= room
    rng = np.random.default_rng(0)
    for i in range(600):
        radius = float(rng.uniform(*D.RADIUS))
        centres, _ = D.trajectory(i % 10, rng, radius)
        assert (centres - radius >= 0).all() and (centres + radius <= D.FRAME_SIZE).all()


def object_centroid(frame: np.ndarray) -> np.ndarray:
    """(x, y) of the pixels brighter than any background can be (value > 0.45 of 255)."""
    mask = frame.max(axis=-1) > 160
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean() + 0.5, ys.mean() + 0.5]), mask


def test_pixels_show_the_object_where_the_trajectory_says(sequences):
    for seq in sequences[:10]:
        for k in (0, LENGTH // 2, LENGTH - 1):
            centre, mask = object_centroid(seq.frames[k])
            assert mask.sum() > 20 and np.abs(centre - seq.centres[k]).max() < 0.75, (D.CLASSES[seq.label], k)
    rotation = sequences[9]  # the centroid still, the object turning
    masks = [object_centroid(f)[1] for f in rotation.frames]
    centres = np.array([object_centroid(f)[0] for f in rotation.frames])
    assert np.abs(centres - centres[0]).max() < 0.75
    assert all((a != b).sum() > 4 for a, b in zip(masks, masks[1:]))
    seen = np.pad(np.any(masks, axis=0), 2)  # static: unchanged 2 px away from wherever the object was
    near = np.zeros_like(seen)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            near |= np.roll(seen, (dy, dx), axis=(0, 1))
    never = ~near[2:-2, 2:-2]
    assert never.sum() > 3000
    assert (rotation.frames[:, never] == rotation.frames[0, never]).all()


# ----------------------------------------------------------------------------- the stored test set

def benchmark_params(root, test_sequences=10, motion=True):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["repro"]["threads"] = 1
    bench = params["benchmarks"]["dynamics"]
    bench["collect"].update(seed=SEED, test_sequences=test_sequences, train_sequences=60, val_sequences=20, stats_sequences=4)
    bench["motion_classifier"].update(sequences=60, steps=3, batch_size=8, width=4)
    if not motion:
        del bench["motion_classifier"]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


# ----------------------------------------------------------------------------- extrapolated futures

def test_extrapolation_continues_the_polynomial_through_the_last_known_rows():
    t = np.arange(8, dtype=np.float64)
    cubic = np.stack([t ** 3, 2.0 * t], 1)
    hold, line, parabola = (D.extrapolate(cubic, 4, k) for k in (0, 1, 2))
    assert np.array_equal(hold[:4], cubic[:4]) and np.array_equal(line[:4], cubic[:4])
    assert hold[4:, 0].tolist() == [27.0] * 4  # the last known row held
    assert line[4:, 0].tolist() == [27.0 + 19.0 * k for k in range(1, 5)]  # 27 - 8 = 19 per frame
    assert parabola[4:, 0].tolist() == [27.0 + 19.0 * k + 6.0 * k * (k + 1) for k in range(1, 5)]  # ∇² = 12
    assert np.allclose(line[:, 1], 2.0 * t) and np.allclose(parabola[:, 1], 2.0 * t)  # exact on a line
    assert np.allclose(D.extrapolate(cubic, 4, 3), cubic)  # degree 3 through 4 rows: the cubic itself
    with pytest.raises(GenvidError, match="order=4 must be an integer in \\[0, 3\\]"):
        D.extrapolate(cubic, 4, 4)


def test_extrapolated_futures_are_the_true_ones_where_the_motion_is_that_polynomial():
    """Known frames stay; a class whose motion is a polynomial of the order comes back byte for byte
    (linear constant and rotation to first order, linear accelerating to second); others part."""
    true = {i: D.generate_sequence(SEED, i, LENGTH, "test") for i in (0, 1, 2, 9)}  # classes by index % 10
    for index, order in ((0, 1), (9, 1), (1, 2)):
        got = D.extrapolated_sequence(SEED, index, LENGTH, 8, order)
        assert np.array_equal(got.frames, true[index].frames), (D.CLASSES[index], order)
    bouncing = D.extrapolated_sequence(SEED, 2, LENGTH, 8, 2)
    assert np.array_equal(bouncing.frames[:8], true[2].frames[:8])
    assert not np.array_equal(bouncing.frames[8:], true[2].frames[8:])
    held = D.extrapolated_sequence(SEED, 1, LENGTH, 8, 0)
    assert all(np.array_equal(f, true[1].frames[7]) for f in held.frames[8:])  # order 0: the last frame, redrawn
    r = held.radius
    assert np.all((bouncing.centres >= r) & (bouncing.centres <= 64 - r))  # kept in the frame
    with pytest.raises(GenvidError, match="known=0 frames must lie in \\[1, 16\\]"):
        D.extrapolated_sequence(SEED, 0, LENGTH, 0, 0)


@pytest.fixture(scope="module")
def test_set(tmp_path_factory):
    """A benchmark folder: the test set of 20 sequences written by collect's writer, its split."""
    root = tmp_path_factory.mktemp("dynamics")
    benchmark_params(root, 20)
    paths = benchmark_paths("dynamics", root)
    paths.frames.parent.mkdir(parents=True)
    D.write_test_set(paths.frames, 20, LENGTH, SEED)
    write_json(paths.split, generated_split(read_frames_info(paths.frames).episode))
    return root, paths


def test_labels_are_balanced_stored_and_named(test_set):
    root, paths = test_set
    labels, names = D.read_labels(paths.frames)
    assert names == D.CLASSES and np.array_equal(labels, np.arange(20) % 10)
    assert np.bincount(labels).tolist() == [2] * 10
    with h5py.File(paths.frames) as f:
        assert f["frames"].shape == (20 * LENGTH, 64, 64, 3) and f.attrs["source"] == "dynamics"
        assert np.array_equal(f["frames"][LENGTH:2 * LENGTH], D.generate_sequence(SEED, 1, LENGTH, "test").frames)
        assert np.array_equal(f["centres"][3], D.generate_sequence(SEED, 3, LENGTH, "test").centres)
    copy = paths.frames.with_name("copy.h5")
    D.write_test_set(copy, 20, LENGTH, SEED)
    assert copy.read_bytes() == paths.frames.read_bytes()


def test_the_clip_datasets_read_it(test_set):
    root, paths = test_set
    bench = P.benchmark(P.read_params(root / "params.yaml"), "dynamics", root / "params.yaml")
    test = clip_set(bench, paths.frames, paths.split, None, "test", 16, 16)
    assert len(test) == 20 and tuple(test[3].shape) == (16, 3, 64, 64)
    stats = generated_stats(bench.collect)
    assert len(stats["mean"]) == 3 and all(0 < s < 1 for s in stats["std"])
    write_json(paths.stats, stats)
    train = clip_set(bench, paths.frames, paths.split, paths.stats, "train", 16, 1)
    assert isinstance(train, GeneratedClips) and len(train) == 60 and train.channels == 3
    assert tuple(train[0].shape) == (3, 16, 64, 64)
    assert train.sequence(13).label == 3  # class = index % 10
    val = clip_set(bench, paths.frames, paths.split, None, "val", 16, 16)
    assert val.sequence(0).frames.tobytes() == D.generate_sequence(bench.collect.seed, 60, 16).frames.tobytes()


def test_kept_clips_are_drawn_once_give_the_same_bytes_and_stop_at_the_byte_budget(test_set, monkeypatch):
    import genvid.data.clips as C

    root, paths = test_set
    bench = P.benchmark(P.read_params(root / "params.yaml"), "dynamics", root / "params.yaml")
    plain = clip_set(bench, paths.frames, paths.split, None, "train", 16, 1)
    kept = clip_set(bench, paths.frames, paths.split, None, "train", 16, 1, keep=True)
    drawn = []
    sequence = kept.sequence
    monkeypatch.setattr(kept, "sequence", lambda i: drawn.append(i) or sequence(i))
    monkeypatch.setattr(C, "KEEP_BYTES", 2 * 16 * 64 * 64 * 3)  # room for two sequences
    for i in (0, 1, 2, 0, 1, 2):
        assert torch.equal(kept[i], plain[i])
    assert drawn == [0, 1, 2, 2] and sorted(kept.kept) == [0, 1]  # the third did not fit: drawn each time


def test_params_rules_for_dynamics(tmp_path):
    params = benchmark_params(tmp_path)
    bench = P.benchmark(params, "dynamics")
    assert bench.motion_classifier.sequences == 60 and bench.split is None
    params["benchmarks"]["dynamics"]["collect"]["test_sequences"] = 15
    with pytest.raises(ParamError, match="test_sequences must be a multiple of the 10 motion classes"):
        P.benchmark(params, "dynamics")
    params["benchmarks"]["dynamics"]["collect"].update(test_sequences=10, sequence_length=24)
    with pytest.raises(ParamError, match="sequence_length must be <= 20"):
        P.benchmark(params, "dynamics")
    params["benchmarks"]["smmnist"]["motion_classifier"] = params["benchmarks"]["dynamics"]["motion_classifier"]
    with pytest.raises(ParamError, match="benchmarks.smmnist.motion_classifier: source 'smmnist' has no motion labels"):
        P.benchmark(params, "smmnist")


# ----------------------------------------------------------------------------- the classifier

@pytest.fixture(scope="module")
def classifier():
    """Trained on 400 generated futures (a few seconds), scored on 100 held-out ones."""
    collect = SimpleNamespace(source="dynamics", seed=SEED)
    x, y = M.generated_futures(collect, 0, 400, 8, 8)
    hx, hy = M.generated_futures(collect, 1000, 100, 8, 8)
    cfg = P.MotionClassifierConfig(sequences=400, steps=150, batch_size=32, lr=0.003, width=8, seed=0)
    model, curve = M.train(x, y, len(D.CLASSES), cfg)
    return model, cfg, (x, y), (hx, hy), curve


def test_the_classifier_learns_above_chance(classifier):
    model, _, (x, y), (hx, hy), curve = classifier
    assert curve[-1]["loss"] < curve[0]["loss"]
    assert M.accuracy(model, x, y) > 0.35 and M.accuracy(model, hx, hy) > 0.25  # chance: 0.1
    still = np.repeat(hx[:, -1:], 8, axis=1)  # a frozen future: nothing moves, one answer for all
    assert len(set(M.predict(model, still).tolist())) == 1


def test_training_is_deterministic():
    collect = SimpleNamespace(source="dynamics", seed=SEED)
    x, y = M.generated_futures(collect, 0, 20, 8, 8)
    cfg = P.MotionClassifierConfig(sequences=20, steps=3, batch_size=8, lr=0.003, width=4, seed=1)
    a, b = M.train(x, y, 10, cfg)[0].state_dict(), M.train(x, y, 10, cfg)[0].state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def samples_file(path, futures_of, test):
    """A samples file of the test set's clips whose predictions are ``futures_of(real)`` [N, S, 8, ...]."""
    real = np.stack([D.generate_sequence(SEED, i, LENGTH, "test").frames for i in range(test)])
    n = len(real)
    with write_samples(path, n, (64, 64, 3), 8, 8, 2, {"run": "dynamics-x", "benchmark": "dynamics"}) as w:
        w.write(slice(0, n), real, futures_of(real), episode=np.arange(n), start=np.arange(n) * LENGTH,
                cluster=np.arange(n))
    return read_samples_info(path)


def test_motion_accuracy_of_copy_last_is_chance_and_of_the_real_futures_the_ceiling(classifier, tmp_path):
    model, cfg, *_ = classifier
    labels = np.arange(20) % 10
    loaded = {"available": True, "model": model, "frames": 8, "frame_shape": [64, 64, 3],
              "test_labels": __import__("torch").as_tensor(labels), "classes": list(D.CLASSES)}
    evaluate = EvaluateConfig(fvd_repeats=1, bootstrap=200, seed=0)
    copy_last = samples_file(tmp_path / "copy.h5", lambda r: np.repeat(r[:, None, 7:8], 8, axis=2).repeat(2, 1), 20)
    truth = samples_file(tmp_path / "real.h5", lambda r: np.repeat(r[:, None, 8:], 2, axis=1), 20)
    frozen, perfect = (M.score(loaded, info, evaluate, "clf.pt") for info in (copy_last, truth))
    assert frozen["mean_of_n"]["mean"] == pytest.approx(0.1) and frozen["best_of_n"]["mean"] == pytest.approx(0.1)
    assert perfect["mean_of_n"]["mean"] == perfect["real"]["mean"] == frozen["real"]["mean"] > 0.2
    lo, hi = perfect["mean_of_n"]["ci95"]
    assert lo <= perfect["mean_of_n"]["mean"] <= hi
    assert np.array(frozen["confusion"]).sum() == 40 and M.headline(frozen) == {"motion_acc": 0.1}
    assert M.headline({"skipped": "no labels"}) == {} and M.score({"available": False, "reason": "x"}, truth,
                                                                    evaluate, "clf.pt") == {"skipped": "x"}
    assert frozen["extrapolated"] is None  # a classifier file without reference futures
    refs = {"starts": np.arange(20) * LENGTH, "hold": np.full(20, 9), "velocity": labels,
            "acceleration": np.where(labels < 5, labels, 0)}
    listed = M.score(dict(loaded, references=refs), copy_last, evaluate, "clf.pt")["extrapolated"]
    assert [(r["name"], r["order"]) for r in listed] == [("hold", 0), ("velocity", 1), ("acceleration", 2)]
    scored = {r["name"]: r for r in listed}
    assert scored["velocity"]["mean"] == 1.0
    assert scored["hold"]["mean"] == pytest.approx(0.1) and scored["acceleration"]["mean"] == pytest.approx(0.5)
    lo, hi = scored["acceleration"]["ci95"]
    assert lo < 0.5 < hi
    stale = dict(refs, starts=np.arange(20) * LENGTH + 1)
    with pytest.raises(GenvidError, match="no reference future for the test clip at frame 0 \\(rerun motion_classifier"):
        M.score(dict(loaded, references=stale), copy_last, evaluate, "clf.pt")
    short = dict(loaded, frames=6)
    with pytest.raises(GenvidError, match="reads futures of 6 frames"):
        M.check(short, truth, "clf.pt")
    few = dict(loaded, test_labels=loaded["test_labels"][:5])
    with pytest.raises(GenvidError, match="knows the labels of 5"):
        M.check(few, truth, "clf.pt")


def test_the_stage_trains_or_says_why_not(test_set, capsys):
    from stages.motion_classifier import main

    root, paths = test_set
    argv = ["--params", str(root / "params.yaml"), "--root", str(root), "--no-progress"]
    main(["--benchmark", "dynamics", *argv])
    report = json.loads(paths.motion_report.read_text())
    assert report["available"] and report["futures"] == {"train": 60, "val": 20, "test": 20}
    clf = M.load(paths.motion_classifier, "dynamics")
    assert clf["frames"] == 8 and clf["test_labels"].tolist() == (np.arange(20) % 10).tolist()
    with pytest.raises(GenvidError, match="the motion classifier of benchmark 'dynamics', not 'smmnist'"):
        M.load(paths.motion_classifier, "smmnist")
    refs = clf["references"]  # the reference futures of the protocol's clips (one per test sequence)
    assert refs["starts"].tolist() == (np.arange(20) * LENGTH).tolist() and set(refs) == {"starts", *M.EXTRAPOLATIONS}
    with h5py.File(paths.frames) as f:
        last = np.stack([f["frames"][i * LENGTH + 7] for i in range(20)])
    frozen = M.predict(clf["model"], np.repeat(last[:, None], 8, axis=1))
    assert refs["hold"].tolist() == frozen.tolist()  # held still: copy-last's future, redrawn
    assert set(report["extrapolated"]) == set(M.EXTRAPOLATIONS)
    assert report["extrapolated"]["hold"] == float(np.mean(frozen == np.arange(20) % 10))
    first = paths.motion_classifier.read_bytes()
    main(["--benchmark", "dynamics", *argv])
    assert paths.motion_classifier.read_bytes() == first  # same bytes on a rerun
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["benchmarks"]["dynamics"]["motion_classifier"]["sequences"] = 61
    (root / "other.yaml").write_text(yaml.safe_dump(params))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["--benchmark", "dynamics", "--params", str(root / "other.yaml"), "--root", str(root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and "motion_classifier.sequences 61 exceeds" in err[0]
    del params["benchmarks"]["dynamics"]["motion_classifier"]
    (root / "other.yaml").write_text(yaml.safe_dump(params))
    main(["--benchmark", "dynamics", "--params", str(root / "other.yaml"), "--root", str(root)])
    none = M.load(paths.motion_classifier, "dynamics")
    assert not none["available"] and "sets no motion_classifier section" in none["reason"]


# ----------------------------------------------------------------------------- the report

def test_the_report_shows_motion_accuracy_and_the_choices_for_dynamics_only():
    from genvid.report import tables
    from genvid.report.choices import model_choices

    score = {"mean": 0.5, "ci95": [0.4, 0.6]}
    row = {"run": "dynamics-copy_last", "baseline": True, "parameters": 0, "protocol_ok": True,
           "metrics": {**{m: {r: score for r in ("best_seq", "best_step", "mean")} for m in ("psnr", "ssim", "lpips")},
                       "fvd": None, "diversity": None, "motion": {"mean_of_n": {"mean": 0.1, "ci95": [0.0, 0.2]},
                                                                  "best_of_n": score, "real": score}}}
    plain = {**row, "metrics": {**row["metrics"], "motion": None}}
    table = tables.leaderboard_measured([row])
    assert "Motion acc. ↑ mean of N" in table["header"] and len(table["align"]) == len(table["header"])
    assert all(len(r) == len(table["header"]) for r in table["rows"]) and "0.10" in str(table["rows"][0])
    other = tables.leaderboard_measured([plain])
    assert not any("Motion" in h for h in other["header"]) and len(other["align"]) == len(other["header"])
    from genvid.report.text import extrapolation_levels

    assert extrapolation_levels(None) == ""
    levels = extrapolation_levels([{"name": "velocity", "order": 1, "mean": 0.25, "ci95": None},
                                   {"name": "acceleration", "order": 2, **score}])
    assert "continued at constant velocity 0.25, continued at constant acceleration 0.50:" in levels
    rows = model_choices({"copy_last"}, {}, {"dynamics"})["rows"]
    assert len(rows) >= 6 and all("Dynamics-like" in str(r[0]) for r in rows)
    assert model_choices({"copy_last"}, {}, {"smmnist"}) is None
