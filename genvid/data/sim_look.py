"""Per-episode appearance of the procedural simulator: lighting, weather, palette and sprite textures.

Everything here is drawn once per episode from the episode's random generator; the renderer
(`sim_render.py`) only samples it. Colours are floats in [0, 1] (sRGB), already lit by the
episode's ambient light, so drawing a frame needs no lighting maths except fog and headlights.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genvid.data import sim_math as sm

TIMES = ("day", "golden", "dusk", "night")
WEATHERS = ("clear", "overcast", "fog", "rain")
TERRAINS = ("green", "dry", "autumn")

# (sky top, sky horizon, ambient light, sun colour) per time of day
_TIME_PALETTE = {
    "day": ((0.22, 0.45, 0.85), (0.70, 0.82, 0.95), (1.00, 1.00, 1.00), (1.0, 1.0, 0.92)),
    "golden": ((0.28, 0.42, 0.72), (1.00, 0.74, 0.48), (1.00, 0.85, 0.68), (1.0, 0.82, 0.5)),
    "dusk": ((0.10, 0.10, 0.30), (0.80, 0.42, 0.34), (0.52, 0.44, 0.52), (1.0, 0.5, 0.3)),
    "night": ((0.01, 0.01, 0.04), (0.05, 0.06, 0.12), (0.24, 0.25, 0.31), (0.9, 0.9, 1.0)),
}
_TERRAIN_PALETTE = {  # (grass a, grass b, foliage)
    "green": ((0.26, 0.50, 0.18), (0.22, 0.44, 0.15), (0.14, 0.38, 0.12)),
    "dry": ((0.58, 0.52, 0.30), (0.52, 0.46, 0.26), (0.30, 0.40, 0.16)),
    "autumn": ((0.40, 0.45, 0.20), (0.35, 0.40, 0.17), (0.62, 0.32, 0.10)),
}
CAR_COLOURS = np.array([(0.75, 0.08, 0.06), (0.10, 0.20, 0.60), (0.85, 0.85, 0.85), (0.08, 0.08, 0.09),
                        (0.55, 0.56, 0.58), (0.10, 0.40, 0.20), (0.85, 0.65, 0.10), (0.35, 0.12, 0.35)])


def _c(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


@dataclass
class Texture:
    """A sprite: mip pyramid of premultiplied RGBA images (level 0 finest) and its world size in metres."""
    mips: list[np.ndarray]
    width: float
    height: float


@dataclass
class Look:
    time: str
    weather: str
    terrain: str
    sky_top: np.ndarray
    sky_horizon: np.ndarray
    fog: np.ndarray            # fog colour (= sky at the horizon)
    fog_dist: float            # metres at which fog reaches 1 - 1/e
    ambient: np.ndarray
    sun_azimuth: float         # world yaw of the sun (radians)
    sun_elevation: float       # radians above the horizon (negative: below)
    sun_colour: np.ndarray
    cloud_cover: float         # 0 clear .. 1 overcast
    rain: float                # 0 dry .. 1 heavy rain (streaks, wet road)
    lights_on: bool            # vehicle lights glow (dark, fog or rain)
    dark: bool                 # street lamps and windows glow (dusk, night)
    headlights: float          # strength of the ego car's headlight pool on the road
    grass: tuple[np.ndarray, np.ndarray]
    gravel: np.ndarray
    asphalt: np.ndarray
    line_white: np.ndarray
    line_centre: np.ndarray
    hood: np.ndarray           # ego bonnet colour
    textures: list[Texture] = field(default_factory=list)      # every sprite texture, by id
    texture_ids: dict[str, np.ndarray] = field(default_factory=dict)  # ids of each kind


def sample_look(rng: np.random.Generator) -> Look:
    """Draw one episode's time of day, weather, terrain and the palette they imply."""
    time = TIMES[rng.choice(4, p=[0.45, 0.2, 0.13, 0.22])]
    weather = WEATHERS[rng.choice(4, p=[0.45, 0.2, 0.15, 0.2])]
    terrain = TERRAINS[rng.integers(3)]
    top, hor, amb, sun = (_c(v) for v in _TIME_PALETTE[time])
    jitter = _c(1 + rng.uniform(-0.06, 0.06, 3))
    top, hor, amb = top * jitter, hor * jitter, amb * _c(1 + rng.uniform(-0.05, 0.05, 3))
    cloud = {"clear": rng.uniform(0.0, 0.45), "overcast": 1.0, "fog": 0.8, "rain": 1.0}[weather]
    fog_dist = {"clear": rng.uniform(350, 700), "overcast": rng.uniform(250, 400),
                "fog": rng.uniform(45, 110), "rain": rng.uniform(110, 220)}[weather]
    if weather != "clear":  # grey the sky and dim the light
        grey = _c(0.62 if time in ("day", "golden") else 0.3 if time == "dusk" else 0.08)
        k = 0.8 if weather == "overcast" else 0.9
        top = top + k * (grey * (0.85 + 0.1 * (weather == "fog")) - top)
        hor = hor + k * (grey - hor)
        amb = amb * (0.72 if weather == "rain" else 0.82)
    rain = rng.uniform(0.5, 1.0) if weather == "rain" else 0.0
    sun_el = {"day": rng.uniform(0.25, 0.6), "golden": rng.uniform(0.04, 0.12),
              "dusk": rng.uniform(-0.08, -0.02), "night": -0.5}[time]
    g_a, g_b, foliage = (_c(v) for v in _TERRAIN_PALETTE[terrain])
    wet = 1 - 0.35 * rain
    asphalt = _c(rng.uniform(0.30, 0.42)) * _c((1.0, 1.0, 1.03)) * wet
    us_style = rng.random() < 0.5
    look = Look(
        time=time, weather=weather, terrain=terrain,
        sky_top=top, sky_horizon=hor, fog=hor.copy(), fog_dist=float(fog_dist), ambient=amb,
        sun_azimuth=float(rng.uniform(0, 2 * np.pi)), sun_elevation=float(sun_el), sun_colour=sun,
        cloud_cover=float(cloud), rain=float(rain),
        lights_on=time in ("dusk", "night") or weather in ("fog", "rain"), dark=time in ("dusk", "night"),
        headlights=2.5 if time == "night" else 0.8 if time == "dusk" else 0.0,
        grass=(g_a * amb * wet, g_b * amb * wet), gravel=_c((0.48, 0.45, 0.40)) * amb * wet,
        asphalt=asphalt * amb, line_white=_c((0.92, 0.92, 0.90)) * amb,
        line_centre=(_c((0.95, 0.75, 0.15)) if us_style else _c((0.92, 0.92, 0.90))) * amb,
        hood=CAR_COLOURS[rng.integers(len(CAR_COLOURS))] * amb * 0.8,
    )
    by_kind = make_textures(look, foliage, rng)
    for kind, texs in by_kind.items():
        look.texture_ids[kind] = np.arange(len(look.textures), len(look.textures) + len(texs))
        look.textures.extend(texs)
    return look


# --------------------------------------------------------------------------- sprite textures

def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    return (u + 0.5) / w, (v + 0.5) / h


def _box(u, v, u0, u1, v0, v1):
    return (u >= u0) & (u < u1) & (v >= v0) & (v < v1)


def _finish(rgb, alpha, emit, look: Look, width: float, height: float, vehicle: bool = False) -> Texture:
    """Light the texture, premultiply, and build its 2x2-box mip pyramid."""
    col = rgb * look.ambient + (emit if (look.lights_on if vehicle else look.dark) else 0.0)
    rgba = np.concatenate([col * alpha[..., None], alpha[..., None]], -1).astype(np.float32)
    mips = [rgba]
    while min(rgba.shape[:2]) > 1:
        h, w = rgba.shape[0] // 2 * 2, rgba.shape[1] // 2 * 2
        rgba = rgba[:h, :w].reshape(h // 2, 2, w // 2, 2, 4).mean((1, 3))
        mips.append(rgba)
    return Texture(mips, width, height)


def _layers(h, w):
    return np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32), np.zeros((h, w, 3), np.float32)


def _conifer(look, foliage, rng) -> Texture:
    h, w = 128, 56
    u, v = _grid(h, w)
    rgb, a, emit = _layers(h, w)
    trunk = _box(u, v, 0.44, 0.56, 0.8, 1.0)
    rgb[trunk], a[trunk] = (0.3, 0.2, 0.12), 1
    for top, bot in ((0.0, 0.45), (0.2, 0.68), (0.4, 0.88)):  # three stacked cones
        half = 0.5 * np.clip((v - top) / (bot - top), 0, 1)
        m = (v >= top) & (v < bot) & (np.abs(u - 0.5) < half)
        shade = 0.75 + 0.4 * (0.5 - u) + 0.15 * rng.standard_normal((h, w)).astype(np.float32)
        rgb[m] = (foliage * 0.75)[None] * shade[m][:, None]
        a[m] = 1
    return _finish(rgb, a, emit, look, rng.uniform(3, 4.5), rng.uniform(8, 12))


def _round_tree(look, foliage, rng) -> Texture:
    h, w = 128, 112
    u, v = _grid(h, w)
    rgb, a, emit = _layers(h, w)
    trunk = _box(u, v, 0.46, 0.54, 0.55, 1.0)
    rgb[trunk], a[trunk] = (0.32, 0.22, 0.14), 1
    ang = sm.arctan2(v - 0.38, u - 0.5)
    bumps = 1 + 0.08 * sm.sin(7 * ang + rng.uniform(0, 6)) + 0.05 * sm.sin(13 * ang + rng.uniform(0, 6))
    r = sm.hypot((u - 0.5) / 0.48, (v - 0.38) / 0.36) / bumps
    m = r < 1
    shade = 0.95 + 0.35 * (0.4 - v) - 0.2 * (u - 0.5) + 0.12 * rng.standard_normal((h, w)).astype(np.float32)
    rgb[m] = foliage[None] * shade[m][:, None]
    a[m] = 1
    return _finish(rgb, a, emit, look, rng.uniform(4.5, 7), rng.uniform(6, 9))


def _bush(look, foliage, rng) -> Texture:
    h, w = 32, 64
    u, v = _grid(h, w)
    rgb, a, emit = _layers(h, w)
    m = sm.hypot((u - 0.5) / 0.5, (v - 1.0) / 0.95) < 1 + 0.08 * sm.sin(20 * u)
    rgb[m] = foliage * (0.8 + 0.3 * (1 - v[m]))[:, None]
    a[m] = 1
    return _finish(rgb, a, emit, look, rng.uniform(1.8, 3), rng.uniform(0.9, 1.5))


def _street_lamp(look, rng) -> Texture:
    """Post on the right of the texture, arm reaching left (over the road when placed on the right)."""
    h, w = 128, 32
    u, v = _grid(h, w)
    rgb, a, emit = _layers(h, w)
    for m in (_box(u, v, 0.78, 0.9, 0.04, 1.0), _box(u, v, 0.2, 0.9, 0.04, 0.065)):
        rgb[m], a[m] = (0.35, 0.36, 0.38), 1
    head = _box(u, v, 0.05, 0.4, 0.055, 0.09)
    rgb[head], a[head], emit[head] = (0.8, 0.8, 0.7), 1, (1.0, 0.85, 0.5)
    return _finish(rgb, a, emit, look, 3.0, 9.0)


def _utility_pole(look, rng) -> Texture:
    h, w = 128, 32
    u, v = _grid(h, w)
    rgb, a, emit = _layers(h, w)
    for m in (_box(u, v, 0.44, 0.56, 0.0, 1.0), _box(u, v, 0.05, 0.95, 0.06, 0.09)):
        rgb[m], a[m] = (0.36, 0.27, 0.18), 1
    return _finish(rgb, a, emit, look, 1.6, 9.0)


def _building(look, rng) -> Texture:
    floors = int(rng.integers(2, 8))
    height, width = 3.2 * floors + 1.0, float(rng.uniform(9, 20))
    h, w = int(min(128, 24 * floors + 8)), 96
    u, v = _grid(h, w)
    rgb, a, emit = _layers(h, w)
    wall = _c(rng.choice([(0.72, 0.66, 0.56), (0.55, 0.35, 0.28), (0.78, 0.78, 0.74), (0.5, 0.52, 0.55),
                          (0.82, 0.72, 0.5), (0.42, 0.45, 0.5)])) * _c(1 + rng.uniform(-0.08, 0.08, 3))
    rgb[:], a[:] = wall, 1
    rgb[v < 1.0 / height] = wall * 0.55  # roof edge
    cols = max(2, int(width / 3))
    fu, fv = (u * cols) % 1, (v * height - 1.0) % 3.2 / 3.2
    win = (fu > 0.25) & (fu < 0.75) & (fv > 0.3) & (fv < 0.8) & (v * height > 1.0)
    lit = rng.random((floors + 2, cols + 1)) < 0.45
    lit_px = lit[np.clip(((v * height - 1.0) // 3.2).astype(int), 0, floors + 1), (u * cols).astype(int)]
    rgb[win] = (0.16, 0.2, 0.26)
    on = win & lit_px
    emit[on] = (0.9, 0.75, 0.4)
    door = _box(u, v, 0.45, 0.55, 1 - 2.2 / height, 1.0)
    rgb[door] = wall * 0.35
    return _finish(rgb, a, emit, look, width, height)


def _vehicle(look, colour, front: bool, truck: bool) -> Texture:
    """Rear (or front, for oncoming traffic) view of a car or box truck, with its shadow."""
    width, height = (2.5, 3.3) if truck else (1.85, 1.45)
    h, w = (96, 72) if truck else (56, 72)
    u, v = _grid(h, w)
    rgb, a, emit = _layers(h, w)
    body = colour.astype(np.float32)
    glass = _c((0.12, 0.15, 0.2)) + 0.12 * (1 - v[..., None])
    if truck:
        box = _box(u, v, 0.02, 0.98, 0.0, 0.84)
        rgb[box], a[box] = (body * 0.9 + 0.1) if not front else body, 1
        if front:
            cab = _box(u, v, 0.08, 0.92, 0.18, 0.42)
            rgb[cab] = glass[cab]
        else:
            seam = box & (np.abs(u - 0.5) < 0.012)
            rgb[seam] = body * 0.5
        lamp_v = (0.72, 0.78)
    else:
        top = v < 0.45
        half = np.where(top, 0.34 + 0.14 * np.clip((v - 0.08) / 0.37, 0, 1), 0.49)
        shape = (np.abs(u - 0.5) < half) & (v >= 0.08) & (v < 0.9)
        rgb[shape], a[shape] = body, 1
        window = (np.abs(u - 0.5) < half - 0.05) & (v >= 0.13) & (v < 0.42)
        rgb[window] = glass[window]
        lamp_v = (0.5, 0.62)
    bumper = _box(u, v, 0.03, 0.97, 0.8, 0.9)
    rgb[bumper] = body * 0.4
    plate = _box(u, v, 0.4, 0.6, 0.66, 0.76) if not truck else _box(u, v, 0.4, 0.6, 0.86, 0.92)
    rgb[plate], a[plate] = (0.85, 0.85, 0.75), 1
    for lo, hi in ((0.05, 0.2), (0.8, 0.95)):
        lamp = _box(u, v, lo, hi, *lamp_v)
        rgb[lamp] = (0.9, 0.9, 0.8) if front else (0.7, 0.06, 0.05)
        emit[lamp] = (1.0, 0.95, 0.8) if front else (0.9, 0.1, 0.05)
        wheel = _box(u, v, lo, hi, 0.88, 1.0)
        rgb[wheel], a[wheel] = (0.05, 0.05, 0.05), 1
    shadow = (v >= 0.9) & (a == 0)
    rgb[shadow], a[shadow] = 0.0, 0.55
    return _finish(rgb, a, emit, look, width, height, vehicle=True)


def make_textures(look: Look, foliage: np.ndarray, rng: np.random.Generator) -> dict[str, list[Texture]]:
    """Sprite textures by kind; vehicles come as matching (rear, front) lists indexed by model."""
    models = [(c, False) for c in CAR_COLOURS] + [(CAR_COLOURS[i], True) for i in (2, 4, 1)]
    return {
        "conifer": [_conifer(look, foliage, rng) for _ in range(3)],
        "round_tree": [_round_tree(look, foliage, rng) for _ in range(3)],
        "bush": [_bush(look, foliage, rng) for _ in range(2)],
        "lamp": [_street_lamp(look, rng)],
        "pole": [_utility_pole(look, rng)],
        "building": [_building(look, rng) for _ in range(8)],
        "rear": [_vehicle(look, c, False, t) for c, t in models],
        "front": [_vehicle(look, c, True, t) for c, t in models],
    }
