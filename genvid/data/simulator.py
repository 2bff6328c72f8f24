"""genvid's procedural first-person driving simulator (the default `collect.source`, numpy only).

The world is one long road built from a seed: curvature and slope sections (smoothed into
clothoid-like transitions and hills) integrated into a centreline, lanes in our direction and
oncoming lanes, scenery sections (forest, countryside, town, open land) and traffic that follows
its leader. The ego car is a kinematic bicycle in road (Frenet) coordinates driven by an
autopilot: pure-pursuit steering towards a lane centre, random cruise-speed and lane changes,
overtaking slower traffic, slowing for curves and following the car ahead. Stands in for seed 000
§4.1.1, which drove CARLA's autopilot around Town03 and recorded a 256x256 camera every 0.2 s.

Exploration (``steer_noise``, genvid's addition, issue 48): an autopilot steers within a narrow band
set by the road, so a model trained on its drives never sees what a held steer does, and cannot
learn it. With ``steer_noise`` > 0 the autopilot's steering gets an Ornstein-Uhlenbeck perturbation
(sd ``steer_noise``, time constant STEER_NOISE_TAU) from its own random stream; pure pursuit steers
back, so the car weaves within its lane, and the recorded actions (the ones applied, noise included)
span the steering a driver would try. The world's other streams are untouched by it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from genvid.data import sim_math as sm
from genvid.data.sim_look import Look, sample_look
from genvid.data.sim_render import CAM_HEIGHT, Renderer
from genvid.data.sim_sprites import Billboards, Walls, concat, take

VERSION = "genvid-procedural-2"   # 2: CPU-independent maths (sim_math), same world
LANE_W = 3.5            # metres
SEG = 2.5               # spacing of road samples handed to the renderer
DRAW_DIST = 250.0       # road and scenery visible up to here (then fog)
PHYS_DT = 0.05          # physics step (s); frames are taken every `interval`
WHEELBASE, MAX_WHEEL = 2.7, 0.5   # metres, radians of road-wheel angle at |steer| = 1
A_MAX, B_MAX, A_LAT = 3.5, 8.0, 2.6  # full-throttle / full-brake deceleration, comfort lateral accel
CAR_LEN, TRUCK_LEN = 4.5, 8.0
FAR_PX = 6.0            # buildings at most this many pixels high are drawn as a billboard
LC_RATE = 1.1           # lateral speed of a lane change (m/s): ~3 s per lane
STEER_NOISE_TAU = 0.3   # seconds: the exploration noise's time constant (longer weaves leave the lane)


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    # Box filter of `width` samples (the window np.convolve's mode="same" centres), summed shift by
    # shift: np.convolve goes through BLAS, whose summation order depends on the CPU model.
    lo, n = (width - 1) // 2 + 1, len(x)
    for _ in range(2):  # box twice = triangular kernel: curvature ramps smoothly (clothoid-like)
        padded = np.pad(x, (width, width), mode="edge")
        acc = padded[lo:lo + n].copy()
        for m in range(lo + 1, lo + width):
            acc += padded[m:m + n]
        x = acc / width
    return x


class Track:
    """Road centreline sampled every metre: curvature (1/m, + = right), heading, x, y, height."""

    def __init__(self, rng: np.random.Generator, length: float):
        n = int(length) + 2
        kappa, slope = np.zeros(n), np.zeros(n)
        r_min = rng.uniform(110, 260)
        p_straight = rng.uniform(0.2, 0.5)
        hilly = rng.uniform(0.0, 0.1)
        pos = 150  # start on a straight
        while pos < n:
            size = int(rng.integers(80, 400))
            if rng.random() > p_straight:
                kappa[pos:pos + size] = rng.choice([-1, 1]) / rng.uniform(r_min, 3 * r_min)
            pos += size
        pos = 100
        while pos < n:
            size = int(rng.integers(100, 350))
            slope[pos:pos + size] = rng.uniform(-hilly, hilly)
            pos += size
        self.kappa = _smooth(kappa, 40)
        self.slope = _smooth(slope, 45)
        self.theta = np.concatenate([[0.0], np.cumsum(self.kappa[:-1])])
        sin_t, cos_t = sm.sincos(self.theta[:-1])
        self.x = np.concatenate([[0.0], np.cumsum(cos_t)])
        self.y = np.concatenate([[0.0], np.cumsum(sin_t)])
        self.h = np.concatenate([[0.0], np.cumsum(self.slope[:-1])])
        self._table = np.stack([self.x, self.y, self.h, self.theta], 1)
        self.length = float(n - 2)

    def at(self, s) -> np.ndarray:
        """Linearly interpolated (x, y, h, theta) at road coordinate(s) s: [..., 4]."""
        s = np.clip(np.asarray(s, dtype=np.float64), 0, self.length)
        i = s.astype(np.int64)
        fr = (s - i)[..., None]
        return self._table[i] * (1 - fr) + self._table[i + 1] * fr

    def world(self, s, d) -> np.ndarray:
        """World (x, y, h) of the point at road coordinate s, lateral offset d (+ = right)."""
        x, y, h, th = np.moveaxis(self.at(s), -1, 0)
        sin_t, cos_t = sm.sincos(th)
        return np.stack([x - d * sin_t, y + d * cos_t, h], -1)


@dataclass
class Scenery:
    """Static roadside objects: billboards sorted by road coordinate, and building boxes."""
    billboards: Billboards
    buildings: np.ndarray   # [M, 5] start s, length along the road, lateral of the face towards
    #                         the road (+ right), depth away from the road, texture id
    walls: Walls            # per building: the face towards the road, then the near end face
    far: Billboards         # per building: its near end as a billboard, for when it is far away


def make_scenery(rng: np.random.Generator, track: Track, lanes: tuple[int, int],
                 tex_ids: dict[str, np.ndarray], tex_width: np.ndarray) -> Scenery:
    """Roadside objects by section type (forest, country, town, open land).

    Trees, bushes, lamps and poles stand between the road and any building (the renderer draws
    buildings first)."""
    n_fwd, n_onc = lanes
    types = ("forest", "country", "town", "open")
    weights = rng.dirichlet(np.full(4, 0.7))
    rows: list[tuple[float, float, str]] = []
    boxes: list[tuple[float, float, float, float, int]] = []

    def edge(side):
        return (n_fwd if side > 0 else n_onc) * LANE_W + 2.0

    def build(a, b, side, gap_lo, gap_hi, off_lo, off_hi):
        s = a + rng.uniform(0, gap_hi)
        while s < b:
            length = rng.uniform(10, 24)
            ids = tex_ids["building"]
            boxes.append((s, length, side * (edge(side) + rng.uniform(off_lo, off_hi)), rng.uniform(8, 16),
                          int(ids[rng.integers(len(ids))])))
            s += length + rng.uniform(gap_lo, gap_hi)

    def scatter(a, b, gap, kind, side, off_lo, off_hi, regular=False):
        n = int((b - a) / gap) + 2
        steps = np.arange(n) * gap + rng.uniform(0, gap) if regular else np.cumsum(rng.exponential(gap, n))
        pos = a + steps
        pos = pos[pos < b]
        off = edge(side) + rng.uniform(off_lo, off_hi, len(pos))
        rows.extend((p, side * o, kind) for p, o in zip(pos, off))

    a = 0.0
    while a < track.length:
        b = a + rng.uniform(200, 700)
        kind = types[rng.choice(4, p=weights)]
        for side in (1, -1):
            if kind == "forest":
                scatter(a, b, 9, "conifer", side, 0.5, 5)
                scatter(a, b, 14, "conifer", side, 6, 25)
            elif kind == "country":
                scatter(a, b, 28, "round_tree", side, 1, 11)
                scatter(a, b, 30, "bush", side, 0, 10)
                build(a, b, side, 100, 400, 14, 30)
            elif kind == "town":
                build(a, b, side, 2, 12, 3, 7)
                scatter(a, b, 32, "lamp", side, 0.3, 0.6, regular=True)
                scatter(a, b, 60, "round_tree", side, 1, 2.5)
            else:
                scatter(a, b, 40, "bush", side, 0, 20)
        if kind in ("country", "open"):
            scatter(a, b, 45, "pole", 1, 1.5, 1.8, regular=True)
        a = b
    rows.sort(key=lambda r: r[0])
    s = np.array([r[0] for r in rows])
    d = np.array([r[1] for r in rows])
    tex = np.array([tex_ids[k][rng.integers(len(tex_ids[k]))] for _, _, k in rows], dtype=np.int64)
    x, y, z = track.world(s, d).T
    bb = Billboards(x, y, z, s, tex, d < 0, rng.uniform(0.8, 1.25, len(rows)), np.ones(len(rows)))

    bld = np.array(sorted(boxes)).reshape(-1, 5)
    s0, length, d0, depth, btex = bld.T
    side = np.sign(d0)
    btex = btex.astype(np.int64)
    near, end = track.world(s0, d0), track.world(s0 + length, d0)
    corner = track.world(s0, d0 + side * depth)
    start = np.stack([near, near], 1).reshape(-1, 3)    # wall 2k: road face, 2k+1: near end face
    stop = np.stack([end, corner], 1).reshape(-1, 3)
    walls = Walls(*start.T, *stop.T, s=np.repeat(s0, 2), tex=np.repeat(btex, 2),
                  u0=np.zeros(2 * len(bld)), u1=np.stack([length, depth], 1).ravel(),
                  shade=np.tile([1.0, 0.72], len(bld)))
    fx, fy, fz = track.world(s0, d0 + side * depth / 2).T
    ones = np.ones(len(bld))
    far = Billboards(fx, fy, fz, s0, btex, ones < 0, ones, depth / tex_width[btex])
    return Scenery(bb, bld, walls, far)


class Traffic:
    """Other vehicles: lanes in our direction (dir +1) and oncoming (dir -1), car-following speeds."""

    def __init__(self, rng: np.random.Generator, lanes: tuple[int, int], ego_s: float, n_models: int):
        self.rng, self.lanes = rng, lanes
        n_f, n_o = int(rng.integers(3, 11)), int(rng.integers(2, 8))
        self.dir = np.array([1] * n_f + [-1] * n_o)
        n = len(self.dir)
        self.model = rng.integers(0, n_models, n)
        self.length = np.where(self.model >= n_models - 3, TRUCK_LEN, CAR_LEN)
        self.s, self.lane = np.full(n, -1e9), np.zeros(n, np.int64)
        self.v_des, self.v = np.zeros(n), np.zeros(n)
        for i in range(n):
            self._spawn(i, ego_s, ego_s - 40 if self.dir[i] > 0 else ego_s + 20, ego_s + DRAW_DIST + 100)

    @property
    def d(self) -> np.ndarray:
        return self.dir * (self.lane + 0.5) * LANE_W

    def _spawn(self, i: int, ego_s: float, lo: float, hi: float) -> None:
        n_lanes = self.lanes[0] if self.dir[i] > 0 else self.lanes[1]
        for _ in range(20):  # a free spot: 30 m from others in the lane (and from the ego)
            s, lane = self.rng.uniform(lo, hi), int(self.rng.integers(n_lanes))
            same = (self.lane == lane) & (self.dir == self.dir[i])
            same[i] = False
            near_ego = self.dir[i] > 0 and abs(s - ego_s) < 30
            if not near_ego and np.all(np.abs(self.s[same] - s) > 30):
                break
        self.s[i], self.lane[i] = s, lane
        self.v_des[i] = self.rng.uniform(11, 22) if self.dir[i] > 0 else self.rng.uniform(13, 24)
        self.v[i] = self.v_des[i]

    def step(self, dt: float, ego_s: float, ego_d: float, ego_v: float) -> None:
        key = np.where(self.dir > 0, self.lane, 100 + self.lane)
        q = self.s * self.dir
        # the ego blocks every lane it overlaps (two during a lane change)
        ego_lanes = sorted({int(np.clip((ego_d + e) // LANE_W, 0, self.lanes[0] - 1)) for e in (-0.9, 0.9)})
        key = np.concatenate([key, ego_lanes])
        q = np.concatenate([q, [ego_s] * len(ego_lanes)])
        v = np.concatenate([self.v, [ego_v] * len(ego_lanes)])
        ln = np.concatenate([self.length, [CAR_LEN] * len(ego_lanes)])
        order = np.lexsort((q, key))
        target = np.concatenate([self.v_des, [0.0] * len(ego_lanes)])
        follow = key[order][1:] == key[order][:-1]
        gap = q[order][1:] - q[order][:-1] - (ln[order][1:] + ln[order][:-1]) / 2
        limit = v[order][1:] + 0.6 * (gap - (5 + 1.3 * v[order][:-1]))
        cur = target[order[:-1]]
        target[order[:-1]] = np.where(follow, np.minimum(cur, limit), cur)
        n = len(self.v)
        self.v = np.maximum(self.v + np.clip(target[:n] - self.v, -7 * dt, 2 * dt), 0.0)
        self.s = self.s + self.dir * self.v * dt
        for i in np.flatnonzero((self.s < ego_s - 60) | (self.s > ego_s + DRAW_DIST + 200)):
            self._spawn(int(i), ego_s, ego_s + DRAW_DIST + 20, ego_s + DRAW_DIST + 150)


@dataclass
class EgoState:
    s: float          # road coordinate (m)
    d: float          # lateral offset from the centre line (m, + right); our lanes are d > 0
    psi: float        # heading relative to the road tangent (rad, + right)
    v: float          # speed (m/s)


class DrivingSimulator:
    """One episode of the procedural world. `record(n)` returns frames, actions and speed."""

    def __init__(self, seed: int, resolution: int = 64, interval: float = 0.2,
                 duration: float = 200.0, render: bool = True, steer_noise: float = 0.0):
        streams = np.random.SeedSequence(seed).spawn(7)  # a 7th child leaves the first six as they were
        r_look, r_track, r_scene, r_traffic, r_pilot, r_render, r_explore = (np.random.default_rng(s) for s in streams)
        self.steer_noise, self.r_explore, self.explore = float(steer_noise), r_explore, 0.0
        self.interval = interval
        self.look: Look = sample_look(r_look)
        self.lanes = (int(r_track.integers(2, 4)), int(r_track.integers(1, 3)))  # (ours, oncoming)
        self.track = Track(r_track, duration * 36 + DRAW_DIST + 600)
        self._metres = np.arange(len(self.track.kappa), dtype=np.float64)
        tex_w = np.array([t.width for t in self.look.textures])
        self.scenery = make_scenery(r_scene, self.track, self.lanes, self.look.texture_ids, tex_w)
        self.rng = r_pilot
        self.lane = int(self.rng.integers(self.lanes[0]))
        self.v_lo = float(self.rng.uniform(15, 20))
        self.v_hi = self.v_lo + float(self.rng.uniform(5, 10))
        self.cruise = float(self.rng.uniform(self.v_lo, self.v_hi))
        self.ego = EgoState(s=30.0, d=(self.lane + 0.5) * LANE_W, psi=0.0, v=self.cruise * 0.8)
        self.d_ref = self.ego.d
        self.t = 0.0
        self.next_cruise = float(self.rng.uniform(4, 15))
        self.next_lane_change = float(self.rng.uniform(3, 12))
        self.lane_changes = 0
        n_models = len(self.look.texture_ids["rear"])
        self.traffic = Traffic(r_traffic, self.lanes, self.ego.s, n_models)
        self.renderer = Renderer(self.look, resolution, self.lanes, LANE_W, r_render) if render else None
        self.frame_index = 0

    # ----------------------------------------------------------------- state for tests and logs
    @property
    def road_edges(self) -> tuple[float, float]:
        """Lateral offsets of the left (oncoming side) and right edge of the paved road."""
        return -self.lanes[1] * LANE_W, self.lanes[0] * LANE_W

    def leader(self) -> tuple[float, float]:
        """(bumper gap, speed) of the nearest vehicle ahead overlapping the ego laterally."""
        tr, e = self.traffic, self.ego
        ahead = (tr.dir > 0) & (np.abs(tr.d - e.d) < 2.8) & (tr.s > e.s)
        if not ahead.any():
            return math.inf, math.inf
        i = np.flatnonzero(ahead)[np.argmin(tr.s[ahead])]
        return float(tr.s[i] - e.s - (tr.length[i] + CAR_LEN) / 2), float(tr.v[i])

    # ----------------------------------------------------------------- autopilot
    def _lane_is_free(self, lane: int) -> bool:
        tr, e = self.traffic, self.ego
        m = (tr.dir > 0) & (tr.lane == lane)
        rel, dv = tr.s[m] - e.s, tr.v[m] - e.v
        ahead_ok = (rel < 0) | (rel > 14 + 3 * np.maximum(-dv, 0))
        behind_ok = (rel > 0) | (-rel > 12 + 3 * np.maximum(dv, 0))
        return bool(np.all(ahead_ok & behind_ok))

    def _decide(self, gap: float, v_lead: float) -> None:
        if self.t >= self.next_cruise:
            self.cruise = float(self.rng.uniform(self.v_lo, self.v_hi))
            self.next_cruise = self.t + float(self.rng.uniform(6, 18))
        if abs(self.d_ref - (self.lane + 0.5) * LANE_W) > 1e-6:
            return  # a lane change is under way
        blocked = gap < 45 and v_lead < self.cruise - 2
        if self.t >= self.next_lane_change or (blocked and self.t >= self.next_lane_change - 6):
            options = [l for l in (self.lane - 1, self.lane + 1) if 0 <= l < self.lanes[0]]
            lane = options[int(self.rng.integers(len(options)))]
            if self._lane_is_free(lane):
                self.lane, self.lane_changes = lane, self.lane_changes + 1
                self.next_lane_change = self.t + float(self.rng.uniform(6, 18))
            else:
                self.next_lane_change = self.t + 1.0

    def _control(self, gap: float, v_lead: float) -> tuple[float, float, float]:
        e, tr = self.ego, self.track
        v = max(e.v, 1.0)
        look_ahead = max(8.0, 0.9 * v)
        kappa = float(np.interp(e.s + 0.3 * look_ahead, self._metres, tr.kappa))  # feed-forward
        alpha = sm.arctan2(self.d_ref - e.d, look_ahead) - e.psi
        wheel = sm.arctan(WHEELBASE * (kappa + 2 * sm.sin(alpha) / look_ahead))   # pure pursuit
        i0 = int(e.s)
        k_max = float(np.abs(tr.kappa[i0:i0 + int(4 * v) + 10]).max())
        v_des = min(self.cruise, math.sqrt(A_LAT / max(k_max, 1e-6)))
        if gap < math.inf:
            v_des = min(v_des, max(0.0, v_lead + 0.6 * (gap - (5 + 1.3 * e.v))))
        resist = self._resistance()
        u = float(np.clip(1.5 * (v_des - e.v), -B_MAX, A_MAX)) + resist
        steer = float(np.clip(wheel / MAX_WHEEL, -1, 1))
        return steer, float(np.clip(u / A_MAX, 0, 1)), float(np.clip(-u / B_MAX, 0, 1))

    def _resistance(self) -> float:
        slope = float(self.track.slope[min(int(self.ego.s), len(self.track.slope) - 1)])
        return 0.15 + 0.0007 * self.ego.v ** 2 + 9.81 * slope

    def _physics(self, action: tuple[float, float, float], dt: float) -> None:
        steer, throttle, brake = action
        e = self.ego
        kappa = float(self.track.kappa[int(e.s)])
        sin_psi, cos_psi = sm.sincos(e.psi)
        s_dot = e.v * cos_psi / (1 - kappa * e.d)
        wheel = steer * MAX_WHEEL
        e.psi += (e.v * sm.tan(wheel) / WHEELBASE - kappa * s_dot) * dt
        e.d += e.v * sm.sin(e.psi) * dt
        e.s += s_dot * dt
        e.v = max(0.0, e.v + (A_MAX * throttle - B_MAX * brake - self._resistance()) * dt)

    def advance(self, interval: float, action: tuple[float, float, float] | None = None) -> np.ndarray:
        """Simulate `interval` seconds; returns the mean (steer, throttle, brake) applied.

        With ``action``, that action drives the ego car for the whole interval instead of the
        autopilot (a counterfactual, genvid.data.counterfactuals). The autopilot still runs its
        decisions, so its random draws, and with them the rest of the world, stay those of the
        recorded episode."""
        n = max(1, round(interval / PHYS_DT))
        dt = interval / n
        total = np.zeros(3)
        for _ in range(n):
            lead = self.leader()
            self._decide(*lead)
            target = (self.lane + 0.5) * LANE_W
            self.d_ref += float(np.clip(target - self.d_ref, -LC_RATE * dt, LC_RATE * dt))
            own = self._control(*lead)
            if self.steer_noise > 0:  # drawn in a counterfactual too, so the stream stays the recording's
                a = math.exp(-dt / STEER_NOISE_TAU)
                self.explore = a * self.explore + self.steer_noise * math.sqrt(1 - a * a) * float(self.r_explore.standard_normal())
                own = (float(np.clip(own[0] + self.explore, -1, 1)), own[1], own[2])
            action_now = own if action is None else action
            self._physics(action_now, dt)
            self.traffic.step(dt, self.ego.s, self.ego.d, self.ego.v)
            self.t += dt
            total += action_now
        if self.ego.s > self.track.length - DRAW_DIST - 50:
            raise RuntimeError("procedural track too short for the requested duration")
        return (total / n).astype(np.float32)

    # ----------------------------------------------------------------- rendering
    def render(self) -> np.ndarray:
        """The camera frame now: uint8 [resolution, resolution, 3]."""
        e, tr, sc = self.ego, self.track, self.scenery
        cx, cy, cz = tr.world(e.s, e.d)
        yaw = float(tr.at(e.s)[3]) + e.psi
        bs = e.s + 1.0 + SEG * np.arange(int(DRAW_DIST / SEG) + 1)
        bx, by, bh, bth = np.moveaxis(tr.at(bs), -1, 0)
        lo, hi = np.searchsorted(sc.billboards.s, [e.s, e.s + DRAW_DIST])
        parts = [take(sc.billboards, slice(lo, hi))]
        # buildings: walls when near, a billboard of the near end when a few pixels high at most
        b = sc.buildings
        vis = (b[:, 0] < e.s + DRAW_DIST) & (b[:, 0] + b[:, 1] > e.s + 1.0)
        height = self.renderer.sprites.tex_h[b[:, 4].astype(np.int64)]
        far = vis & (self.renderer.f * height <= FAR_PX * np.maximum(b[:, 0] - e.s, 1.0))
        parts.append(take(sc.far, far))
        walls = take(sc.walls, np.repeat(vis & ~far, 2))
        trf = self.traffic
        v = np.flatnonzero((trf.s > e.s) & (trf.s < e.s + DRAW_DIST))
        x, y, z = tr.world(trf.s[v], trf.d[v]).T
        ids = self.look.texture_ids
        tex = np.where(trf.dir[v] > 0, ids["rear"][trf.model[v]], ids["front"][trf.model[v]])
        one = np.ones(len(v))
        parts.append(Billboards(x, y, z, trf.s[v], tex, one < 0, one, one))
        pitch = sm.arctan(float(np.interp(e.s, self._metres, tr.slope)))
        frame = self.renderer.render((cx, cy, cz + CAM_HEIGHT, yaw, pitch), (bx, by, bh, bth, bs), e.d,
                                     concat(parts), walls, self.frame_index, DRAW_DIST)
        self.frame_index += 1
        return frame

    def skip(self, num_frames: int) -> None:
        """Advance past ``num_frames`` frames as ``record`` would, without rendering them: the state
        is then the one in which ``record`` renders frame ``num_frames`` of the episode."""
        for _ in range(num_frames):
            self.frame_index += 1
            self.advance(self.interval)

    def pose(self) -> tuple[float, float, float]:
        """(lateral offset d in m, heading error psi in rad, speed in m/s) of the ego car now."""
        return float(self.ego.d), float(self.ego.psi), float(self.ego.v)

    def record(self, num_frames: int) -> dict[str, np.ndarray]:
        """Frames every `interval` s with the mean action over the following interval and the speed.

        Also returns the ego state per frame (s, lateral, heading error, lane, gap to leader)."""
        log = {k: [] for k in ("frames", "actions", "speed", "s", "lateral", "psi", "lane", "gap")}
        for _ in range(num_frames):
            if self.renderer is not None:
                log["frames"].append(self.render())
            log["speed"].append(self.ego.v)
            log["s"].append(self.ego.s)
            log["lateral"].append(self.ego.d)
            log["psi"].append(self.ego.psi)
            log["lane"].append(self.lane)
            log["gap"].append(self.leader()[0])
            log["actions"].append(self.advance(self.interval))
        out = {k: np.asarray(v) for k, v in log.items() if v}
        out["speed"] = out["speed"].astype(np.float32)
        out["actions"] = np.stack(log["actions"]).astype(np.float32)
        return out

