"""Stage CLIs on bad input: one clear line on stderr, a non-zero exit, no partial output."""
import subprocess
import sys

import h5py
import numpy as np
import pytest
import yaml

from conftest import ROOT, make_frames_file, venv_env


def stage(name, *args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", f"stages.{name}", *args], cwd=cwd, env=venv_env(),
                          capture_output=True, text=True)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def params_file(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["clips"]["clip_len"] = 8

    def write(**overrides):
        for dotted, value in overrides.items():
            section, key = dotted.split("__")
            params[section][key] = value
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump(params))
        return str(path)

    return write


def test_split_and_normalize_happy_path(tmp_path, params_file):
    frames = make_frames_file(tmp_path / "f.h5", lengths=(40, 40, 40))
    p = params_file()
    assert stage("split", "--params", p, "--frames", str(frames), "--out", str(tmp_path / "s.json")).returncode == 0
    r = stage("normalize", "--params", p, "--frames", str(frames), "--split", str(tmp_path / "s.json"),
              "--out", str(tmp_path / "n.json"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "n.json").exists()


@pytest.mark.parametrize("corrupt,fragments", [
    ("truncate", ("f.h5: not a readable HDF5 frames file",)),
    ("no_frames", ("no 'frames' dataset",)),
    ("float_frames", ("'frames' has dtype float64, expected uint8",)),
    ("bad_shape", ("'frames' has shape (120, 16, 16), expected [N,H,W,3]",)),
    ("short_episode", ("episode 1 has 5 frames, fewer than clips.clip_len=8",)),
])
def test_split_rejects_bad_frames_file(tmp_path, params_file, corrupt, fragments):
    frames = tmp_path / "f.h5"
    if corrupt == "truncate":
        make_frames_file(frames)
        data = frames.read_bytes()
        frames.write_bytes(data[: len(data) // 3])
    elif corrupt == "short_episode":
        make_frames_file(frames, lengths=(40, 5, 40))
    else:
        with h5py.File(frames, "w") as f:
            f.create_dataset("episode", data=np.zeros(120, np.int32))
            if corrupt == "float_frames":
                f.create_dataset("frames", data=np.zeros((120, 16, 16, 3)))
            elif corrupt == "bad_shape":
                f.create_dataset("frames", data=np.zeros((120, 16, 16), np.uint8))
    out = tmp_path / "split.json"
    result = stage("split", "--params", params_file(), "--frames", str(frames), "--out", str(out))
    assert_one_line_error(result, *fragments)
    assert not out.exists()


def test_split_fraction_sum_and_unknown_source(tmp_path, params_file):
    frames = make_frames_file(tmp_path / "f.h5")
    out = tmp_path / "split.json"
    result = stage("split", "--params", params_file(split__test=0.2), "--frames", str(frames), "--out", str(out))
    assert_one_line_error(result, "split.train + split.val + split.test must sum to 1, got 1.1")
    assert not out.exists()
    out = tmp_path / "frames.h5"
    result = stage("collect", "--params", params_file(collect__source="gta5"), "--out", str(out))
    assert_one_line_error(result, "params.yaml: collect.source must be one of procedural, carracing, got 'gta5'")
    assert not out.exists()


def test_normalize_rejects_a_bad_split_file(tmp_path, params_file):
    frames = make_frames_file(tmp_path / "f.h5")
    bad = tmp_path / "split.json"
    bad.write_text('{"splits": {"train": {}}}')
    out = tmp_path / "n.json"
    result = stage("normalize", "--params", params_file(), "--frames", str(frames), "--split", str(bad),
                   "--out", str(out))
    assert_one_line_error(result, "split.json: split 'train' missing or has no 'ranges'")
    assert not out.exists()


def test_collect_killed_midway_leaves_no_output(tmp_path, params_file):
    import signal
    import time

    out = tmp_path / "frames.h5"
    p = params_file(collect__episodes=400, collect__frames_per_episode=200)
    proc = subprocess.Popen([sys.executable, "-m", "stages.collect", "--params", p, "--out", str(out)],
                            cwd=ROOT, env=venv_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not list(tmp_path.glob(".frames.h5.*")):
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
