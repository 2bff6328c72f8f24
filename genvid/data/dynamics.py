"""A Dynamics-like benchmark (seed 003 §5.2; issue 22 item 4): one object moving in one of 10
motion classes on a textured background, every sequence a pure function of (seed, stream, index).

Seed 003's "Dynamics" (Bullet Physics, never released) has 10 classes: path {linear, sinusoidal,
hypocycloidal} × speed {constant, accelerating, bouncing}, plus rotation; shape, colour, size and
background texture randomised; "the object is always in motion". It states no resolution, length,
frame rate or rendering, so genvid draws a Dynamics-*like* set procedurally, with 2D analytic
trajectories. Read top to bottom like the construction; every choice the thesis leaves open is
marked **choice** (the report's choices table lists them: genvid.report.choices).

1. **Class.** Sequence ``index`` of a stream has class ``index % 10`` (``CLASSES``: path-major,
   then rotation), so any 10 consecutive indices are balanced. **choice**
2. **Object.** A filled polygon: shape uniform over ``SHAPES`` (triangle, square, pentagon,
   five-point star, plus-shaped cross, 2:1 rectangle; no circle, whose rotation would not show);
   circumradius ρ uniform in [5, 9] px; orientation uniform in [0, 2π); colour uniform in HSV with
   saturation in [0.6, 1] and value in [0.8, 1]. Antialiased by 4×4 supersampling (coverage). **choice**
3. **Background** (static, the camera does not move): one of three seeded textures between two
   colours of HSV value in [0.1, 0.45] and saturation in [0, 0.7], so the object (value ≥ 0.8)
   always stands out: *smooth noise* (uniform values on a g×g lattice, g in {3..6}, smoothstep
   interpolation), *stripes* (a sine of period 8–20 px at a random angle and phase) or *checker*
   (the product of two such sines, period 8–16 px, rotated). **choice**
4. **Speed type: progress s(t) in px along the path** (t = 0, 1, ... frames): **choice**
   - *constant*: s = v t, v uniform in [1.2, 2.0] px/frame;
   - *accelerating*: s = v0 t + a t²/2 from nearly at rest, v0 in [0, 0.3], a in [0.14, 0.20]
     px/frame² (over the 8-frame future t = 8..15 the speed grows from 1.1–1.9 to 2.1–3.3);
   - *bouncing*: constant speed v in [2, 3] between two walls along the path, reflected
     elastically at each (the direction of travel reverses): s = v·(H − |((t + t0) mod 2H) − H|),
     half-period H in [3, 4.5] frames, phase t0 in [0, 2H). The walls are invisible and H < 7, so
     every 8-frame window shows a reversal (walls at the frame's edges would reverse a 2 px/frame
     object once every 20 frames: most 8-frame futures would show none, and bouncing would be
     unlearnable from them). *Deviation:* Bullet's bouncing (against which surface?) is not stated.
5. **Path: centre offset p(s)** from a base point: **choice**
   - *linear*: p = s·u, u a unit vector at a uniform angle;
   - *sinusoidal*: p = s·u + A sin(2π s/λ + ψ)·n (n ⟂ u), amplitude A in [5, 8] px, wavelength
     λ in [12, 20] px, phase ψ uniform;
   - *hypocycloidal*: the curve a point of a circle of radius r = R/k draws rolling inside one of
     radius R: p = (R − r)(cos θ, sin θ) + r(cos((R − r)θ/r), −sin((R − r)θ/r)), rotated by a
     uniform angle, with k in {3, 4, 5} cusps, R in [12, 18] px, θ = ±1.5 s/R (either direction).
6. **Rotation** (class 9): the centre stays still and the object turns at ω, |ω| in [0.12, 0.30]
   rad/frame, either sign (below every shape's symmetry angle: the turn is unambiguous); in the
   path classes the orientation stays fixed. **choice**
7. **Placement.** The trajectory's bounding box over ``MAX_LENGTH`` = 20 frames is placed
   uniformly at random where the object's circumscribed disc stays inside the 64×64 frame for
   all of them; the speed ranges above are chosen so that this always fits. A shorter sequence
   is the prefix of the 20-frame one (the placement does not depend on the length); longer
   sequences are refused (a translating object would leave the frame). **choice**

**Reference futures** (``extrapolated_sequence``): a sequence redrawn from a frame on with the object's
centre and orientation continued by a polynomial through their last known values (constant velocity,
constant acceleration); the motion metric scores them beside the runs (genvid.metrics.motion).

Coordinates are continuous pixels: the frame spans [0, 64]², pixel (i, j) covers
[j, j + 1) × [i, i + 1); a centre is (x, y). Frames are 64×64 RGB uint8:
``round(255 · (background · (1 − coverage) + colour · coverage))``.

Determinism: random numbers come from ``numpy.random.Generator(PCG64(SeedSequence([seed,
stream code, index])))``, drawn in a fixed order; sines and cosines are genvid.data.sim_math's
(IEEE basic operations only), so the bytes are the same on every CPU, whatever the number of
DataLoader workers or the batch size. The training and validation streams are the "train"
stream's disjoint index ranges (genvid.data.benchmark), the test set (``write_test_set``) the
"test" stream's indices 0..N−1, stored in the frames file with the labels and trajectories.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import h5py
import numpy as np

from genvid.data import sim_math
from genvid.data.h5 import plain_attrs, read_h5
from genvid.errors import GenvidError
from genvid.io import atomic_path

FRAME_SIZE = 64
CHANNELS = 3
MAX_LENGTH = 20  # frames every trajectory is placed to stay in frame for (module docstring, step 7)
SUPERSAMPLE = 4  # antialiasing: SUPERSAMPLE² coverage samples per pixel

PATHS = ("linear", "sinusoidal", "hypocycloidal")
SPEEDS = ("constant", "accelerating", "bouncing")
CLASSES = tuple(f"{p}_{s}" for p in PATHS for s in SPEEDS) + ("rotation",)
ROTATION = len(CLASSES) - 1
SHAPES = ("triangle", "square", "pentagon", "star", "cross", "rectangle")
TEXTURES = ("noise", "stripes", "checker")
STREAMS = {"train": 0, "test": 1}  # the stream code enters the seed (SM-MNIST's "pool")

GENERATOR_VERSION = "dynamics-1"
RADIUS = (5.0, 9.0)
OBJECT_SATURATION, OBJECT_VALUE = (0.6, 1.0), (0.8, 1.0)
BACKGROUND_SATURATION, BACKGROUND_VALUE = (0.0, 0.7), (0.1, 0.45)
CONSTANT_SPEED = (1.2, 2.0)
ACCEL_START, ACCEL = (0.0, 0.3), (0.14, 0.20)
BOUNCE_SPEED, BOUNCE_HALF_PERIOD = (2.0, 3.0), (3.0, 4.5)
SINE_AMPLITUDE, SINE_WAVELENGTH = (5.0, 8.0), (12.0, 20.0)
HYPO_CUSPS, HYPO_RADIUS = (3, 4, 5), (12.0, 18.0)
HYPO_RATE = 1.5  # theta = +-1.5 s / R
ROTATION_SPEED = (0.12, 0.30)

RULES = {
    "class_rule": "class = index % 10 (CLASSES order)",
    "speed_rule": ("progress s(t) px: constant v t, v in [1.2, 2]; accelerating v0 t + a t^2/2, v0 in [0, 0.3], "
                   "a in [0.14, 0.2]; bouncing v (H - |((t + t0) mod 2H) - H|), v in [2, 3], H in [3, 4.5]"),
    "path_rule": ("linear s u; sinusoidal s u + A sin(2 pi s / lambda + psi) n, A in [5, 8], lambda in [12, 20]; "
                  "hypocycloid k in {3, 4, 5} cusps, R in [12, 18], theta = +-1.5 s/R"),
    "rotation_rule": "centre still, |omega| in [0.12, 0.3] rad/frame",
    "object_rule": ("polygon of SHAPES, circumradius in [5, 9] px, HSV colour s in [0.6, 1], v in [0.8, 1], "
                    "4x4 supersampled"),
    "texture_rule": "noise | stripes | checker between two HSV colours, s in [0, 0.7], v in [0.1, 0.45]",
    "placement_rule": (f"bounding box of the first {MAX_LENGTH} frames placed uniformly with the object inside "
                       "the frame"),
}


# ----------------------------------------------------------------------------- what a sequence is

@dataclass(frozen=True)
class Sequence:
    frames: np.ndarray   # uint8 [T, 64, 64, 3]
    centres: np.ndarray  # float64 [T, 2]: the object's centre (x, y) in pixels, frame [0, 64]^2
    angles: np.ndarray   # float64 [T]: the object's orientation, radians
    label: int           # index into CLASSES
    shape: int           # index into SHAPES
    radius: float        # circumradius, pixels
    motion: dict         # the drawn motion parameters by name (module docstring, steps 4-7), e.g. "v", "heading"

    @property
    def labels(self) -> np.ndarray:
        """uint8 [1]: the class, in SM-MNIST's per-sequence ``labels`` form (a linear probe's targets)."""
        return np.array([self.label], dtype=np.uint8)


def class_of(index: int) -> int:
    return int(index) % len(CLASSES)


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise GenvidError(f"dynamics {name}={value!r} must be an integer >= {low}")


def check_stream(seed: int, length: int, pool: str) -> None:
    """One line naming the bad argument of a (seed, stream) stream of ``length``-frame sequences."""
    _check_int("seed", seed, 0)
    _check_int("length", length, 1)
    if length > MAX_LENGTH:
        raise GenvidError(f"dynamics length={length} exceeds {MAX_LENGTH} frames (a translating object "
                          f"would leave the frame; genvid.data.dynamics.MAX_LENGTH)")
    if pool not in STREAMS:
        raise GenvidError(f"dynamics stream={pool!r} must be one of {sorted(STREAMS)}")


def sequence_rng(seed: int, pool: str, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), STREAMS[pool], int(index)])))


# ----------------------------------------------------------------------------- colours, texture

def hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    """float64 [3] in [0, 1], basic arithmetic only."""
    h6 = (h % 1.0) * 6.0
    i = int(math.floor(h6))
    f = h6 - i
    p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i % 6], dtype=np.float64)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _colour(rng: np.random.Generator, saturation, value) -> np.ndarray:
    h = float(rng.uniform(0.0, 1.0))
    return hsv_to_rgb(h, _uniform(rng, saturation), _uniform(rng, value))


_CENTRES = (np.arange(FRAME_SIZE, dtype=np.float64) + 0.5)  # pixel centres


def background(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """(float64 [64, 64, 3] in [0, 1], texture index) of a seeded texture (module docstring, step 3)."""
    kind = int(rng.integers(0, len(TEXTURES)))
    first = _colour(rng, BACKGROUND_SATURATION, BACKGROUND_VALUE)
    second = _colour(rng, BACKGROUND_SATURATION, BACKGROUND_VALUE)
    y, x = np.meshgrid(_CENTRES, _CENTRES, indexing="ij")
    if TEXTURES[kind] == "noise":
        g = int(rng.integers(3, 7))
        lattice = rng.uniform(0.0, 1.0, size=(g + 1, g + 1))
        gy, gx = y * (g / FRAME_SIZE), x * (g / FRAME_SIZE)
        iy, ix = np.floor(gy).astype(np.int64), np.floor(gx).astype(np.int64)
        fy, fx = gy - iy, gx - ix
        fy, fx = fy * fy * (3.0 - 2.0 * fy), fx * fx * (3.0 - 2.0 * fx)  # smoothstep
        top = lattice[iy, ix] * (1.0 - fx) + lattice[iy, ix + 1] * fx
        bottom = lattice[iy + 1, ix] * (1.0 - fx) + lattice[iy + 1, ix + 1] * fx
        w = top * (1.0 - fy) + bottom * fy
    else:
        angle = float(rng.uniform(0.0, 2.0 * math.pi))
        c, s = sim_math.cos(angle), sim_math.sin(angle)
        u, v = x * c + y * s, y * c - x * s
        if TEXTURES[kind] == "stripes":
            period, phase = _uniform(rng, (8.0, 20.0)), float(rng.uniform(0.0, 2.0 * math.pi))
            w = 0.5 + 0.5 * sim_math.sin(u * (2.0 * math.pi / period) + phase)
        else:
            period = _uniform(rng, (8.0, 16.0))
            k = 2.0 * math.pi / period
            w = 0.5 + 0.5 * sim_math.sin(u * k) * sim_math.sin(v * k)
    return first * (1.0 - w)[..., None] + second * w[..., None], kind


# ----------------------------------------------------------------------------- shapes

def shape_vertices(shape: int) -> np.ndarray:
    """float64 [V, 2]: the polygon of SHAPES[shape] at circumradius 1, orientation 0, centred on its centroid."""
    name = SHAPES[shape]
    if name in ("triangle", "square", "pentagon"):
        n = {"triangle": 3, "square": 4, "pentagon": 5}[name]
        a = np.arange(n, dtype=np.float64) * (2.0 * math.pi / n)
        return np.stack([sim_math.cos(a), sim_math.sin(a)], 1)
    if name == "star":
        a = np.arange(10, dtype=np.float64) * (math.pi / 5.0)
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        return np.stack([r * sim_math.cos(a), r * sim_math.sin(a)], 1)
    if name == "cross":  # a plus of arm half-width w, reaching distance 1 at the corners of its arms
        w = 0.3
        h = math.sqrt(1.0 - w * w)
        return np.array([(h, -w), (h, w), (w, w), (w, h), (-w, h), (-w, w), (-h, w), (-h, -w), (-w, -w),
                         (-w, -h), (w, -h), (w, -w)], dtype=np.float64)
    # rectangle, 2:1, its corners on the unit circle
    a, b = 2.0 / math.sqrt(5.0), 1.0 / math.sqrt(5.0)
    return np.array([(a, b), (-a, b), (-a, -b), (a, -b)], dtype=np.float64)


def _inside(px: np.ndarray, py: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon of points (px, py) (any equal shapes) for polygon [V, 2]."""
    inside = np.zeros(px.shape, dtype=bool)
    x2, y2 = poly[-1]
    for x1, y1 in poly:
        crosses = (y1 > py) != (y2 > py)
        dy = y2 - y1 if y2 != y1 else 1.0
        xint = x1 + (py - y1) * ((x2 - x1) / dy)
        inside ^= crosses & (px < xint)
        x2, y2 = x1, y1
    return inside


def coverage(poly: np.ndarray) -> tuple[slice, slice, np.ndarray]:
    """(rows, cols, float64 [h, w]): the share of each pixel's SUPERSAMPLE² samples inside ``poly``
    (frame coordinates), over the pixels of its bounding box clipped to the frame."""
    lo = np.clip(np.floor(poly.min(0)).astype(np.int64), 0, FRAME_SIZE)
    hi = np.clip(np.ceil(poly.max(0)).astype(np.int64), 0, FRAME_SIZE)
    cols, rows = slice(int(lo[0]), int(hi[0])), slice(int(lo[1]), int(hi[1]))
    offsets = (np.arange(SUPERSAMPLE, dtype=np.float64) + 0.5) / SUPERSAMPLE
    sx = (np.arange(cols.start, cols.stop, dtype=np.float64)[:, None] + offsets).reshape(-1)
    sy = (np.arange(rows.start, rows.stop, dtype=np.float64)[:, None] + offsets).reshape(-1)
    py, px = np.meshgrid(sy, sx, indexing="ij")
    hit = _inside(px, py, poly).astype(np.float64)
    h, w = rows.stop - rows.start, cols.stop - cols.start
    cov = hit.reshape(h, SUPERSAMPLE, w, SUPERSAMPLE).sum(axis=(1, 3)) / float(SUPERSAMPLE * SUPERSAMPLE)
    return rows, cols, cov


# ----------------------------------------------------------------------------- motion

def progress(speed: int, rng: np.random.Generator, t: np.ndarray, record: dict) -> np.ndarray:
    """s(t) in px of speed type SPEEDS[speed] (module docstring, step 4); the draws go to ``record``."""
    if SPEEDS[speed] == "constant":
        record["v"] = v = _uniform(rng, CONSTANT_SPEED)
        return v * t
    if SPEEDS[speed] == "accelerating":
        v0, a = _uniform(rng, ACCEL_START), _uniform(rng, ACCEL)
        record.update(v0=v0, a=a)
        return v0 * t + 0.5 * a * t * t
    v, half = _uniform(rng, BOUNCE_SPEED), _uniform(rng, BOUNCE_HALF_PERIOD)
    t0 = float(rng.uniform(0.0, 2.0 * half))
    record.update(v=v, half_period=half, t0=t0)
    x = t + t0
    phase = x - (2.0 * half) * np.floor(x / (2.0 * half))
    return v * (half - np.abs(phase - half))


def path_offsets(path: int, rng: np.random.Generator, s: np.ndarray, record: dict) -> np.ndarray:
    """float64 [T, 2]: the centre's offset p(s) of path PATHS[path] (module docstring, step 5); the draws
    go to ``record``."""
    record["heading"] = heading = float(rng.uniform(0.0, 2.0 * math.pi))
    c, si = sim_math.cos(heading), sim_math.sin(heading)
    if PATHS[path] == "linear":
        return np.stack([s * c, s * si], 1)
    if PATHS[path] == "sinusoidal":
        amp, wavelength = _uniform(rng, SINE_AMPLITUDE), _uniform(rng, SINE_WAVELENGTH)
        psi = float(rng.uniform(0.0, 2.0 * math.pi))
        record.update(amplitude=amp, wavelength=wavelength, psi=psi)
        side = amp * sim_math.sin(s * (2.0 * math.pi / wavelength) + psi)
        return np.stack([s * c - side * si, s * si + side * c], 1)
    k = int(rng.choice(HYPO_CUSPS))
    big = _uniform(rng, HYPO_RADIUS)
    direction = 1.0 if rng.integers(0, 2) else -1.0
    record.update(cusps=k, big_radius=big, direction=direction)
    small = big / k
    theta = direction * HYPO_RATE * s / big
    ct, st = sim_math.sincos(theta)[::-1]
    cr, sr = sim_math.sincos(theta * ((big - small) / small))[::-1]
    hx, hy = (big - small) * ct + small * cr, (big - small) * st - small * sr
    return np.stack([hx * c - hy * si, hx * si + hy * c], 1)


def trajectory(label: int, rng: np.random.Generator, radius: float,
               record: dict | None = None) -> tuple[np.ndarray, float]:
    """(centres [MAX_LENGTH, 2], angular speed) of class ``label``, placed in the frame (step 7); the
    draws go to ``record``."""
    record = {} if record is None else record
    t = np.arange(MAX_LENGTH, dtype=np.float64)
    omega = 0.0
    if label == ROTATION:
        omega = _uniform(rng, ROTATION_SPEED) * (1.0 if rng.integers(0, 2) else -1.0)
        offsets = np.zeros((MAX_LENGTH, 2))
    else:
        path, speed = divmod(label, len(SPEEDS))
        offsets = path_offsets(path, rng, progress(speed, rng, t, record), record)
    record["omega"] = omega
    low = radius - offsets.min(0)
    high = FRAME_SIZE - radius - offsets.max(0)
    if np.any(high < low):  # never with the ranges above (tests/test_dynamics.py sweeps indices)
        raise GenvidError(f"dynamics class {CLASSES[label]}: a trajectory of extent {np.ptp(offsets, 0)} px does not "
                          "fit the frame (genvid.data.dynamics ranges)")
    base = np.array([float(rng.uniform(low[0], high[0])), float(rng.uniform(low[1], high[1]))])
    record["base"] = (float(base[0]), float(base[1]))
    return base + offsets, omega


def _drawn(seed: int, index: int, length: int, pool: str) -> tuple[Sequence, np.ndarray, np.ndarray, np.ndarray]:
    """(the sequence without frames, its background, unit polygon and colour): every draw of sequence
    ``index``, in this order: object, background, motion, placement."""
    check_stream(seed, length, pool)
    _check_int("index", index, 0)
    rng = sequence_rng(seed, pool, index)
    label = class_of(index)
    shape = int(rng.integers(0, len(SHAPES)))
    radius = _uniform(rng, RADIUS)
    angle0 = float(rng.uniform(0.0, 2.0 * math.pi))
    colour = _colour(rng, OBJECT_SATURATION, OBJECT_VALUE)
    bg, _ = background(rng)
    motion: dict = {}
    centres, omega = trajectory(label, rng, radius, motion)
    centres = centres[:length]
    angles = angle0 + omega * np.arange(length, dtype=np.float64)
    empty = np.zeros((0, FRAME_SIZE, FRAME_SIZE, CHANNELS), dtype=np.uint8)
    return Sequence(empty, centres, angles, label, shape, radius, motion), bg, shape_vertices(shape) * radius, colour


def _render(bg: np.ndarray, unit: np.ndarray, colour: np.ndarray, centres: np.ndarray, angles: np.ndarray
            ) -> np.ndarray:
    """uint8 [T, 64, 64, 3]: the polygon ``unit`` at each centre and orientation over the background."""
    frames = np.empty((len(centres), FRAME_SIZE, FRAME_SIZE, CHANNELS), dtype=np.uint8)
    for i in range(len(centres)):
        c, s = sim_math.cos(angles[i]), sim_math.sin(angles[i])
        poly = np.stack([unit[:, 0] * c - unit[:, 1] * s + centres[i, 0],
                         unit[:, 0] * s + unit[:, 1] * c + centres[i, 1]], 1)
        rows, cols, cov = coverage(poly)
        image = bg.copy()
        image[rows, cols] = image[rows, cols] * (1.0 - cov)[..., None] + colour * cov[..., None]
        frames[i] = np.floor(image * 255.0 + 0.5).astype(np.uint8)
    return frames


def generate_sequence(seed: int, index: int, length: int, pool: str = "train") -> Sequence:
    """Sequence ``index`` of the (seed, stream) stream: a pure function of its arguments; a shorter
    ``length`` gives a prefix of a longer one."""
    seq, bg, unit, colour = _drawn(seed, index, length, pool)
    return replace(seq, frames=_render(bg, unit, colour, seq.centres, seq.angles))


# ----------------------------------------------------------------------------- extrapolated futures

def extrapolate(values: np.ndarray, known: int, order: int) -> np.ndarray:
    """``values`` [T, ...] with rows ``known`` .. T−1 replaced by the polynomial of degree ``order``
    through rows ``known − 1 − order`` .. ``known − 1`` (Newton's backward differences: order 0 holds
    the last known row, 1 continues its last velocity, 2 its last velocity and acceleration)."""
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 0 <= order < known:
        raise GenvidError(f"dynamics extrapolation order={order!r} must be an integer in [0, {known - 1}] "
                          f"(it needs order + 1 of the {known} known frames)")
    out = np.array(values, dtype=np.float64, copy=True)
    diffs, row = [], out[known - 1 - order:known]
    for _ in range(order + 1):  # the last row of each difference table: x_n, ∇x_n, ∇²x_n, ...
        diffs.append(row[-1])
        row = row[1:] - row[:-1]
    for t in range(known, len(out)):
        k = t - (known - 1)
        coef, total = 1.0, np.zeros_like(diffs[0])
        for j, d in enumerate(diffs):  # sum over j of C(k + j - 1, j) ∇^j x_n
            total = total + coef * d
            coef = coef * (k + j) / (j + 1)
        out[t] = total
    return out


def extrapolated_sequence(seed: int, index: int, length: int, known: int, order: int,
                          pool: str = "test") -> Sequence:
    """Sequence ``index`` with its frames from ``known`` on redrawn as if the object had continued its
    motion of the first ``known`` frames by ``extrapolate``'s polynomial of ``order`` in its true,
    continuous centre and orientation (what a model that extrapolated that far, perfectly, would draw):
    the same object and background, the centre kept where the object's circumscribed disc stays in the
    frame (**choice**: an extrapolation may run out of it). The motion metric's reference futures."""
    seq, bg, unit, colour = _drawn(seed, index, length, pool)
    if not 1 <= known <= length:
        raise GenvidError(f"dynamics extrapolation from known={known!r} frames must lie in [1, {length}]")
    centres = np.clip(extrapolate(seq.centres, known, order), seq.radius, FRAME_SIZE - seq.radius)
    angles = extrapolate(seq.angles, known, order)
    return replace(seq, frames=_render(bg, unit, colour, centres, angles), centres=centres, angles=angles)


# ----------------------------------------------------------------------------- the fixed test set

LABELS = "labels"


def write_test_set(path: str | Path, num_sequences: int, length: int, seed: int, block: int = 50) -> None:
    """Write test-stream sequences 0..num_sequences−1 of ``seed`` to ``path`` (HDF5, atomic,
    byte-identical on rerun), in the layout of the project's frames file plus the ground truth:

    - ``frames`` uint8 [N·T, 64, 64, 3] (one chunk per sequence, gzip level 4), ``episode`` int32
      [N·T] (the sequence index), ``step`` int32 [N·T] (frame in sequence);
    - ``labels`` uint8 [N] (the class, attribute ``label_names``: CLASSES comma-separated),
      ``centres`` float64 [N, T, 2] (x, y), ``angles`` float64 [N, T], ``shapes`` uint8 [N]
      (attribute ``shape_names``), ``radii`` float64 [N];
    - attributes: source, seed, stream, resolution, channels, sizes and the rules.
    """
    check_stream(seed, length, "test")
    _check_int("num_sequences", num_sequences, 1)
    n, t = int(num_sequences), int(length)
    attrs = {"source": "dynamics", "generator_version": GENERATOR_VERSION, "seed": int(seed), "stream": "test",
             "resolution": FRAME_SIZE, "channels": CHANNELS, "num_sequences": n, "sequence_length": t,
             "label_names": ",".join(CLASSES), "shape_names": ",".join(SHAPES), "texture_names": ",".join(TEXTURES),
             "rng": "numpy PCG64(SeedSequence([seed, stream code 1, index]))", **RULES}
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w", track_order=False) as f:
        def dataset(name, shape, dtype, **kw):
            return f.create_dataset(name, shape=shape, dtype=dtype, track_times=False, **kw)

        frames = dataset("frames", (n * t, FRAME_SIZE, FRAME_SIZE, CHANNELS), np.uint8,
                         chunks=(t, FRAME_SIZE, FRAME_SIZE, CHANNELS), compression="gzip", compression_opts=4)
        episode, step = dataset("episode", (n * t,), np.int32), dataset("step", (n * t,), np.int32)
        labels, shapes = dataset(LABELS, (n,), np.uint8), dataset("shapes", (n,), np.uint8)
        centres, angles = dataset("centres", (n, t, 2), np.float64), dataset("angles", (n, t), np.float64)
        radii = dataset("radii", (n,), np.float64)
        for start in range(0, n, block):
            seqs = [generate_sequence(seed, i, t, "test") for i in range(start, min(start + block, n))]
            end = start + len(seqs)
            frames[start * t:end * t] = np.concatenate([s.frames for s in seqs])
            episode[start * t:end * t] = np.repeat(np.arange(start, end, dtype=np.int32), t)
            step[start * t:end * t] = np.tile(np.arange(t, dtype=np.int32), len(seqs))
            labels[start:end] = [s.label for s in seqs]
            shapes[start:end] = [s.shape for s in seqs]
            centres[start:end] = np.stack([s.centres for s in seqs])
            angles[start:end] = np.stack([s.angles for s in seqs])
            radii[start:end] = [s.radius for s in seqs]
        for key, value in sorted(attrs.items()):
            f.attrs[key] = value


def read_labels(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """(labels uint8 [N], class names) of a frames file ``write_test_set`` wrote; one line naming
    the file where it has none or they disagree with it."""
    path = Path(path)
    with read_h5(path, "HDF5 frames file") as f:
        attrs = plain_attrs(f)
        names = attrs.get("label_names")
        names = names.decode() if isinstance(names, bytes) else names
        ds = f.get(LABELS)
        n = attrs.get("num_sequences")
        if not isinstance(names, str) or not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
            raise GenvidError(f"{path}: no per-sequence '{LABELS}' with attribute 'label_names' (not the frames "
                              f"of a labelled benchmark: rerun collect)")
        if ds.shape != (n,) or ds.dtype != np.uint8:
            raise GenvidError(f"{path}: '{LABELS}' is {ds.dtype} {ds.shape}, expected uint8 ({n},)")
        labels = ds[:]
    classes = tuple(names.split(","))
    if labels.size and int(labels.max()) >= len(classes):
        raise GenvidError(f"{path}: label {int(labels.max())} outside the {len(classes)} classes of 'label_names'")
    return labels, classes
