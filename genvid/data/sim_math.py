"""Elementary functions for the procedural simulator, built from +, -, *, / and sqrt alone.

numpy's ``sin``/``exp``/``arctan``... run code the CPU chooses: numpy's own SIMD kernels for
float32 (an AVX2 one differs from the SSE one in the last bit), SVML kernels for float64 on
AVX-512 CPUs, and otherwise glibc's libm, which itself picks an FMA or an SSE2 variant when it
loads (they differ in the last bit on some inputs). A last-bit difference is enough to flip a
uint8 pixel, so the simulator's frames depended on the CPU (issue 10). Here every step is one
IEEE-754 basic operation, which the standard rounds exactly and numpy never fuses across calls:
the results are the same bits on every machine, whatever numpy dispatches to. (numpy's basic
arithmetic, floor/rint/frexp/ldexp, cumsum and pairwise sums are exact or run the same code on
every CPU; tests/test_repro_pins.py checks the whole data stage under lowered dispatch.)

Accuracy is a few ulp in float64, far below what a frame can show. Inputs may be Python floats
or arrays; float32 arrays are computed in float64 and rounded once, so their dtype is kept.
The reductions are the classical ones (Cody & Waite, "Software Manual for the Elementary
Functions", 1980): a multiple of pi/2 or ln 2 split into parts whose products are exact.
"""
from __future__ import annotations

import math

import numpy as np

# pi/2 in three parts of 33 significant bits: k * part is exact for |k| < 2**20, i.e. |x| < 1.6e6.
_PIO2 = (1.57079632673412561417e+00, 6.07710050630396597660e-11, 2.02226624871116645580e-21)
_2_OVER_PI = 0.63661977236758134308
# ln 2 in two parts; k * _LN2[0] is exact for |k| < 2**21.
_LN2 = (6.93147180369123816490e-01, 1.90821492927058770002e-10)
_INV_LN2 = 1.44269504088896338700

# Taylor coefficients: sin r = r + r z (S1 + z (S2 + ...)), cos r = 1 - z/2 + z^2 (C2 + ...),
# z = r^2, |r| <= pi/4: the first omitted terms are below 1e-19.
_SIN = tuple((-1) ** i / math.factorial(2 * i + 1) for i in range(1, 9))
_COS = tuple((-1) ** i / math.factorial(2 * i) for i in range(2, 10))
# atan t = t - t^3/3 + ... for |t| <= tan(pi/32) ~ 0.0985 (three argument halvings): to t^21.
_ATAN = tuple((-1) ** i / (2 * i + 1) for i in range(1, 11))
# exp r for |r| <= ln2/2: to r^14/14!.
_EXP = tuple(1 / math.factorial(i) for i in range(2, 15))
# log m = 2 (u + u^3/3 + ...), u = (m-1)/(m+1), |u| <= 0.1716 for m in [sqrt(1/2), sqrt(2)).
_LOG = tuple(1 / (2 * i + 1) for i in range(1, 13))


def _is_scalar(x) -> bool:
    return isinstance(x, (float, int)) and not isinstance(x, bool)


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _out(value: np.ndarray, like):
    """Round once to the input's float dtype (float32 stays float32); 0-d results become floats."""
    dtype = getattr(like, "dtype", None)
    if dtype is not None and dtype.kind == "f" and dtype != np.float64:
        return value.astype(dtype)[()]
    return float(value) if np.ndim(value) == 0 else value


def _poly(z, coefs: tuple[float, ...]):
    """coefs[0] + z coefs[1] + z^2 coefs[2] + ... by Horner's rule (floats or arrays alike)."""
    acc = coefs[-1] * z + coefs[-2]
    for c in coefs[-3::-1]:
        acc = acc * z + c
    return acc


# Every function below runs the same sequence of IEEE operations on a Python float (math module,
# fast for the simulator's per-step physics) as on an array (numpy): the bits agree, and
# tests/test_simulator.py checks that they do.

def _reduce_half_pi(x):
    """x = k pi/2 + r, |r| <= pi/4 (plus rounding); returns (r, k mod 4)."""
    if isinstance(x, float):
        k = float(round(x * _2_OVER_PI))     # round() is round-half-even, as np.rint
        q = int(k) & 3
    else:
        k = np.rint(x * _2_OVER_PI)
        q = k.astype(np.int64) & 3
    r = x - k * _PIO2[0]
    r = r - k * _PIO2[1]
    r = r - k * _PIO2[2]
    return r, q


def _sin_cos_reduced(r):
    z = r * r
    s = r + r * z * _poly(z, _SIN)
    c = (1.0 - 0.5 * z) + z * z * _poly(z, _COS)
    return s, c


def _quadrant(s, c, q, shift: int):
    """sin (shift 0) or cos (shift 1) of k pi/2 + r from s = sin r, c = cos r, q = k mod 4."""
    q = q + shift
    if isinstance(s, float):
        v = c if q & 1 else s
        return -v if q & 2 else v
    v = np.where(q & 1, c, s)
    return np.where(q & 2, -v, v)


def _reduced(x):
    """(sin r, cos r, k mod 4, is_scalar) of x = k pi/2 + r."""
    scalar = _is_scalar(x)
    r, q = _reduce_half_pi(float(x) if scalar else _f64(x))
    return (*_sin_cos_reduced(r), q, scalar)


def sincos(x):
    """(sin x, cos x) from one argument reduction."""
    s, c, q, scalar = _reduced(x)
    sin_x, cos_x = _quadrant(s, c, q, 0), _quadrant(s, c, q, 1)
    return (sin_x, cos_x) if scalar else (_out(sin_x, x), _out(cos_x, x))


def sin(x):
    s, c, q, scalar = _reduced(x)
    return _quadrant(s, c, q, 0) if scalar else _out(_quadrant(s, c, q, 0), x)


def cos(x):
    s, c, q, scalar = _reduced(x)
    return _quadrant(s, c, q, 1) if scalar else _out(_quadrant(s, c, q, 1), x)


def tan(x):
    s, c, q, scalar = _reduced(x)
    t = _quadrant(s, c, q, 0) / _quadrant(s, c, q, 1)
    return t if scalar else _out(t, x)


def _atan_unit(t):
    """atan t for t in [0, 1]: halve the angle three times (tan(a/2) = t / (1 + sqrt(1 + t^2)))."""
    sqrt = math.sqrt if isinstance(t, float) else np.sqrt
    for _ in range(3):
        t = t / (1.0 + sqrt(1.0 + t * t))
    z = t * t
    return 8.0 * (t + t * z * _poly(z, _ATAN))


def _complement(angle):
    """pi/2 - angle, with pi/2 in two parts."""
    return (_PIO2[0] - angle) + _PIO2[1]


def arctan(x):
    if _is_scalar(x):
        a = abs(float(x))
        angle = _complement(_atan_unit(1.0 / a)) if a > 1.0 else _atan_unit(a)
        return -angle if x < 0 else angle
    x64 = _f64(x)
    a = np.abs(x64)
    big = a > 1.0
    angle = _atan_unit(np.where(big, 1.0 / np.where(big, a, 1.0), a))
    angle = np.where(big, _complement(angle), angle)
    return _out(np.where(x64 < 0, -angle, angle), x)


def arctan2(y, x):
    """Angle of (x, y) in [-pi, pi] with numpy's conventions (the sign of y decides at +-pi)."""
    if _is_scalar(x) and _is_scalar(y):
        ax, ay = abs(float(x)), abs(float(y))
        num, den = (ax, ay) if ay > ax else (ay, ax)
        angle = _atan_unit(num / den if den > 0 else 0.0)
        if ay > ax:
            angle = _complement(angle)
        if x < 0:
            angle = (2 * _PIO2[0] - angle) + 2 * _PIO2[1]
        return -angle if math.copysign(1.0, y) < 0 else angle
    y64, x64 = np.broadcast_arrays(_f64(y), _f64(x))
    ax, ay = np.abs(x64), np.abs(y64)
    swap = ay > ax
    num, den = np.where(swap, ax, ay), np.where(swap, ay, ax)
    angle = _atan_unit(np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0))
    angle = np.where(swap, _complement(angle), angle)
    angle = np.where(x64 < 0, (2 * _PIO2[0] - angle) + 2 * _PIO2[1], angle)
    like = x if isinstance(x, np.ndarray) else y
    return _out(np.where(np.signbit(y64), -angle, angle), like)


def exp(x):
    x64 = np.clip(_f64(x), -746.0, 710.0)   # beyond: 0 and inf, as ldexp gives
    k = np.rint(x64 * _INV_LN2)
    r = (x64 - k * _LN2[0]) - k * _LN2[1]
    p = 1.0 + r + r * r * _poly(r, _EXP)
    return _out(np.ldexp(p, k.astype(np.int64)), x)


def log(x):
    """Natural log; -inf at 0, nan below."""
    x64 = _f64(x)
    m, e = np.frexp(x64)                       # x = m 2^e, m in [0.5, 1)
    low = m < 0.70710678118654752440
    m = np.where(low, m * 2.0, m)
    e = np.where(low, e - 1, e).astype(np.float64)
    u = (m - 1.0) / (m + 1.0)
    z = u * u
    log_m = 2.0 * (u + u * z * _poly(z, _LOG))
    value = e * _LN2[0] + (e * _LN2[1] + log_m)
    value = np.where(x64 == 0, -np.inf, np.where(x64 < 0, np.nan, value))
    return _out(np.where(np.isposinf(x64), np.inf, value), x)


def power(x, p: float):
    """x ** p for x >= 0 and p > 0 (0 ** p = 0)."""
    x64 = _f64(x)
    safe = np.where(x64 > 0, x64, 1.0)
    return _out(np.where(x64 > 0, exp(p * log(safe)), 0.0), x)


def hypot(a, b):
    """sqrt(a^2 + b^2) (sqrt is exactly rounded by IEEE-754; libm's hypot is not required to be)."""
    a64, b64 = _f64(a), _f64(b)
    like = a if isinstance(a, np.ndarray) else b
    return _out(np.sqrt(a64 * a64 + b64 * b64), like)


def wrap_angle(a):
    """a - 2 pi round(a / 2 pi): the same angle in [-pi, pi]."""
    a64 = _f64(a)
    k = np.rint(a64 * (0.25 * _2_OVER_PI))
    return _out((a64 - k * (4 * _PIO2[0])) - k * (4 * _PIO2[1]), a)


def floor_log2(x) -> np.ndarray:
    """floor(log2 x) for x > 0, exactly (from the binary exponent)."""
    return np.frexp(_f64(x))[1].astype(np.int64) - 1
