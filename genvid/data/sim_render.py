"""Pseudo-3D renderer of the procedural simulator, vectorised numpy per frame.

The road is a list of centreline samples ("boundaries") ahead of the camera. Each is projected to
a screen row; a running minimum of those rows gives, for every scanline, the road segment visible
there (nearer hill crests hide what lies behind them, as in classic segment-road racing games).
Each ground scanline is then shaded from its depth, road position and lateral coordinate, with
box-filtered lane markings. Sky, sun, clouds and mountains come from a 360-degree panorama built
once per episode and indexed by column angle. Sprites (scenery, vehicles) are mip-mapped
billboards drawn far to near and clipped by the crest in front of them. Frames are rendered at
`ss` times the target size and box-averaged down (deliberate supersampling antialiasing).
"""
from __future__ import annotations

import math

import numpy as np

from genvid.data import sim_math as sm
from genvid.data.sim_look import Look
from genvid.data.sim_sprites import Billboards, SpriteDrawer, Walls, fog_amount

FOV = math.radians(75.0)   # horizontal field of view
HORIZON = 0.46             # horizon row as a fraction of the height, on level road
CAM_HEIGHT = 1.3           # metres above the road
MAX_PITCH = 0.15           # radians; the camera pitches with the road slope under the car
DASH, DASH_PERIOD = 5.0, 15.0  # lane-divider dash length and period along the road (metres)
F32 = np.float32


def supersampling(resolution: int) -> int:
    """2x supersampling up to 128 px (cheap there, and small frames alias most); 1x above."""
    return 2 if resolution <= 128 else 1


class Renderer:
    def __init__(self, look: Look, resolution: int, lanes: tuple[int, int], lane_width: float,
                 rng: np.random.Generator):
        self.look, self.res = look, resolution
        self.ss = supersampling(resolution)
        n = self.n = resolution * self.ss
        self.f = (n / 2) / sm.tan(FOV / 2)
        self.yh = HORIZON * n
        self.rows = np.arange(n, dtype=F32) + 0.5
        self.cols = np.arange(n, dtype=F32) + 0.5
        self.col_angle = sm.arctan((self.cols - n / 2) / self.f)
        self.n_fwd, self.n_onc = lanes
        self.lane_w = lane_width
        self.road_noise = rng.uniform(-1, 1, 4096).astype(F32)  # asphalt patches every 3 m
        self.margin = int(math.ceil(self.f * sm.tan(MAX_PITCH))) + 1
        self.pano = self._panorama(rng)
        self.rain_layers = self._rain_layers(rng) if look.rain > 0 else None
        self.hood = self._hood()
        self.sprites = SpriteDrawer(n, self.f, self.yh, look.fog, look.fog_dist, look.textures)
        # markings at lateral m * lane_width: centre line (m = 0, wider), solid road edges, dashed
        # lane dividers; indexed by m + n_onc
        ms = np.arange(-self.n_onc, self.n_fwd + 1)
        self.line_half = np.where(ms == 0, 0.14, 0.075).astype(F32)
        self.line_dashed = (ms != 0) & (ms != -self.n_onc) & (ms != self.n_fwd)

    # ------------------------------------------------------------------ per-episode layers
    def _panorama(self, rng) -> np.ndarray:
        """[n + 2 margin rows, M columns, 3] cylindrical sky/mountain panorama, M = 2*pi*f columns
        (the margin rows let the camera pitch with the road)."""
        lk, f = self.look, self.f
        n = self.n + 2 * self.margin
        m = int(round(2 * math.pi * f))
        az = (np.arange(m, dtype=F32) + 0.5) / m * 2 * math.pi
        rows = np.arange(n, dtype=F32) + 0.5 - self.margin
        el = sm.arctan((self.yh - rows) / f)[:, None]               # elevation of each row
        t = sm.power(np.clip(el / 0.7, 0, 1), 0.6)
        img = lk.sky_horizon + t[..., None] * (lk.sky_top - lk.sky_horizon)
        img = np.broadcast_to(img, (n, m, 3)).copy()

        def periodic_noise(octaves, amp0):
            out = np.zeros(m, F32)
            for o in range(octaves):
                for _ in range(3):
                    k = 2 ** o * 3 + int(rng.integers(0, 2 ** o * 3))
                    out += amp0 / 2 ** o * sm.sin(k * az + rng.uniform(0, 2 * math.pi))
            return out

        if lk.cloud_cover > 0:  # clouds on a plane overhead, seen in perspective
            r = 1.0 / sm.tan(np.maximum(el, 0.03))
            sin_az, cos_az = sm.sincos(az)
            px, py = r * cos_az[None], r * sin_az[None]
            dens = _value_noise(rng, px * 1.5, py * 1.5, 4) - 0.75 + 0.65 * lk.cloud_cover
            alpha = np.clip(dens * 3, 0, 1) * np.clip((el - 0.01) / 0.12, 0, 1)
            cloud = lk.sky_horizon * 0.4 + 0.6 * np.minimum(lk.sun_colour * lk.ambient, 1)
            if lk.weather != "clear":
                cloud = lk.sky_horizon * 0.8
            img += (alpha * min(1.0, 0.5 + lk.cloud_cover))[..., None] * (cloud - img)
        if lk.time == "night" and lk.cloud_cover < 0.9:
            stars = (rng.random((n, m)) < 0.004) & (el > 0.04)
            img[stars] += 0.6 * (1 - lk.cloud_cover)
        # sun (or its afterglow below the horizon): disc plus glow around its direction
        d_az = sm.wrap_angle(az - lk.sun_azimuth)[None]
        ang = sm.hypot(d_az * sm.cos(el), el - lk.sun_elevation)
        glow = sm.exp(-ang / 0.25) * (0.5 if lk.time in ("golden", "dusk") else 0.25)
        glow *= 1 - 0.8 * lk.cloud_cover if lk.weather == "clear" else 0.3
        if lk.time != "night":
            img += glow[..., None] * lk.sun_colour
            if lk.sun_elevation > 0 and lk.weather == "clear":
                img[ang < 0.035] = np.minimum(lk.sun_colour * 1.1, 1)
        # two mountain ranges: far (hazy) and near (darker), silhouettes periodic in azimuth
        for depth, base, amp in ((0.75, 0.035, 0.05), (0.45, 0.012, 0.03)):
            prof = base + np.abs(periodic_noise(4, amp / 2)) + amp * 0.3
            tone = lk.grass[1] * 0.6 + 0.15 * lk.ambient
            col = tone + depth * (lk.fog - tone)
            shade = 1 + 2.0 * (el - prof[None])  # slightly darker near the base
            mask = (el < prof[None]) & (el >= -0.5 / f)
            img[mask] = (col[None, None] * shade[..., None])[mask]
        img[el[:, 0] < -0.5 / f] = lk.fog  # below the horizon: distant ground lost in haze
        return np.clip(img, 0, 1).astype(F32)

    def _rain_layers(self, rng, count: int = 8) -> np.ndarray:
        """Bank of streak masks at the target size; each frame picks one (rain is not predictable)."""
        r = self.res
        layers = np.zeros((count, r, r), F32)
        k = int(r * r / 90 * self.look.rain)
        length = max(3, r // 10)
        t = np.linspace(0, 1, length, dtype=F32)
        for i in range(count):
            x0, y0 = rng.uniform(-length, r, k), rng.uniform(-length, r, k)
            dx = rng.uniform(-0.35, -0.15, k) * length
            xs = (x0[:, None] + dx[:, None] * t).astype(int).ravel()
            ys = (y0[:, None] + length * t).astype(int).ravel()
            ok = (xs >= 0) & (xs < r) & (ys >= 0) & (ys < r)
            layers[i, ys[ok], xs[ok]] = 0.22 * self.look.rain
        return layers

    def _hood(self) -> tuple[int, np.ndarray, np.ndarray]:
        """Ego bonnet across the bottom rows: (first row, coverage [rows, n], colour [rows, n, 3])."""
        n = self.n
        top = int(0.93 * n)
        y = (self.rows[top:, None] - 0.93 * n) / (0.07 * n)
        x = (self.cols[None] - n / 2) / (n / 2)
        edge = 0.55 * x * x  # bonnet curves down at the sides
        cov = np.clip((y - edge) * 0.07 * n + 0.5, 0, 1).astype(F32)
        shade = (0.55 + 0.45 * sm.exp(-((x / 0.25) ** 2)) * (1 - y))[..., None]
        return top, cov, (self.look.hood * shade + 0.06 * self.look.ambient).astype(F32)

    # ------------------------------------------------------------------ per frame
    def render(self, cam: tuple[float, float, float, float, float], road: tuple[np.ndarray, ...],
               ego_lateral: float, sprites: Billboards, walls: Walls, frame: int,
               draw_dist: float) -> np.ndarray:
        """cam = (x, y, height, yaw, pitch); road = (x, y, h, theta, s) of boundaries ahead,
        nearest first. Pitching up moves the horizon down (small-angle approximation)."""
        lk, n, f = self.look, self.n, self.f
        cx, cy, ch, yaw, pitch = cam
        shift = int(round(f * sm.tan(float(np.clip(pitch, -MAX_PITCH, MAX_PITCH)))))
        yh = self.yh + shift
        bx, by, bh, bth, bs = road
        s_, c = sm.sincos(yaw)
        fwd = (bx - cx) * c + (by - cy) * s_
        lat = -(bx - cx) * s_ + (by - cy) * c
        behind = np.flatnonzero(fwd[1:] < 0.5)          # road turning back on itself: stop there
        k = max(behind[0] + 1, 2) if len(behind) else len(fwd)
        fwd, lat, bh, bth, bs = np.maximum(fwd[:k], 0.5), lat[:k], bh[:k], bth[:k], bs[:k]
        y = yh + f * (ch - bh) / fwd
        x = n / 2 + f * lat / fwd
        cm = np.minimum.accumulate(y)                   # top of the road drawn so far (occluder)

        img = np.empty((n, n, 3), F32)
        j = np.searchsorted(-cm, -self.rows, side="right")   # per row: boundaries with occluder below it
        top = int(np.argmax(j <= k - 1)) if (j <= k - 1).any() else n
        angle_cols = ((yaw + self.col_angle) * (self.pano.shape[1] / (2 * math.pi))).astype(np.int64)
        p0 = self.margin - shift
        img[:top] = self.pano[p0:p0 + top][:, angle_cols % self.pano.shape[1]]
        if top < n:
            self._ground(img[top:], j[top:], fwd, x, y, bth - yaw, bs, ego_lateral, draw_dist)
        self.sprites.yh = yh
        self.sprites.draw(img, sprites, walls, (cx, cy, ch, yaw), cm, bs, draw_dist)
        r0, cov, col = self.hood
        img[r0:] += cov[..., None] * (col - img[r0:])
        if self.ss > 1:
            k = self.ss
            img = sum(img[i::k, j::k] for i in range(k) for j in range(k)) * (1.0 / (k * k))
        if self.rain_layers is not None:
            layer = self.rain_layers[(frame * 5 + 3) % len(self.rain_layers)][..., None]
            img += layer * (0.85 * lk.sky_horizon + 0.25 - img)
        return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)

    def _ground(self, out, j, fwd, x, y, phi, bs, ego_lateral, draw_dist):
        """Shade the ground rows: per-pixel material weights (grass, verge, asphalt, markings,
        fog) times a per-row palette."""
        lk, f = self.look, self.f
        rows = self.rows[-len(out):].astype(np.float64)
        i = np.clip(j - 1, 0, len(fwd) - 2)
        t = (y[i] - rows) / np.maximum(y[i] - y[i + 1], 1e-3)
        inv_z = (1 - t) / fwd[i] + t / fwd[i + 1]
        z = 1 / inv_z
        w = t / fwd[i + 1] * z                               # perspective-correct parameter
        s = bs[i] + w * (bs[i + 1] - bs[i])
        xr = (x[i] + t * (x[i + 1] - x[i])).astype(F32)
        cos_phi = np.maximum(sm.cos(phi[i] + w * (phi[i + 1] - phi[i])), 0.25)
        mpp = (cos_phi * z / f).astype(F32)[:, None]         # road metres per pixel, per row
        ds = (np.abs(np.gradient(s)) if len(s) > 1 else np.ones(1)).astype(F32) + 1e-3  # metres per row
        d = (self.cols[None] - xr[:, None]) * mpp            # lateral road coordinate per pixel
        lo, hi, inv = d - mpp / 2, d + mpp / 2, 1 / mpp

        def cover(a, b):  # fraction of each pixel's footprint inside [a, b]
            c = np.minimum(hi, b)
            c -= np.maximum(lo, a)
            c *= inv
            return np.clip(c, 0, 1, out=c)

        left, right = -self.n_onc * self.lane_w, self.n_fwd * self.lane_w
        # markings: the line nearest to each pixel sits at m * lane_width
        mi = np.clip(np.rint(d * (1 / self.lane_w)), -self.n_onc, self.n_fwd).astype(np.int16)
        mi += self.n_onc
        off = (mi - self.n_onc).astype(F32) * self.lane_w
        hw = self.line_half[mi]
        line = np.clip((np.minimum(hi - off, hw) - np.maximum(lo - off, -hw)) * inv, 0, 1)
        half_ds = (ds / 2)[:, None]
        sc = s.astype(F32)[:, None]
        dash = (_dash_integral(sc + half_ds) - _dash_integral(sc - half_ds)) / (2 * half_ds)
        line *= np.where(self.line_dashed[mi], dash, F32(1))
        fog = fog_amount(z, lk.fog_dist, draw_dist).astype(F32)
        light = (1 - fog)[:, None]  # weights below are scaled by the light that survives the fog
        if lk.headlights > 0:  # ego headlight pool on the ground
            spread = (ego_lateral - d) / (1.2 + 0.18 * z.astype(F32)[:, None])
            pool = (lk.headlights * sm.exp(-z / 28)).astype(F32)[:, None] * sm.exp(-spread * spread)
            light = light * (1 + pool)
        wts = np.empty(out.shape[:2] + (7,), F32)
        centre = mi == self.n_onc
        line *= light
        wts[..., 4] = np.where(centre, 0, line)
        wts[..., 5] = np.where(centre, line, 0)
        rest = light - line
        wts[..., 3] = cover(left - 0.3, right + 0.3) * rest      # asphalt
        rest -= wts[..., 3]
        wts[..., 2] = cover(left - 2.0, right + 2.0) * rest      # gravel verge
        rest -= wts[..., 2]
        wts[..., 0] = rest                                       # grass, with tufts
        tuft = sm.sin(d * 0.9 + (1.7 * sm.sin(s * 0.13) + s * 0.05).astype(F32)[:, None])
        wts[..., 1] = rest * tuft * (0.25 * sm.exp(-2 * mpp))
        wts[..., 6] = fog[:, None]
        band = (0.5 + 0.5 * sm.cos(s * (2 * np.pi / 40)) * sm.exp(-ds / 10)).astype(F32)[:, None]
        noise, k = self.road_noise, s / 3
        i0 = np.floor(k).astype(np.int64)
        patch = noise[i0 % len(noise)] + (k - i0) * (noise[(i0 + 1) % len(noise)] - noise[i0 % len(noise)])
        palette = np.empty((len(out), 7, 3), F32)
        palette[:, 0] = lk.grass[0] + band * (lk.grass[1] - lk.grass[0])
        palette[:, 1] = lk.grass[1] - lk.grass[0] * 1.3
        palette[:, 2] = lk.gravel
        palette[:, 3] = lk.asphalt * (1 + 0.05 * patch * sm.exp(-ds / 3)).astype(F32)[:, None]
        palette[:, 4], palette[:, 5], palette[:, 6] = lk.line_white, lk.line_centre, lk.fog
        # weights x palette, summed material by material: a BLAS matmul would pick its kernel
        # (and so its rounding) by CPU model
        np.multiply(wts[..., :1], palette[:, None, 0], out=out)
        for m in range(1, palette.shape[1]):
            out += wts[..., m:m + 1] * palette[:, None, m]


def _value_noise(rng, x, y, octaves: int) -> np.ndarray:
    """Smooth 2D value noise in [0, 1) on a tiled random lattice, `octaves` octaves."""
    out, amp, total = np.zeros(np.broadcast_shapes(x.shape, y.shape), F32), 0.5, 0.0
    for _ in range(octaves):
        g = rng.random((64, 64)).astype(F32)
        x0, y0 = np.floor(x), np.floor(y)
        fx, fy = x - x0, y - y0
        fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
        i0, j0 = x0.astype(np.int64) % 64, y0.astype(np.int64) % 64
        i1, j1 = (i0 + 1) % 64, (j0 + 1) % 64
        top = g[j0, i0] + fx * (g[j0, i1] - g[j0, i0])
        bot = g[j1, i0] + fx * (g[j1, i1] - g[j1, i0])
        out += amp * (top + fy * (bot - top))
        total += amp
        x, y, amp = x * 2, y * 2, amp / 2
    return out / total


def _dash_integral(s: np.ndarray) -> np.ndarray:
    """Integral of the dash indicator (1 on the first DASH metres of every period) from 0 to s."""
    return np.floor(s / DASH_PERIOD) * DASH + np.minimum(np.mod(s, DASH_PERIOD), DASH)
