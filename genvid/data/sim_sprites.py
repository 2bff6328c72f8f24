"""Sprites of the procedural simulator: billboards (trees, poles, vehicles) and walls (buildings).

Everything is drawn in painter's order (far to near) and clipped below the hill crest in front
of it: first the walls, then the billboards. Scenery is laid out so that this order is right:
buildings stand behind the roadside trees, lamps and poles, and vehicles are on the road in front
of all of them. A wall is a vertical textured quad between two ground points, drawn column by
column with perspective-correct texture coordinates (its texture repeats along it). A billboard
is a camera-facing rectangle standing on the ground.

To stay fast with hundreds of objects, nothing loops over objects: every object is expanded
into the list of pixels it covers (ragged ranges flattened with np.repeat), each pixel samples
the object's mip level (all mips of all textures live in one flat texel bank), and the pixels
are alpha-composited in painter's order, one pass per overlap depth.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from genvid.data import sim_math as sm
from genvid.data.sim_look import Texture

F32 = np.float32
NEAR = 1.5         # near clipping distance (m)


@dataclass
class Billboards:
    """Camera-facing sprites standing on the ground; one entry per array element."""
    x: np.ndarray       # world position of the bottom centre
    y: np.ndarray
    z: np.ndarray       # world height of the bottom
    s: np.ndarray       # road coordinate (for hill-crest clipping)
    tex: np.ndarray     # texture id (index into the drawer's texture list)
    flip: np.ndarray    # mirror horizontally
    scale: np.ndarray   # size multiplier
    widen: np.ndarray   # extra horizontal multiplier


@dataclass
class Walls:
    """Vertical textured quads between ground points (x0, y0, z0) and (x1, y1, z1)."""
    x0: np.ndarray
    y0: np.ndarray
    z0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    z1: np.ndarray
    s: np.ndarray       # road coordinate of the nearer end (for hill-crest clipping)
    tex: np.ndarray
    u0: np.ndarray      # metres along the wall at each end (texture repeats every texture width)
    u1: np.ndarray
    shade: np.ndarray


def fog_amount(z, fog_dist: float, draw_dist: float):
    """Fog blend at distance z: exponential haze, reaching 1 at the draw distance so that the end of
    the road and scenery fade out instead of popping."""
    return 1 - sm.exp(-z / fog_dist) * np.clip((draw_dist - z) / (0.35 * draw_dist), 0, 1)


def take(items, index):
    """Select elements of a Billboards/Walls struct of arrays."""
    return type(items)(*(getattr(items, f.name)[index] for f in fields(items)))


def concat(parts: list):
    return type(parts[0])(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(parts[0])))


def _ragged(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges of the given lengths: (owner of each element, index within its range)."""
    owner = np.repeat(np.arange(len(lengths)), lengths)
    start = np.cumsum(lengths) - lengths
    return owner, np.arange(len(owner)) - start[owner]


class SpriteDrawer:
    def __init__(self, n: int, f: float, yh: float, fog: np.ndarray, fog_dist: float,
                 textures: list[Texture]):
        self.n, self.f, self.yh = n, f, yh
        self.fog_col, self.fog_dist = fog.astype(F32), fog_dist
        self.tex_h = np.array([t.height for t in textures])
        self.tex_w = np.array([t.width for t in textures])
        self.tex_px = np.array([t.mips[0].shape[0] for t in textures], dtype=F32)
        levels = max(len(t.mips) for t in textures)
        self.n_levels = np.array([len(t.mips) for t in textures])
        self.base = np.zeros((len(textures), levels), np.int64)
        self.th = np.ones((len(textures), levels), np.int64)
        self.tw = np.ones((len(textures), levels), np.int64)
        bank, offset = [], 0
        for i, t in enumerate(textures):
            for k, m in enumerate(t.mips):
                self.base[i, k], (self.th[i, k], self.tw[i, k]) = offset, m.shape[:2]
                bank.append(m.reshape(-1, 4))
                offset += m.shape[0] * m.shape[1]
        self.bank = np.concatenate(bank).astype(F32)
        self.pix_dtype = np.uint16 if n * n <= 2 ** 16 else np.int64  # uint16: radix sort

    def fog(self, z, draw_dist):
        return fog_amount(z, self.fog_dist, draw_dist)

    def _level(self, tex, height_px):
        """Coarsest mip level still at least `height_px` texels high (one texel per pixel or finer)."""
        lvl = sm.floor_log2(np.maximum(self.tex_px[tex] / np.maximum(height_px, 1e-3), 1))
        return np.minimum(lvl, self.n_levels[tex] - 1)

    def draw(self, img, bb: Billboards, walls: Walls, cam, cm, bs, draw_dist) -> None:
        cx, cy, ch, yaw = cam
        s_, c = sm.sincos(yaw)
        seg = bs[1] - bs[0]

        def crest(s):  # screen row of the crest that hides whatever stands at road coordinate s
            return np.minimum(cm[np.clip(((s - bs[0]) // seg).astype(np.int64), 0, len(cm) - 1)], self.n)

        def to_camera(x, y):
            return (x - cx) * c + (y - cy) * s_, -(x - cx) * s_ + (y - cy) * c

        parts = []
        if len(walls.x0):
            parts.append(self._walls(walls, to_camera, crest, ch, draw_dist))
        if len(bb.x):
            parts.append(self._billboards(bb, to_camera, crest, ch, draw_dist))
        parts = [p for p in parts if p is not None]
        if parts:
            self._composite(img, *(np.concatenate(x) for x in zip(*parts)))

    def _billboards(self, bb, to_camera, crest, ch, draw_dist):
        n, f = self.n, self.f
        z, lat = to_camera(bb.x, bb.y)
        ok = (z > NEAR) & (z < draw_dist)
        z = np.where(ok, z, 1.0)
        hp = f * self.tex_h[bb.tex] * bb.scale / z
        wp = f * self.tex_w[bb.tex] * bb.scale * bb.widen / z
        opac = np.minimum(hp, 1) * np.minimum(wp, 1)    # sub-pixel sprites: 1 px, fainter
        hp, wp = np.maximum(hp, 1), np.maximum(wp, 1)
        left, bottom = n / 2 + f * lat / z - wp / 2, self.yh + f * (ch - bb.z) / z
        top = bottom - hp
        x0 = np.clip(np.floor(left + 0.5), 0, n).astype(np.int64)
        x1 = np.clip(np.floor(left + wp + 0.5), 0, n).astype(np.int64)
        y0 = np.clip(np.floor(top + 0.5), 0, n).astype(np.int64)
        y1 = np.clip(np.floor(np.minimum(bottom, crest(bb.s)) + 0.5), 0, n).astype(np.int64)
        x1 = np.where((x1 == x0) & (x0 < n) & (left + wp > 0), x0 + 1, x1)
        keep = np.flatnonzero(ok & (opac > 0.02) & (x1 > x0) & (y1 > y0))
        if not len(keep):
            return None
        keep = keep[np.argsort(-z[keep], kind="stable")]            # far to near
        w, h = x1[keep] - x0[keep], y1[keep] - y0[keep]
        owner, local = _ragged(w * h)
        k = keep[owner]
        row, col = y0[k] + local // w[owner], x0[k] + local % w[owner]
        tex = bb.tex[k]
        lvl = self._level(tex, hp[k])
        th, tw = self.th[tex, lvl], self.tw[tex, lvl]
        ri = np.minimum(((row + 0.5 - top[k]) * th / hp[k]).astype(np.int64), th - 1)
        ci = np.minimum(((col + 0.5 - left[k]) * tw / wp[k]).astype(np.int64), tw - 1)
        ci = np.where(bb.flip[k], tw - 1 - ci, ci)
        texel = self.bank[self.base[tex, lvl] + np.maximum(ri, 0) * tw + np.maximum(ci, 0)]
        fog, op = self.fog(z, draw_dist)[k][:, None].astype(F32), opac[k][:, None].astype(F32)
        alpha = texel[:, 3:] * op
        rgb = texel[:, :3] * (op * (1 - fog)) + alpha * fog * self.fog_col
        return row * n + col, rgb, alpha

    def _walls(self, walls, to_camera, crest, ch, draw_dist):
        n, f = self.n, self.f
        fa, la = to_camera(walls.x0, walls.y0)
        fb, lb = to_camera(walls.x1, walls.y1)
        keep = np.flatnonzero((np.maximum(fa, fb) > NEAR) & (np.minimum(fa, fb) < draw_dist))
        if not len(keep):
            return None
        keep = keep[np.argsort(-np.maximum(fa, fb)[keep], kind="stable")]   # far to near
        fa, la, fb, lb = fa[keep], la[keep], fb[keep], lb[keep]
        za, zb = walls.z0[keep] - ch, walls.z1[keep] - ch
        ua, ub = walls.u0[keep], walls.u1[keep]
        for near_a in (True, False):  # clip each wall at the near plane
            fn, ff = (fa, fb) if near_a else (fb, fa)
            t = np.clip((NEAR - fn) / np.where(ff == fn, 1e-9, ff - fn), 0, 1)
            cut = fn < NEAR
            if near_a:
                la, za, ua = (np.where(cut, a + t * (b - a), a) for a, b in ((la, lb), (za, zb), (ua, ub)))
                fa = np.where(cut, NEAR, fa)
            else:
                lb, zb, ub = (np.where(cut, b + t * (a - b), b) for a, b in ((la, lb), (za, zb), (ua, ub)))
                fb = np.where(cut, NEAR, fb)
        xa, xb = n / 2 + f * la / fa, n / 2 + f * lb / fb
        swap = xa > xb
        xa, xb = np.where(swap, xb, xa), np.where(swap, xa, xb)
        fa, fb = np.where(swap, fb, fa), np.where(swap, fa, fb)
        za, zb = np.where(swap, zb, za), np.where(swap, za, zb)
        ua, ub = np.where(swap, ub, ua), np.where(swap, ua, ub)
        c0 = np.clip(np.ceil(xa - 0.5), 0, n).astype(np.int64)
        c1 = np.clip(np.floor(xb - 0.5) + 1, 0, n).astype(np.int64)
        # per column
        wi, local = _ragged(np.maximum(c1 - c0, 0))
        col = c0[wi] + local
        t = (col + 0.5 - xa[wi]) / np.maximum(xb - xa, 1e-6)[wi]
        inv = (1 - t) / fa[wi] + t / fb[wi]
        ybot = self.yh - f * ((1 - t) * za[wi] / fa[wi] + t * zb[wi] / fb[wi])  # straight on screen
        tex = walls.tex[keep][wi]
        ytop = ybot - f * self.tex_h[tex] * inv
        u = ((1 - t) * ua[wi] / fa[wi] + t * ub[wi] / fb[wi]) / (inv * self.tex_w[tex])
        r0 = np.clip(np.ceil(ytop - 0.5), 0, n).astype(np.int64)
        r1 = np.clip(np.ceil(np.minimum(ybot, crest(walls.s[keep])[wi]) - 0.5), 0, n).astype(np.int64)
        height = np.zeros(len(keep))
        np.maximum.at(height, wi, ybot - ytop)
        lvl = self._level(walls.tex[keep], height)[wi]
        th, tw = self.th[tex, lvl], self.tw[tex, lvl]
        ci = np.minimum(((u - np.floor(u)) * tw).astype(np.int64), tw - 1)
        fog = self.fog(1 / inv, draw_dist)[:, None].astype(F32)
        shade = walls.shade[keep][wi][:, None].astype(F32) * (1 - fog)   # faces lit differently
        # per pixel
        ci_, local = _ragged(np.maximum(r1 - r0, 0))
        row = r0[ci_] + local
        ri = ((row + 0.5 - ytop[ci_]) * th[ci_] / (ybot - ytop)[ci_]).astype(np.int64)
        ri = np.clip(ri, 0, th[ci_] - 1)
        texel = self.bank[self.base[tex, lvl][ci_] + ri * tw[ci_] + ci[ci_]]
        rgb = texel[:, :3] * shade[ci_] + fog[ci_] * self.fog_col   # building textures are opaque
        return row * n + col[ci_], rgb, np.ones((len(row), 1), F32)

    def _composite(self, img, pix, rgb, alpha):
        """Blend premultiplied (rgb, alpha) onto img at flat pixel indices, in array order per pixel."""
        if not len(pix):
            return
        order = np.argsort(pix.astype(self.pix_dtype), kind="stable")
        ps = pix[order]
        first = np.ones(len(ps), bool)
        first[1:] = ps[1:] != ps[:-1]
        rank = np.arange(len(ps)) - np.maximum.accumulate(np.where(first, np.arange(len(ps)), 0))
        by_rank = order[np.argsort(rank.astype(np.uint16), kind="stable")]
        counts = np.bincount(rank)
        flat = img.reshape(-1, 3)
        start = 0
        for cnt in counts:  # one pass per overlap depth; within a pass pixels are distinct
            sel = by_rank[start:start + cnt]
            p = pix[sel]
            flat[p] = flat[p] * (1 - alpha[sel]) + rgb[sel]
            start += cnt
