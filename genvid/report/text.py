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


def lower_better(metric: str, a: float, b: float) -> bool:
    """Whether ``a`` beats ``b``; FVD is lower-is-better, the image metrics as genvid.metrics.stats says."""
    return a < b if metric == "fvd" else better(metric, a, b)


def overlap(a: Stat, b: Stat) -> bool | None:
    if None in (a.lo, a.hi, b.lo, b.hi):
        return None
    return not (a.hi < b.lo or b.hi < a.lo)


def timestep_comparison(metric: str, model: dict[str, np.ndarray], base: np.ndarray,
                        base_name: str = "copying the last context frame") -> list[Markup]:
    """Per curve of ``model`` ({rule label: per-timestep values}): where it beats ``base`` and where it
    loses, at t = 1..horizon (the predicted frames)."""
    out = []
    for label, values in model.items():
        keep = np.isfinite(values) & np.isfinite(base)  # missing cells: skipped
        if not keep.any():
            continue
        t = np.arange(1, len(values) + 1)[keep]
        m, b = values[keep], base[keep]
        wins = [ti for ti, x, y in zip(t, m, b) if better(metric, x, y)]
        losses = [ti for ti, x, y in zip(t, m, b) if better(metric, y, x)]
        ties = len(t) - len(wins) - len(losses)
        head = f"{NAMES.get(metric, metric)}, {label}: the model"
        if not wins:
            where = f"never beats {base_name} at the {len(t)} predicted timesteps ({ranges(t)})"
        elif not losses:
            where = f"beats {base_name} at all {len(t)} predicted timesteps ({ranges(t)})"
        else:
            scored = "" if keep.all() else " with values"
            where = (f"beats {base_name} at timesteps {ranges(wins)} and loses at "
                     f"{ranges(losses)} (of {len(t)} predicted{scored})")
        if ties:
            where += f", with {ties} tie{'s' if ties > 1 else ''}"
        d = DIGITS.get(metric, 3)
        out.append(Markup(f"{escape(head)} {escape(where)}; at the last predicted frame it scores "
                          f"{fmt(m[-1], d)} against {fmt(b[-1], d)}."))
    return out


def average_comparison(metric: str, model: Stat | None, base: Stat | None, rule: str = "best-of-N per sequence",
                       base_name: str = "copy-last") -> Markup | None:
    if model is None or base is None:
        return None
    d, unit = DIGITS.get(metric, 3), UNITS.get(metric, "")
    verdict = "better" if better(metric, model.mean, base.mean) else "worse"
    ov = overlap(model, base)
    tail = ("" if ov is None else
            "; the 95 % intervals overlap" if ov else "; the 95 % intervals do not overlap")
    return Markup(f"Averaged over the predicted frames, the {escape(rule)} {NAMES.get(metric, metric)} is "
                  f"{fmt_stat(model, d)}{unit} against {fmt_stat(base, d)}{unit} for {escape(base_name)} "
                  f"({verdict}{tail}).")


def hierarchy_comparison(metric: str, recon: Stat | None, top: Stat | None, bottom: Stat | None) -> Markup | None:
    """Which generated level costs more, measured against the VQ-VAE reconstruction (seed 000 §6.3).
    ``top``: generated top + true bottom codes; ``bottom``: true top + generated bottom codes."""
    if recon is None or top is None or bottom is None:
        return None
    d, unit, name = DIGITS.get(metric, 3), UNITS.get(metric, ""), NAMES.get(metric, metric)
    worse_level = "bottom" if better(metric, top.mean, bottom.mean) else "top"
    agrees = (f"as Xu {xu('§6.3')} found" if worse_level == "bottom"
              else f"unlike Xu {xu('§6.3')}, who found the bottom prior the weaker")
    return Markup(f"{name} of the reconstructions (an upper bound that sees the whole clip) is "
                  f"{fmt(recon.mean, d)}{unit}; with generated top codes and true bottom codes it is "
                  f"{fmt(top.mean, d)}{unit} (best-of-N per sequence), with true top codes and generated bottom "
                  f"codes {fmt(bottom.mean, d)}{unit}: the generated {worse_level} codes cost more ({agrees}).")


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


def fvd_facts(fvd: dict, baseline: dict | None) -> Markup | None:
    """FVD of the predictions against the baseline's, the reconstructions' and FVD* (scores.json 'fvd')."""
    full = stat(fvd.get("predictions")) if isinstance(fvd, dict) else None
    base = stat(baseline.get("predictions")) if isinstance(baseline, dict) else None
    if full is None or base is None:
        return None
    text = (f"FVD of the predictions is {fmt_sci(full.mean, 2)} against {fmt_sci(base.mean, 2)} for copy-last "
            f"({'lower, i.e. better' if full.mean < base.mean else 'higher, i.e. worse'})")
    recon = stat(fvd.get("recon"))
    if recon is not None:
        text += f"; the VQ-VAE reconstructions (which see the whole clip) reach {fmt_sci(recon.mean, 2)}"
    star = stat(fvd.get("predictions_vs_recon"))
    if star is not None:
        text += f", and FVD* (predictions against the reconstructions) is {fmt_sci(star.mean, 2)}"
    return Markup(text + ".")


def ranking_facts(benchmark: str, rows: list[dict], metric: str = "psnr", rule: str = "best_seq") -> Markup | None:
    """The measured runs of a benchmark ordered by one headline score, and whether the 95 % intervals
    of the first two overlap (genvid.leaderboard rows.json, measured rows)."""
    scored = [(row["run"], stat(row["metrics"][metric].get(rule))) for row in rows]
    scored = [(name, s) for name, s in scored if s is not None]
    if not scored:
        return None
    scored.sort(key=lambda item: item[1].mean, reverse=HIGHER_IS_BETTER.get(metric, True))
    d, unit = DIGITS.get(metric, 3), UNITS.get(metric, "")
    order = "; ".join(f"<code>{escape(name)}</code> {fmt_stat(s, d)}{unit}" for name, s in scored)
    text = (f"On <code>{escape(benchmark)}</code>, ordered by best-of-N per sequence {NAMES.get(metric, metric)}: "
            f"{order}")
    if len(scored) > 1:
        ov = overlap(scored[0][1], scored[1][1])
        if ov is not None:
            text += (f"; the 95 % intervals of the first two {'overlap' if ov else 'do not overlap'}")
    flagged = [row["run"] for row in rows if not row.get("protocol_ok", True)]
    if flagged:
        text += "; " + ", ".join(f"<code>{escape(n)}</code>" for n in flagged) + " did not honour the protocol"
    return Markup(text + ".")


VERSUS_METRICS = ("psnr", "ssim", "lpips", "fvd")  # the headline metrics a learned run is held against the baseline on


def references(rows: list[dict]) -> list[dict]:
    """The rows a learned run is held against: the baseline (copy-last), then every other run that learns
    nothing (rows.json ``learned: false``, marked by genvid.leaderboard from its parameter count); none
    without a baseline row."""
    base = [r for r in rows if r.get("baseline")][:1]
    return base + [r for r in rows if r.get("learned") is False and not r.get("baseline")] if base else []


def versus_baseline(rows: list[dict], rule: str = "best_seq") -> list[dict]:
    """Issue 48: per measured learned run (rows.json; not a reference, ``learned: false``), each headline metric
    against the baseline run's on the same clips (versus_reference). Empty without a baseline row."""
    refs = references(rows)
    return versus_reference(rows, refs[0], rule) if refs else []


def versus_reference(rows: list[dict], base: dict, rule: str = "best_seq") -> list[dict]:
    """Per measured learned run, each headline metric against reference row ``base``'s on the same clips: the
    run's value and the reference's (the image metrics under ``rule`` with their 95 % intervals; FVD its
    mean), the difference, whether the run is better, and whether the two intervals are apart (None where
    either has none, as FVD)."""

    def value(row: dict, metric: str) -> Stat | None:
        entry = row["metrics"].get(metric) or {}
        found = stat(entry if metric == "fvd" else entry.get(rule))
        return found if found is not None and math.isfinite(found.mean) else None

    out = []
    for row in rows:
        if row.get("baseline") or row.get("learned") is False or row is base:
            continue
        cells = {}
        for metric in VERSUS_METRICS:
            mine, theirs = value(row, metric), value(base, metric)
            if mine is None or theirs is None:
                continue
            apart = overlap(mine, theirs)
            cells[metric] = {"run": mine, "baseline": theirs, "delta": mine.mean - theirs.mean,
                             "better": lower_better(metric, mine.mean, theirs.mean),
                             "apart": None if apart is None else not apart}
        out.append({"run": row["run"], "model": row.get("model"), "metrics": cells})
    return out


def beats_sentence(benchmark: str, rows: list[dict]) -> str:
    """One sentence of the abstract per benchmark: which learned runs beat the baseline, on which metrics."""
    found = versus_baseline(rows)
    if not found:
        return f"On {benchmark} there is no baseline row to compare with."
    wins = [(e["run"], [NAMES.get(m, m.upper()) for m in VERSUS_METRICS if e["metrics"].get(m, {}).get("better")])
            for e in found]
    wins = sorted([w for w in wins if w[1]], key=lambda w: -len(w[1]))
    if not wins:
        return f"On {benchmark} no learned run beats copying the last context frame on PSNR, SSIM, LPIPS or FVD."
    best, metrics = wins[0]
    lead = f"On {benchmark}, {best} beats copying the last context frame on {', '.join(metrics)}"
    others = len(wins) - 1
    lead += f" ({others} other learned run{'s' if others != 1 else ''} on at least one metric)" if others else ""
    for ref in references(rows)[1:]:
        beaten = beaten_metrics(versus_reference(rows, ref))
        lead += (f"; {ref['run']}, which learns nothing either, is beaten by a learned run on "
                 f"{', '.join(beaten)}" if beaten else f"; no learned run beats {ref['run']}, which learns nothing either, "
                 "on any of them")
    return lead + "."


def beaten_metrics(found: list[dict]) -> list[str]:
    """The headline metrics (names, VERSUS_METRICS order) on which at least one run of a versus list is better."""
    return [NAMES.get(m, m.upper()) for m in VERSUS_METRICS if any(e["metrics"].get(m, {}).get("better") for e in found)]


def baseline_facts(benchmark: str, rows: list[dict], rule: str = "best_seq") -> Markup | None:
    """Which learned runs of a benchmark beat its copy-last run, and on which metrics (means: PSNR,
    SSIM, LPIPS best-of-N per sequence, FVD over repeats); None without a copy-last run or a
    learned one (issue 20). The comparison is versus_baseline's."""
    base = next((r for r in rows if r.get("baseline")), None)  # marked by genvid.leaderboard
    found = versus_baseline(rows, rule)
    if base is None or not found:
        return None
    wins = {e["run"]: [NAMES.get(m, m.upper()) for m in VERSUS_METRICS if e["metrics"].get(m, {}).get("better")]
            for e in found}
    head = (f"On <code>{escape(benchmark)}</code>, against copy-last (<code>{escape(base['run'])}</code>; means, "
            "best-of-N per sequence for the image metrics): ")
    if not any(wins.values()):
        n = len(found)
        return Markup(head + f"no learned run beats it on any metric ({n} learned run{'s' if n != 1 else ''}).")
    beat = [f"<code>{escape(run)}</code> beats it on {', '.join(ms)}" for run, ms in wins.items() if ms]
    none = [f"<code>{escape(run)}</code>" for run, ms in wins.items() if not ms]
    text = head + "; ".join(beat) + (f"; {', '.join(none)} on none" if none else "") + "."
    for ref in references(rows)[1:]:
        beaten = beaten_metrics(versus_reference(rows, ref, rule))
        text += (f" Against <code>{escape(ref['run'])}</code>, which learns nothing either, a learned run is better on "
                 f"{', '.join(beaten)}." if beaten else
                 f" No learned run beats <code>{escape(ref['run'])}</code>, which learns nothing either, on any metric.")
    return Markup(text)


def fvd_rank_facts(benchmark: str, rows: list[dict]) -> Markup | None:
    """Issue 48: which runs an FVD over the benchmark's test clips can and cannot separate (genvid.leaderboard's
    ``fvd_rank``: runs whose 95 % intervals overlap share a rank); None without intervals."""
    ranked = [(r["run"], r["fvd_rank"]) for r in rows if r.get("fvd_rank") is not None]
    if len(ranked) < 2:
        return None
    groups: dict[int, list[str]] = {}
    for run, rank in ranked:
        groups.setdefault(rank, []).append(run)
    clips = next((r.get("evaluated", {}).get("clips") for r in rows if r.get("evaluated")), None)
    over = f"over its {clips} test clips" if clips else "over its test clips"
    code = lambda runs: ", ".join(f"<code>{escape(x)}</code>" for x in runs)  # noqa: E731
    first = groups[min(groups)]
    if len(first) == len(ranked):
        return Markup(f"On <code>{escape(benchmark)}</code>, an FVD {over} separates none of its {len(ranked)} runs: "
                      "every pair of 95 % intervals overlaps, so the FVD column orders them without ranking them.")
    head = (f"On <code>{escape(benchmark)}</code>, ranked by FVD with its 95 % interval {over} (runs whose "
            "intervals overlap share a rank): ")
    parts = [f"rank {rank}: {code(runs)}" for rank, runs in sorted(groups.items())]
    tail = "" if len(first) == 1 else f"; FVD cannot separate {code(first)}, which share the first rank"
    return Markup(head + "; ".join(parts) + tail + ".")


def extrapolation_levels(refs: list[dict] | None) -> str:
    """A leaderboard caption's sentence: the motion classifier's accuracy on the reference futures, the
    true context motion continued exactly (genvid.metrics.motion.EXTRAPOLATIONS); "" without them."""
    if not refs:
        return ""
    named = {0: "held still", 1: "continued at constant velocity", 2: "continued at constant acceleration"}
    parts = [f"{named.get(r['order'], 'continued to order ' + str(r['order']))} {r['mean']:.2f}" for r in refs]
    return (" On these clips' futures redrawn with the object's true context motion " + ", ".join(parts) +
            ": what a model that extrapolated that well would score.")


def long_horizon_facts(benchmark: str, rows: list[dict], horizon: int, main_run: str | None = None) -> list[Markup]:
    """Issue 23 item 2: how the runs of a benchmark degrade over its long horizon, against its baseline run
    (genvid.leaderboard's first predicted frame at which a run's mean-of-N LPIPS exceeds the baseline's),
    and the report's main run's; [] without a baseline run or long-horizon scores."""
    long = [(r, r["metrics"]["long_horizon"]) for r in rows if r["metrics"].get("long_horizon")]
    base = next((r["run"] for r, m in long if r.get("baseline")), None)
    learned = [(r["run"], m.get("lpips_worse_than_baseline_from")) for r, m in long if not r.get("baseline")]
    if base is None or not learned:
        return []
    worse = sorted((t, run) for run, t in learned if t is not None)
    never = [run for run, t in learned if t is None]
    code = lambda run: f"<code>{escape(run)}</code>"
    text = (f"On <code>{escape(benchmark)}</code>'s long horizon, {len(worse)} of {len(learned)} learned "
            f"run{'s' if len(learned) != 1 else ''} {'falls' if len(worse) == 1 else 'fall'} behind copy-last (<code>{escape(base)}</code>: their mean-of-N LPIPS above its own) within {horizon} "
            "predicted frames")
    text += (": " + ", ".join(f"{code(run)} from frame {t}" for t, run in worse)) if worse else ""
    text += f"; {', '.join(code(run) for run in never)} never" if never else ""
    out = [Markup(text + ".")]
    onsets = dict(learned)
    if main_run in onsets:
        when = f"from predicted frame {onsets[main_run]}" if onsets[main_run] is not None else \
            f"at no frame of the {horizon}"
        out.append(Markup(f"The main run {code(main_run)} falls behind copy-last {when}."))
    return out
