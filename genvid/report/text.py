"""Numbers to text: fixed-precision formatting and the Discussion's sentences of measured facts.

Every sentence here is generated from the inputs and states only what the numbers show: which
side of the baseline a score falls on, and whether the 95 % intervals overlap (never "significant").
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from markupsafe import Markup, escape

from genvid.metrics.stats import HIGHER_IS_BETTER
from genvid.report.inputs import Stat, stat
from genvid.report.references import xu

DIGITS = {"psnr": 2, "ssim": 3, "lpips": 3, "mse": 4}
NAMES = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "mse": "MSE"}
UNITS = {"psnr": " dB"}


def fmt(value: float | int | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def fmt_sci(value: float | None, digits: int = 3) -> str:
    """Fixed decimals when readable, scientific otherwise (small MSEs, large FVDs stay exact)."""
    if value is None or not math.isfinite(value):
        return "—"
    if value != 0 and (abs(value) < 10 ** -(digits - 1) or abs(value) >= 1e5):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}f}"


def fmt_stat(s: Stat | None, digits: int = 3) -> Markup:
    """'24.31 ± 0.52' for a symmetric interval, '24.31 [23.70, 24.83]' otherwise, '—' if absent."""
    if s is None:
        return Markup("—")
    text = fmt(s.mean, digits)
    if s.lo is None or s.hi is None:
        return Markup(escape(text))
    half = (s.hi - s.lo) / 2
    if abs((s.mean - s.lo) - half) <= 10 ** -(digits + 2) * max(1.0, abs(s.mean)):
        return Markup(f'{escape(text)} <span class="ci">± {fmt(half, digits)}</span>')
    return Markup(f'{escape(text)} <span class="ci">[{fmt(s.lo, digits)}, {fmt(s.hi, digits)}]</span>')


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f} %"


def ranges(values: Sequence[float]) -> str:
    """[8, 9, 10, 13] -> '8–10, 13' (timesteps as integers)."""
    ints = [int(round(v)) for v in values]
    if not ints:
        return "none"
    parts, start, prev = [], ints[0], ints[0]
    for v in ints[1:] + [None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}–{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(parts)


def better(metric: str, a: float, b: float) -> bool:
    return a > b if HIGHER_IS_BETTER.get(metric, True) else a < b


def overlap(a: Stat, b: Stat) -> bool | None:
    if None in (a.lo, a.hi, b.lo, b.hi):
        return None
    return not (a.hi < b.lo or b.hi < a.lo)


def average(metrics: dict, variant: str, metric: str, which: str = "best_of_n") -> Stat | None:
    """metrics.json value of a variant: stochastic ones have best_of_n/mean_of_n, others not."""
    node = metrics.get(variant, {}).get(metric) if isinstance(metrics.get(variant), dict) else None
    if isinstance(node, dict) and which in node:
        return stat(node[which])
    return stat(node)


def timestep_comparison(metric: str, curve: dict[str, np.ndarray], predicted: np.ndarray) -> list[Markup]:
    """Where the full model (best-of-N and mean-of-N) beats or loses to copy-last, per timestep."""
    if "copy_last" not in curve:
        return []
    out = []
    for column, label in (("full_best", "best-of-N"), ("full_mean", "mean-of-N")):
        if column not in curve:
            continue
        keep = predicted & np.isfinite(curve[column]) & np.isfinite(curve["copy_last"])  # empty cells: skipped
        if not keep.any():
            continue
        t, model, base = curve["timestep"][keep], curve[column][keep], curve["copy_last"][keep]
        wins = [ti for ti, m, b in zip(t, model, base) if better(metric, m, b)]
        losses = [ti for ti, m, b in zip(t, model, base) if better(metric, b, m)]
        ties = len(t) - len(wins) - len(losses)
        head = f"{NAMES.get(metric, metric)}, {label}: the full model"
        if not wins:
            where = f"never beats copying the last context frame at the {len(t)} predicted timesteps ({ranges(t)})"
        elif not losses:
            where = f"beats copying the last context frame at all {len(t)} predicted timesteps ({ranges(t)})"
        else:
            scored = "" if keep.sum() == predicted.sum() else " with values"
            where = (f"beats copying the last context frame at timesteps {ranges(wins)} and loses at "
                     f"{ranges(losses)} (of {len(t)} predicted{scored})")
        if ties:
            where += f", with {ties} tie{'s' if ties > 1 else ''}"
        d = DIGITS.get(metric, 3)
        out.append(Markup(f"{head} {where}; at the last predicted frame it scores {fmt(model[-1], d)} against "
                          f"{fmt(base[-1], d)}."))
    return out


def average_comparison(metric: str, metrics: dict) -> Markup | None:
    full, base = average(metrics, "full", metric), average(metrics, "copy_last", metric)
    if full is None or base is None:
        return None
    d, unit = DIGITS.get(metric, 3), UNITS.get(metric, "")
    verdict = "better" if better(metric, full.mean, base.mean) else "worse"
    ov = overlap(full, base)
    tail = ("" if ov is None else
            "; the 95 % intervals overlap" if ov else "; the 95 % intervals do not overlap")
    return Markup(f"Averaged over the predicted frames, best-of-N {NAMES.get(metric, metric)} is "
                  f"{fmt_stat(full, d)}{unit} against {fmt_stat(base, d)}{unit} for copy-last "
                  f"({verdict}{tail}).")


def hierarchy_comparison(metric: str, metrics: dict) -> Markup | None:
    """Which generated level costs more, measured against the VQ-VAE reconstruction (seed 000 §6.3)."""
    recon = average(metrics, "recon", metric)
    top, bottom = average(metrics, "top_only", metric), average(metrics, "bottom_only", metric)
    if recon is None or top is None or bottom is None:
        return None
    d, unit, name = DIGITS.get(metric, 3), UNITS.get(metric, ""), NAMES.get(metric, metric)
    worse_level = "bottom" if better(metric, top.mean, bottom.mean) else "top"
    agrees = (f"as Xu {xu('§6.3')} found" if worse_level == "bottom"
              else f"unlike Xu {xu('§6.3')}, who found the bottom prior the weaker")
    return Markup(f"{name} of the reconstructions is {fmt(recon.mean, d)}{unit}; with generated top codes "
                  f"and true bottom codes it is {fmt(top.mean, d)}{unit} (best-of-N), with true top codes and "
                  f"generated bottom codes {fmt(bottom.mean, d)}{unit}: the generated {worse_level} codes cost "
                  f"more ({agrees}).")


def prior_facts(level: str, m: dict) -> Markup:
    test_bits, train_nll, test_nll = m["test"]["bits_per_code"], m["train"]["nll_nats"], m["test"]["nll_nats"]
    base = m.get("baselines") if isinstance(m.get("baselines"), dict) else {}
    parts = [f"The {level} prior codes the test clips at {fmt(test_bits, 3)} bits per code"]
    for key, name in (("uniform_bits", "uniform"), ("unigram_bits", "unigram")):
        value = base.get(key)
        if isinstance(value, (int, float)):
            rel = "below" if test_bits < value else "above"
            parts.append(f"{fmt(abs(value - test_bits), 3)} bits {rel} the {name} baseline ({fmt(value, 3)})")
    text = parts[0] + (", " + " and ".join(parts[1:]) if len(parts) > 1 else "")
    return Markup(f"{text}; its test NLL exceeds its training NLL by {fmt(test_nll - train_nll, 3)} nats per code.")


def fvd_facts(fvd: dict) -> Markup | None:
    values = {k: stat(v) for k, v in fvd.items()} if isinstance(fvd, dict) else {}
    full, base = values.get("full"), values.get("copy_last")
    if full is None or base is None:
        return None
    text = (f"FVD of the full model is {fmt_sci(full.mean, 2)} against {fmt_sci(base.mean, 2)} for copy-last "
            f"({'lower, i.e. better' if full.mean < base.mean else 'higher, i.e. worse'})")
    recon = values.get("recon")
    if recon is not None:
        text += f"; the VQ-VAE reconstructions reach {fmt_sci(recon.mean, 2)}"
    star = values.get("full_vs_recon") or values.get("fvd_star")
    if star is not None:
        text += f", and FVD* (samples against reconstructions) is {fmt_sci(star.mean, 2)}"
    return Markup(text + ".")
