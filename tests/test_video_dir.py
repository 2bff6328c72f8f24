"""Source video_dir (issue 22 item 5): a folder of the user's own videos as a benchmark. The videos
are generated here with PyAV and Pillow (moving squares), nothing is downloaded."""
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from conftest import ROOT
from genvid.data.video_dir import IMAGE_EXTENSIONS, VideoDirCollectConfig, collect, resample
from genvid.errors import GenvidError, ParamError

av = pytest.importorskip("av")
from PIL import Image  # noqa: E402


def picture(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    """Frame i of a moving square on a dark blue background."""
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 2] = 60
    x, y = (3 * i) % (w - 8), (2 * i) % (h - 8)
    a[y:y + 8, x:x + 8] = (240, 200, 40)
    return a


def write_video(path: Path, n: int = 30, fps: int = 30, w: int = 64, h: int = 48, codec: str | None = None) -> Path:
    codec = codec or {"gif": "gif", "webm": "libvpx-vp9"}.get(path.suffix[1:], "mpeg4")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
        for i in range(n):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture(i, w, h), format="rgb24")))
        out.mux(stream.encode())
    return path


def write_pngs(folder: Path, n: int = 12, w: int = 64, h: int = 48) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(picture(i, w, h)).save(folder / f"frame_{i:03d}.png")
    return folder


def config(**kw) -> VideoDirCollectConfig:
    return VideoDirCollectConfig(**{"source": "video_dir", "path": "videos/mine", "resolution": 16, "fps": 10.0, **kw})


def read(path: Path) -> tuple[np.ndarray, np.ndarray, dict, list]:
    with h5py.File(path, "r") as f:
        return f["frames"][:], f["episode"][:], dict(f.attrs), list(f)


# ----------------------------------------------------------------------------- the reader

def test_resample_by_nearest_timestamp():
    at30 = [Fraction(i, 30) for i in range(30)]
    assert resample(at30, Fraction(10)).tolist() == list(range(0, 30, 3))  # every third frame
    assert resample(at30, Fraction(10), max_frames=4).tolist() == [0, 3, 6, 9]
    assert resample([Fraction(i, 5) for i in range(4)], Fraction(10)).tolist() == [0, 0, 1, 1, 2, 2, 3]  # repeated
    # timestamps counted from the first frame; a tie takes the earlier frame (0.05 s: between 0 and 0.1)
    assert resample([Fraction(7) + Fraction(i, 10) for i in range(5)], Fraction(20)).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4]
    # irregular timestamps (variable frame rate): the nearest one
    assert resample([Fraction(0), Fraction(1, 100), Fraction(26, 100), Fraction(31, 100)], Fraction(4)).tolist() == [0, 2]


def test_a_folder_of_videos_and_frames_becomes_a_frames_file(tmp_path):
    folder = tmp_path / "videos/mine"
    write_video(folder / "a.mp4", n=30, fps=30)   # 10 frames at 10 fps
    write_video(folder / "b.avi", n=20, fps=20)   # 10
    write_video(folder / "c.gif", n=8, fps=10)    # 8
    write_pngs(folder / "d", n=12)                # 12 images, one frame each
    (folder / ".DS_Store").write_bytes(b"\0")     # hidden: ignored
    out = tmp_path / "data/mine/frames.h5"
    assert collect(config(), tmp_path, out, clip_len=4) == (40, 4)
    frames, episode, attrs, datasets = read(out)
    assert frames.shape == (40, 16, 16, 3) and frames.dtype == np.uint8
    assert np.bincount(episode).tolist() == [10, 10, 8, 12]
    assert "action" not in datasets and "speed" not in datasets  # a video records no actions
    assert attrs["source"] == "video_dir" and attrs["resolution"] == 16 and attrs["fps"] == 10.0
    assert attrs["interval"] == pytest.approx(0.1) and f"PyAV {av.__version__}" in attrs["simulator_version"]
    import json
    inputs = json.loads(attrs["inputs"])
    assert [(r["name"], r["kind"], r["width"], r["height"], r["source_frames"], r["frames"]) for r in inputs] == [
        ("a.mp4", "video", 64, 48, 30, 10), ("b.avi", "video", 64, 48, 20, 10), ("c.gif", "video", 64, 48, 8, 8),
        ("d", "images", 64, 48, 12, 12)]
    assert inputs[0]["fps"] == 30.0 and all(len(r["sha256"]) == 64 for r in inputs) and len(attrs["inputs_sha256"]) == 64

    # the same inputs give the same bytes; a changed input changes the recorded hash
    again = tmp_path / "again.h5"
    collect(config(), tmp_path, again, clip_len=4)
    assert again.read_bytes() == out.read_bytes()
    Image.fromarray(picture(99)).save(folder / "d/frame_005.png")
    collect(config(), tmp_path, again, clip_len=4)
    assert read(again)[2]["inputs_sha256"] != attrs["inputs_sha256"]


def test_frames_are_resampled_resized_and_centre_cropped(tmp_path):
    """Lossless inputs, checked by hand: the short side resized to the resolution, the long side
    centre-cropped (Pillow bicubic), frames kept at the nearest timestamps."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 96, 3), dtype=np.uint8) for _ in range(9)]
    folder = tmp_path / "videos/mine/seq"
    folder.mkdir(parents=True)
    for i, a in enumerate(images):
        Image.fromarray(a).save(folder / f"{i:02d}.png")
    out = tmp_path / "frames.h5"
    collect(config(image_fps=30.0), tmp_path, out, clip_len=2)  # 30 images a second, 10 kept
    frames = read(out)[0]
    want = [np.asarray(Image.fromarray(images[i]).resize((32, 16), Image.Resampling.BICUBIC))[:, 8:24] for i in (0, 3, 6)]
    assert np.array_equal(frames, np.stack(want))
    # a lossy video: the same geometry, close to the pictures it encodes
    write_video(tmp_path / "videos/vid/a.mp4", n=6, fps=10, w=96, h=48, codec="libx264")
    collect(config(path="videos/vid"), tmp_path, out, clip_len=2)
    frames = read(out)[0]
    square = [np.asarray(Image.fromarray(picture(i, 96, 48)).resize((32, 16), Image.Resampling.BICUBIC))[:, 8:24]
              for i in range(6)]
    assert frames.shape == (6, 16, 16, 3) and np.abs(frames.astype(int) - np.stack(square)).mean() < 12


# ----------------------------------------------------------------------------- bad inputs

def run_collect(root: Path, capsys, benchmark="mine"):
    from stages.collect import main

    with pytest.raises(SystemExit) as exit_:
        main(["--params", str(root / "params.yaml"), "--benchmark", benchmark, "--root", str(root)])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return exit_.value.code, lines


def params_with_mine(root: Path, clip_len: int = 4, **collect_cfg) -> dict:
    """The repo's params.yaml with a video_dir benchmark 'mine' shaped like driving (no counterfactuals, no long
    horizon)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    mine = {key: dict(value) for key, value in params["benchmarks"]["driving"].items()
            if key not in ("counterfactuals", "long_horizon")}
    mine["collect"] = {"source": "video_dir", "path": "videos/mine", "resolution": 16, "fps": 10.0, **collect_cfg}
    mine["split"] = {"train": 0.6, "val": 0.2, "test": 0.2}
    mine["clips"].update(clip_len=clip_len, eval_stride=clip_len)
    mine["protocol"].update(context_frames=clip_len // 2, horizon=clip_len - clip_len // 2, test_stride=clip_len,
                            block_clips=1)
    params["benchmarks"]["mine"] = mine
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


def corrupt(folder: Path, case: str) -> str:
    """Make bad input ``case`` in ``folder`` (good videos first); the name the error must give."""
    write_video(folder / "a.mp4")
    if case == "missing":
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()
        return "videos/mine: folder not found"
    if case == "empty":
        (folder / "a.mp4").unlink()
        return "videos/mine: no videos nor folders of images in it"
    if case == "garbage":
        (folder / "b.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
        return "b.mp4: unreadable or corrupt video"
    if case == "truncated":
        data = write_video(folder / "b.mp4").read_bytes()
        (folder / "b.mp4").write_bytes(data[: len(data) // 2])
        return "b.mp4: unreadable or corrupt video"
    if case == "truncated_gif":  # FFmpeg decodes half of it, and says so
        data = write_video(folder / "b.gif", n=20, fps=10).read_bytes()
        (folder / "b.gif").write_bytes(data[: len(data) // 2])
        return "b.gif: unreadable or corrupt video (FFmpeg: LZW decode failed)"
    if case == "corrupt_png":
        data = (write_pngs(folder / "b", n=6) / "frame_003.png").read_bytes()
        (folder / "b/frame_003.png").write_bytes(data[:40])
        return "frame_003.png: unreadable or corrupt image"
    if case == "short":
        write_video(folder / "b.mp4", n=9, fps=30)  # 3 frames at 10 fps
        return "b.mp4: 3 frames at 10 fps, fewer than one clip (benchmarks.mine.clips.clip_len = 4)"
    if case == "mixed_sizes":
        write_video(folder / "b.mp4", w=32, h=32)
        return "b.mp4: 32x32, but"
    if case == "mixed_image_sizes":
        write_pngs(folder / "b", n=6)
        Image.fromarray(picture(0, 32, 48)).save(folder / "b/frame_004.png")
        return "frame_004.png: 32x48, but the first image of"
    if case == "not_a_video":
        (folder / "notes.txt").write_text("hello")
        return "notes.txt: neither a video"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing", "empty", "garbage", "truncated", "truncated_gif", "corrupt_png", "short",
                                  "mixed_sizes", "mixed_image_sizes", "not_a_video"])
def test_each_bad_input_is_one_line_naming_the_file(tmp_path, capsys, case):
    params_with_mine(tmp_path)
    fragment = corrupt(tmp_path / "videos/mine", case)
    code, lines = run_collect(tmp_path, capsys)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and fragment in lines[0], lines
    data = tmp_path / "data/mine"
    assert not data.exists() or not any(data.iterdir())  # nothing written, not even a temporary file


@pytest.mark.parametrize("collect_cfg, message", [
    ({"path": "/data/videos"}, "benchmarks.mine.collect.path must be a folder under videos/"),
    ({"path": "clips/mine"}, "benchmarks.mine.collect.path must be a folder under videos/"),
    ({"path": "videos/../data"}, "benchmarks.mine.collect.path must be a folder under videos/"),
    ({"resolution": 20}, "benchmarks.mine.collect.resolution must be a multiple of 16"),
    ({"fps": 0}, "benchmarks.mine.collect.fps must be > 0"),
    ({"seed": 1}, "benchmarks.mine.collect.seed is not a known parameter"),
    ({"extensions": []}, "benchmarks.mine.collect.extensions must be a non-empty list"),
])
def test_params_are_checked(tmp_path, collect_cfg, message):
    from genvid import params as P

    raw = params_with_mine(tmp_path, **collect_cfg)
    with pytest.raises(ParamError, match=message.replace(".", r"\.").replace("/", "/")):
        P.benchmark(raw, "mine", "params.yaml")


def test_counterfactuals_section_is_refused(tmp_path):
    from genvid import params as P

    raw = params_with_mine(tmp_path)
    raw["benchmarks"]["mine"]["counterfactuals"] = raw["benchmarks"]["driving"]["counterfactuals"]
    with pytest.raises(ParamError, match="benchmarks.mine.counterfactuals: source 'video_dir' has no simulator"):
        P.benchmark(raw, "mine", "params.yaml")


# ----------------------------------------------------------------------------- the data stages

def test_data_stages_of_a_video_dir_benchmark(tmp_path, capsys):
    """Acceptance: a video_dir benchmark built from generated files runs its data stages (collect,
    split, normalize, counterfactuals) and an action-free run (copy_last: train, sample); a model that
    reads actions is refused with one line."""
    from stages import collect as collect_stage
    from stages import counterfactuals, normalize, split

    from genvid.data.clips import UnitClipDataset
    from genvid.data.counterfactuals import read_counterfactuals
    from genvid.io import read_json

    params_with_mine(tmp_path)
    folder = tmp_path / "videos/mine"
    for name in ("a.mp4", "b.mp4", "c.webm"):
        write_video(folder / name, n=60, fps=30)  # 20 frames each at 10 fps
    write_pngs(folder / "d", n=20)
    argv = ["--params", str(tmp_path / "params.yaml"), "--benchmark", "mine", "--root", str(tmp_path)]
    for stage in (collect_stage, split, normalize):
        stage.main(argv)
    counterfactuals.main([*argv, "--no-progress"])
    data = tmp_path / "data/mine"
    frames, episode, attrs, _ = read(data / "frames.h5")
    assert frames.shape == (80, 16, 16, 3) and attrs["episodes"] == 4
    splits = read_json(data / "split.json")["splits"]
    assert splits["train"]["ranges"] == [[0, 20], [20, 40], [40, 48]]  # chronological, in file order
    assert splits["test"]["ranges"] == [[64, 80]]  # the last file
    stats = read_json(data / "stats.json")
    assert len(stats["mean"]) == 3 and all(s > 0 for s in stats["std"])
    cf = read_counterfactuals(data / "counterfactuals.h5")
    assert not cf.available and cf.reason == "the benchmark sets no counterfactuals section"  # no clips, the reason

    # action-free clips load; a model that reads actions is told the file records none
    clips = UnitClipDataset(data / "frames.h5", data / "split.json", "train", 4, 1)
    assert tuple(clips[0].shape) == (4, 3, 16, 16)
    with pytest.raises(GenvidError, match="reads per-frame 'action', which this frames file does not record"):
        UnitClipDataset(data / "frames.h5", data / "split.json", "train", 4, 1, cond="action")

    # through the run stages: an action-free model trains and samples, an action-steered one is refused
    from stages import sample, train

    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["runs"] = {f"mine-{m}": {"benchmark": "mine", "model": m} for m in ("copy_last", "svg_lp_action", "vq_action")}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    argv = ["--params", str(tmp_path / "params.yaml"), "--root", str(tmp_path)]
    train.main([*argv, "--run", "mine-copy_last"])
    sample.main([*argv, "--run", "mine-copy_last"])
    assert (data / "samples/mine-copy_last.h5").is_file()
    capsys.readouterr()
    for run in ("mine-svg_lp_action", "mine-vq_action"):
        with pytest.raises(SystemExit) as exit_:
            train.main([*argv, "--run", run])
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip() and "%|" not in line]
        assert exit_.value.code == 2 and len(lines) == 1, lines
        assert "frames.h5: the model reads per-frame 'action', which this frames file does not record" in lines[0]
        assert not (tmp_path / "models" / run).exists()
