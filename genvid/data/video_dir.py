"""Source ``video_dir``: a folder of the user's own videos as a benchmark (issue 22 item 5).

What stage collect does with ``benchmarks.<b>.collect`` = ``{source: video_dir, path, resolution, fps, ...}``:

- **Inputs.** ``path`` is a folder under ``videos/`` of the project (stage collect depends on
  ``videos/`` in dvc.yaml, so adding, changing or removing a video reruns it). Its entries, sorted
  by name (plain code-point order: zero-pad numbers), are the episodes: each video file (an
  extension of ``extensions``: mp4, avi, webm, gif, ...) is one episode, decoded by PyAV (FFmpeg's
  libraries, pinned in requirements.lock; never a hand-written decoder), and each sub-folder of
  images (png, jpg, bmp) is one episode, its images sorted by name and read by Pillow. Hidden
  entries (a leading ".") are ignored; anything else is refused.
- **Frame rate.** Each episode is resampled to ``fps`` by nearest timestamp: output frame k is
  the decoded frame whose presentation time, counted from the first frame, is nearest to k / fps
  (the earlier one on a tie), for every k / fps up to the last frame's time, exact rational
  arithmetic on the container's timestamps (a 30 fps file at fps 10 keeps frames 0, 3, 6, ...; a
  lower source rate repeats frames). A folder of images is taken at ``image_fps`` (default:
  ``fps``, one image per frame). ``max_frames`` keeps the first frames of each episode.
- **Size.** Every input must have one size (the first file's); each frame is resized so that its
  short side is ``resolution``, then centre-cropped to ``resolution`` x ``resolution``: one Pillow
  resize (antialiased bicubic) of the central square, side min(W, H), whose filter reads the pixels
  around it as a resize of the whole frame would. Colour is FFmpeg's conversion to 8-bit RGB
  (swscale; its bytes may differ between CPU families, like the rest of genvid's); alpha is dropped.
- **No actions.** A user's video records none: the frames file has no ``action`` nor ``speed``
  dataset. Every model that reads frames alone runs on it (copy_last, vq, svg_lp, ...); a model
  that reads actions (svg_lp_action, vq_action) is refused by its train stage with one line
  (genvid.data.frames.conditioning), and stage counterfactuals writes the file saying there is no
  simulator to replay (a ``counterfactuals`` section is refused in params.yaml).
- **The rest is as for driving**: stage split cuts the recording chronologically in file order
  (seed 000 §4.1.2, genvid.data.split), so the first files train and the last ones test; clips never
  cross a file.
- **Provenance.** The frames file's attributes name the source, the decoder's version, every input
  (name, kind, original size and frame rate, frames decoded and kept, SHA-256 of its bytes) and a
  SHA-256 over all of them (``inputs_sha256``).

Bad inputs are one GenvidError line naming the file, and nothing is written: a missing or empty
folder, an unreadable or corrupt video (FFmpeg reports an error while opening or decoding it), a
video too short for one clip (``clips.clip_len`` frames after resampling), a size other than the
first file's.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import Iterator

import numpy as np

from genvid.config import rule
from genvid.errors import GenvidError

VIDEO_SOURCE = "video_dir"
VIDEO_ROOT = "videos"  # the folder of the project stage collect depends on (dvc.yaml)
VERSION = "video_dir-1"  # bump when what a given input becomes changes
VIDEO_EXTENSIONS = ("mp4", "avi", "webm", "gif", "mov", "mkv", "m4v")
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "bmp")


@dataclass(frozen=True)
class VideoDirCollectConfig:
    """``benchmarks.<b>.collect`` for source video_dir."""

    source: str = field(metadata=rule(choices=(VIDEO_SOURCE,)))
    path: str  # a folder under videos/, relative to the project root
    resolution: int = field(metadata=rule(min=16, max=1024, multiple_of=16))  # square frames
    fps: float = field(metadata=rule(min=0.0, exclusive_min=True))  # frames per second recorded
    image_fps: float | None = field(default=None, metadata=rule(min=0.0, exclusive_min=True))  # folders of images
    max_frames: int | None = field(default=None, metadata=rule(min=1))  # per episode, after resampling
    extensions: tuple[str, ...] = VIDEO_EXTENSIONS  # video files, case-insensitive

    @property
    def interval(self) -> float:
        """Seconds between recorded frames (what the procedural sources call ``interval``)."""
        return 1.0 / self.fps

    def validate(self) -> str | None:
        parts = PurePosixPath(self.path).parts
        if PurePosixPath(self.path).is_absolute() or ".." in parts or len(parts) < 2 or parts[0] != VIDEO_ROOT:
            return (f"path must be a folder under {VIDEO_ROOT}/ of the project, relative to its root (stage collect "
                    f"depends on {VIDEO_ROOT}/ in dvc.yaml), got {self.path!r}")
        bad = [e for e in self.extensions if not e.strip(".").isalnum()]
        if not self.extensions or bad:
            return f"extensions must be a non-empty list of file extensions such as mp4, got {list(self.extensions)}"
        return None


@dataclass(frozen=True)
class Input:
    """One episode's input, probed: its frames decoded once, nothing converted yet."""

    path: Path
    name: str            # relative to the folder
    kind: str            # "video" or "images"
    width: int
    height: int
    source_fps: float | None
    source_frames: int   # frames decoded
    keep: np.ndarray     # int64 indices of the decoded frames recorded, in order
    sha256: str

    def record(self) -> dict:
        return {"name": self.name, "kind": self.kind, "width": self.width, "height": self.height,
                "fps": self.source_fps, "source_frames": self.source_frames, "frames": int(len(self.keep)),
                "sha256": self.sha256}


@dataclass(frozen=True)
class VideoEpisode:
    frames: np.ndarray  # uint8 [T, resolution, resolution, 3]


# ----------------------------------------------------------------------------- resampling

def resample(times: list[Fraction], fps: Fraction, max_frames: int | None = None) -> np.ndarray:
    """Indices of the frames at ``times`` (strictly increasing) nearest to 0, 1/fps, 2/fps, ... after
    the first frame's time, up to the last frame's time; the earlier frame on a tie."""
    if not times:
        return np.zeros(0, np.int64)
    rel = [t - times[0] for t in times]
    keep, i, k = [], 0, 0
    while max_frames is None or len(keep) < max_frames:
        target = k / fps
        if target > rel[-1]:
            break
        while i + 1 < len(rel) and abs(rel[i + 1] - target) < abs(rel[i] - target):
            i += 1
        keep.append(i)
        k += 1
    return np.asarray(keep, np.int64)


def _rate(value: float) -> Fraction:
    return Fraction(value).limit_denominator(1_000_000)  # 29.97 -> 2997/100, exactly


# ----------------------------------------------------------------------------- listing

def list_inputs(folder: Path, cfg: VideoDirCollectConfig) -> list[tuple[Path, str]]:
    """(path, kind) of each episode's input, sorted by name; a folder missing, empty or holding
    anything else is one line naming it."""
    if not folder.is_dir():
        raise GenvidError(f"{folder}: folder not found (collect.path of a video_dir benchmark: put the videos "
                          f"there)" if not folder.exists() else f"{folder}: not a folder (collect.path)")
    videos = {e.lower().lstrip(".") for e in cfg.extensions}
    found = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found.append((entry, "images"))
        elif entry.is_file() and entry.suffix.lower().lstrip(".") in videos:
            found.append((entry, "video"))
        else:
            raise GenvidError(f"{entry}: neither a video ({', '.join(sorted(videos))}) nor a folder of images "
                              f"({', '.join(IMAGE_EXTENSIONS)}); move it out of {folder}")
    if not found:
        raise GenvidError(f"{folder}: no videos nor folders of images in it (extensions: "
                          f"{', '.join(sorted(videos))})")
    return found


def _images(folder: Path) -> list[Path]:
    files = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if not (entry.is_file() and entry.suffix.lower().lstrip(".") in IMAGE_EXTENSIONS):
            raise GenvidError(f"{entry}: not an image ({', '.join(IMAGE_EXTENSIONS)}) in the folder of frames {folder}")
        files.append(entry)
    if not files:
        raise GenvidError(f"{folder}: a folder of frames with no images ({', '.join(IMAGE_EXTENSIONS)})")
    return files


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- decoding

class _Video:
    """One video file opened with PyAV: its frames in presentation order; any FFmpeg error while
    opening or decoding (a log line at level ERROR or worse, or an exception) is one GenvidError line."""

    def __init__(self, path: Path):
        self.path = path

    def frames(self) -> Iterator:
        import av
        import av.logging

        level, skip = av.logging.get_level(), av.logging.get_skip_repeated()
        av.logging.set_level(av.logging.ERROR)
        av.logging.set_skip_repeated(False)  # else a repeated line is held back and lands in a later capture
        try:
            with av.logging.Capture() as logs:
                try:
                    with av.open(str(self.path), "r") as container:
                        if not container.streams.video:
                            raise GenvidError(f"{self.path}: no video stream in it (an audio file?)")
                        stream = container.streams.video[0]
                        self.rate = stream.average_rate or stream.guessed_rate or stream.base_rate
                        self.time_base = stream.time_base
                        for frame in container.decode(stream):
                            if logs:
                                break
                            yield frame
                except GenvidError:
                    raise
                except (av.FFmpegError, OSError, ValueError, EOFError) as err:
                    raise GenvidError(f"{self.path}: unreadable or corrupt video ({_first_line(err)})") from None
                if logs:
                    raise GenvidError(f"{self.path}: unreadable or corrupt video (FFmpeg: {_first_line(logs[-1][2])})")
        finally:
            av.logging.set_level(level)
            av.logging.set_skip_repeated(skip)


def _first_line(err: object) -> str:
    text = str(err).strip().splitlines()
    return text[0].strip() if text else type(err).__name__


def _probe_video(path: Path, name: str, fps: Fraction, max_frames: int | None) -> Input:
    video = _Video(path)
    times, size, pts_missing, count = [], None, False, 0
    for i, frame in enumerate(video.frames()):
        count += 1
        if size is None:
            size = (frame.width, frame.height)
        elif (frame.width, frame.height) != size:
            raise GenvidError(f"{path}: frame {i} is {frame.width}x{frame.height}, the first {size[0]}x{size[1]} "
                              "(a video that changes size)")
        time_base = frame.time_base or video.time_base
        if frame.pts is None or time_base is None:
            pts_missing = True
        else:
            times.append(Fraction(frame.pts) * Fraction(time_base))
    if size is None:
        raise GenvidError(f"{path}: unreadable or corrupt video (no frame decoded)")
    rate = Fraction(video.rate) if video.rate else None
    if pts_missing:  # no timestamps: the stream's frame rate
        if not rate:
            raise GenvidError(f"{path}: its frames have no timestamps and its stream no frame rate")
        times = [Fraction(i) / rate for i in range(count)]
    for j in range(1, len(times)):
        if times[j] <= times[j - 1]:
            raise GenvidError(f"{path}: frame {j}'s timestamp {float(times[j]):.4f} s is not after frame "
                              f"{j - 1}'s ({float(times[j - 1]):.4f} s)")
    return Input(path, name, "video", size[0], size[1], float(rate) if rate else None, len(times),
                 resample(times, fps, max_frames), _sha256(path))


def _open_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise GenvidError(f"{path}: unreadable or corrupt image ({_first_line(err)})") from None


def _probe_images(folder: Path, name: str, fps: Fraction, image_fps: Fraction, max_frames: int | None) -> Input:
    from PIL import Image, UnidentifiedImageError

    files = _images(folder)
    size, digest = None, hashlib.sha256()
    for path in files:
        try:
            with Image.open(path) as im:
                im.verify()  # header and checksums, without decoding: _frames decodes them
                this = im.size
        except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as err:
            raise GenvidError(f"{path}: unreadable or corrupt image ({_first_line(err)})") from None
        if size is None:
            size = this
        elif this != size:
            raise GenvidError(f"{path}: {this[0]}x{this[1]}, but the first image of {folder} is {size[0]}x{size[1]}")
        digest.update(f"{path.name}\0{_sha256(path)}\n".encode())
    times = [Fraction(i) / image_fps for i in range(len(files))]
    return Input(folder, name, "images", size[0], size[1], float(image_fps), len(files),
                 resample(times, fps, max_frames), digest.hexdigest())


def _square(rgb: np.ndarray, resolution: int) -> np.ndarray:
    """An RGB frame resized (Pillow bicubic) so its short side is ``resolution``, then centre-cropped to a
    square: one resize of the central square (``box``), exactly the two steps where the sizes are whole."""
    from PIL import Image

    h, w = rgb.shape[:2]
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    im = Image.fromarray(rgb, "RGB")
    return np.asarray(im.resize((resolution, resolution), Image.Resampling.BICUBIC,
                                box=(left, top, left + side, top + side)), dtype=np.uint8)


def _frames(item: Input, resolution: int) -> np.ndarray:
    """The episode's recorded frames, uint8 [len(keep), resolution, resolution, 3]."""
    out = np.zeros((len(item.keep), resolution, resolution, 3), np.uint8)
    wanted: dict[int, list[int]] = {}
    for row, index in enumerate(item.keep.tolist()):
        wanted.setdefault(index, []).append(row)
    if item.kind == "images":
        files = _images(item.path)
        for index, rows in wanted.items():
            out[rows] = _square(np.asarray(_open_image(files[index])), resolution)
        return out
    decoded = 0
    for index, frame in enumerate(_Video(item.path).frames()):
        decoded += 1
        if index in wanted:
            out[wanted[index]] = _square(frame.to_ndarray(format="rgb24"), resolution)
    if decoded != item.source_frames:
        raise GenvidError(f"{item.path}: decoded {decoded} frames, {item.source_frames} the first time "
                          "(the file changed while collect read it?)")
    return out


# ----------------------------------------------------------------------------- the source

def decoder_version() -> str:
    import av
    import PIL

    codec = ".".join(map(str, av.library_versions.get("libavcodec", ())))
    return f"{VERSION}, PyAV {av.__version__} (libavcodec {codec}), Pillow {PIL.__version__}"


def probe(cfg: VideoDirCollectConfig, root: Path, clip_len: int, where: str = "collect") -> list[Input]:
    """Every input of the benchmark, decoded once and checked before anything is written: one size,
    at least ``clip_len`` frames each after resampling."""
    folder = Path(root) / cfg.path
    fps = _rate(cfg.fps)
    image_fps = _rate(cfg.image_fps) if cfg.image_fps is not None else fps
    inputs = []
    for path, kind in list_inputs(folder, cfg):
        name = path.name
        item = (_probe_video(path, name, fps, cfg.max_frames) if kind == "video"
                else _probe_images(path, name, fps, image_fps, cfg.max_frames))
        if inputs and (item.width, item.height) != (inputs[0].width, inputs[0].height):
            first = inputs[0]
            raise GenvidError(f"{path}: {item.width}x{item.height}, but {first.path} (the first input) is "
                              f"{first.width}x{first.height}; every input of a video_dir benchmark must have one "
                              "size (resize them first)")
        if len(item.keep) < clip_len:
            raise GenvidError(f"{path}: {len(item.keep)} frames at {cfg.fps:g} fps, fewer than one clip "
                              f"({where}.clips.clip_len = {clip_len}); remove it or lower fps or clip_len")
        inputs.append(item)
    return inputs


def inputs_attrs(cfg: VideoDirCollectConfig, inputs: list[Input]) -> dict:
    """The frames file's attributes: source, sizes, the decoder and each input with its hash."""
    records = [item.record() for item in inputs]
    digest = hashlib.sha256(json.dumps([[r["name"], r["sha256"]] for r in records]).encode()).hexdigest()
    return {"source": VIDEO_SOURCE, "path": cfg.path, "resolution": cfg.resolution, "fps": float(cfg.fps),
            "interval": float(cfg.interval), "episodes": len(inputs), "simulator_version": decoder_version(),
            "inputs": json.dumps(records, sort_keys=True), "inputs_sha256": digest,
            "resize": "central square, Pillow bicubic", "resample": "nearest timestamp"}


def collect(cfg: VideoDirCollectConfig, root: str | Path, out: str | Path, clip_len: int, where: str = "collect",
            progress=lambda it: it) -> tuple[int, int]:
    """Write the benchmark's frames file at ``out`` (atomically, no actions); (frames, episodes)."""
    from genvid.data.frames import write_frames

    inputs = probe(cfg, Path(root), clip_len, where)
    total = int(sum(len(item.keep) for item in inputs))
    episodes = (VideoEpisode(_frames(item, cfg.resolution)) for item in progress(inputs))
    write_frames(out, episodes, total, cfg.resolution, inputs_attrs(cfg, inputs), actions=False)
    return total, len(inputs)
