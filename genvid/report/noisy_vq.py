"""The report's seed 002 chapter: the noisy-VQ studies (stage noisy_vq), read and checked against
params.yaml, drawn (a figure per measure against σ, the codebook PCA of seed 002 Fig. 4.2, a table),
and each claim of seed 002 §4 marked as holding, not holding, not decided or not tested here, with the
figure measured. The rules are stated in ``CLAIMS`` (issue 46). A claim on the held-out clips (the shift
drop, the probe, reconstruction) compares two σ clip by clip: the difference, averaged over clips within
each train seed and then over seeds, has a 95 % interval from a bootstrap over the clips (their clusters)
within seeds, and the verdict is decided only where the interval clears the claim's threshold. A claim on
the codebook itself (usage, order) has no clips to resample: its rule is applied to every train seed alone
and decided only where two seeds or more all agree. One seed, or an interval across the threshold, is "not
decided"; the figures shown are the means over seeds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from markupsafe import Markup, escape

from genvid.data.noisy_vq import MEASURES, TIERS
from genvid.metrics import stats
from genvid.data.declared import GAN_PRIOR, PIXELSNAIL_PRIOR
from genvid.report import figures as F
from genvid.report.references import seed
from genvid.report.seed_inputs import NoisyStudy
from genvid.report.text import fmt

HOLDS, FAILS, UNDECIDED, UNTESTED = "holds", "does not hold", "not decided", "not tested here"
PROBE = next(label for key, label, _ in MEASURES if key == "probe_accuracy")


# ----------------------------------------------------------------------------- figures and table

def measure_panels(study: NoisyStudy) -> dict[str, dict[str, list[tuple[float, float]]]]:
    panels = {label: {tier: [(r["sigma"], r[tier][key]) for r in study.data["rows"]] for tier in TIERS}
              for key, label, _ in MEASURES}
    panels["reconstruction PSNR (dB)"] = {"both": [(r["sigma"], r["psnr"]) for r in study.data["rows"]]}
    return panels


def pca_panels(study: NoisyStudy) -> dict[str, dict[str, list]]:
    """σ = 0, the smallest σ > 0 and the largest: the three columns of seed 002 Fig. 4.2 (first seed)."""
    sigmas = study.sigmas
    picked = list(dict.fromkeys([min(sigmas), min((s for s in sigmas if s > 0), default=min(sigmas)), max(sigmas)]))
    first = study.data["seeds"][0]
    rows = {r["sigma"]: r for r in study.data["rows"] if r["seed"] == first}
    return {f"σ = {s:g}": {tier: rows[s][tier]["pca"] for tier in TIERS} for s in picked}


def table(study: NoisyStudy) -> dict[str, Any]:
    header = ["σ", "PSNR", "SSIM"] + [f"{tier} {name}" for tier in TIERS
                                      for name in ("perplexity", "ρ order", "shift drop", "probe")] + ["majority"]
    rows = []
    for sigma in study.sigmas:
        row = [f"{sigma:g}", fmt(study.mean("psnr", sigma), 2), fmt(study.mean("ssim", sigma), 3)]
        for tier in TIERS:
            row += [fmt(study.mean("perplexity", sigma, tier), 1), fmt(study.mean("order", sigma, tier), 3),
                    fmt(study.mean("shift_psnr_drop", sigma, tier), 2),
                    fmt(100 * study.mean("probe_accuracy", sigma, tier), 1) + " %"]
        rows.append(row + [fmt(100 * study.mean("probe_majority", sigma), 1) + " %"])
    return {"header": header, "rows": rows}


def items(reg, study: NoisyStudy) -> None:
    """The study's figures and table in the seed 002 chapter (registry keys nvq*_<run>)."""
    d, run = study.data, study.run
    seeds = ", ".join(str(s) for s in d["seeds"])
    reg.add("figure", f"nvq_{run}", "noisyvq", f"The noisy-VQ study of run <code>{escape(run)}</code> on "
            f"<code>{escape(study.benchmark)}</code>: its VQ-VAE retrained at each index-noise σ (train seeds {seeds}; "
            f"a dot per seed, the line through their mean) and measured with the noise off on {d['held_out_clips']} "
            f"held-out clips. The probe predicts {escape(d['task'])}; fitted on {d['fit_clips']} training clips; "
            "dashed: always answering the training clips' most frequent class.",
            png=F.against_sigma(measure_panels(study), {PROBE: [(r["sigma"], r["probe_majority"]) for r in d["rows"]]}))
    reg.add("figure", f"nvqpca_{run}", "noisyvq", f"The analogue of {seed('002', 'Fig. 4.2')}: the codebooks of "
            f"run <code>{escape(run)}</code>'s VQ-VAE (train seed {d['seeds'][0]}) on their first two principal "
            "components, coloured by code index. An ordered codebook shows a gradient of colour along a curve.",
            png=F.codebook_pca(pca_panels(study)))
    reg.add("table", f"nvqtab_{run}", "noisyvq", f"The measures of {escape(run)}'s study, means over train seeds: "
            "reconstruction of the held-out clips, then per tier the perplexity of code use, the codebook order ρ, "
            "the PSNR drop (dB) with the tier's indices moved by ±1 and the probe's accuracy on its index map.",
            **table(study))


# ----------------------------------------------------------------------------- priors over the codes

SAME_FVD = 0.10  # §4.6's "no significant gain": FVDs within 10 % of each other
USAGE_FROM = 0.2  # §4.2: "all codes used from σ = 0.2"
SHIFT_MARGIN = 0.1  # dB: §4.1's "garbage" against "little harm" needs the drop to fall by more than a tenth of a dB


def sigma_of(result) -> float:
    """The index-noise σ the run's VQ-VAE trained with (models.<model>.vqvae.noisy_sigma)."""
    return float(result.run.model_params["vqvae"].get("noisy_sigma", 0.0))


def prior_table(study: NoisyStudy) -> dict[str, Any]:
    rows = []
    for r in study.priors:
        m = r.metrics
        rows.append([Markup("<code>{}</code>").format(r.name), study.prior_kinds[r.name], f"{sigma_of(r):g}",
                     fmt(m.get("fvd"), 1), fmt(m.get("lpips"), 3), fmt(m.get("diversity"), 3),
                     fmt(r.train_metrics.get("parameters"))])
    return {"header": ["Run", "Prior", "σ", "FVD ↓", "LPIPS ↓ (best of N)", "Diversity", "Parameters"],
            "rows": rows, "align": "llrrrrr"}


def prior_items(reg, study: NoisyStudy) -> None:
    if study.priors:
        reg.add("table", f"nvqpriors_{study.run}", "noisyvq", f"The priors over VQ codes on "
                f"<code>{escape(study.benchmark)}</code> (seed 000's PixelSNAIL, seed 002's GAN), each over its run's "
                "own VQ-VAE trained at the index noise σ, scored on the benchmark's protocol (Chapter 6); diversity is "
                "the LPIPS between two samples of a clip (0 for a model whose samples are all alike).",
                **prior_table(study))


# (setting, genvid, seed 002, why); the choices issue 21 asks to state, and the study's departures
CHOICES: tuple[tuple[str, str, str, str], ...] = (
    ("σ of the index noise", "the standard deviation", "“a discrete Gaussian distribution with mean 0 and variance σ” "
     "(§3.1)", "read as printed, σ = 0.2 would be a standard deviation of 0.45; the values studied (0.2 to 1.8) read "
     "naturally as standard deviations"),
    ("The noise's distribution", "a rounded Gaussian, round(N(0, σ²)), independent per position",
     "“a discrete Gaussian” (§3.1); per-position independence not stated",
     "moves an index more often than a true discrete Gaussian at small σ (P(ε ≠ 0) = 0.32 against 0.21 at σ = 0.5)"),
    ("Indices past 0 or K − 1", "reflected (−1 → 1, K → K − 2)", "not stated",
     "clamping would pile the tails' mass onto the two end codes"),
    ("Where the noisy index goes", "decoder input and EMA update; the commitment loss uses the clean code",
     "the same (§3.1)", "as stated; tested (tests/test_vqvae3d.py)"),
    ("The model", "genvid's 3D VQ-VAE of the studied run, on video clips, for {steps}; plain in the default and "
     "paper profiles (noisy_vq.&lt;run&gt;.overrides: no dead-code restarts, no bottom dropout), otherwise the run's "
     "own sizes and 3D layers",
     "a plain 2D VQ-VAE-2 (Table 6.2) on 256 × 256 images, 50 epochs",
     "genvid's benchmarks and time budget; restarts fight codebook collapse directly (the noise's claimed effect) "
     "and reseed codes at random (against the index order the noise should build), so the study turns them off"),
    ("Verdicts", "a claim on the held-out clips: decided where the 95 % interval of a bootstrap over the clips within "
     "train seeds clears its threshold; a claim on the codebook: where two seeds or more all agree; a claim on two "
     "prior runs' FVDs (one run each, no interval): not decided", "one run per setting, point values",
     "issue 46: gaps of a few clips once decided “holds”; the paper profile trains three seeds per σ"),
    ("The classifier", "a ridge probe on each tier's index map read as numbers; ridge weight chosen on halves of the "
     "fit set", "an untuned “simple classifier”, 5-fold cross-validation, NaturalImageNet's 20 classes (§4.4)",
     "deterministic and cheap; a linear read-out of index numbers can only use the index order, which is the claim"),
    ("Reconstruction and usage", "measured on held-out clips with the noise off", "noise off at inference (§4.5)",
     "as stated"),
    ("The GAN prior's code representation", "one number per code position, the index mapped onto [−1, 1]; the "
     "critic's real codes dequantised (index + U(−½, ½)); a generated number becomes the nearest index",
     "not stated (Fig. 3.3 shows images)", "index order is what made seed 002's GAN work; only an ordered, scalar "
     "representation can use it (genvid.models.gan_prior.model)"),
    ("The GAN prior's conditioning", "the context clip's codes and a mask of them, pooled to every scale, through the "
     "gated conditional residual blocks of G and D (with the top codes, in the bottom tier)",
     "unconditional images; the bottom GAN conditioned on the top latent “at every structural level”",
     "a predictor must continue a context; the path the thesis gives the top codes, used for the context too"),
    ("The GAN prior's batch size", "one batch size per tier at every scale (train.gan_prior.gan_top/gan_bottom)",
     "Table 6.3: minibatch size at each scale [256, 256, 128, 20] (top) and [256, 256, 128, 15, 15] (bottom)",
     "kept, stated: the per-scale sizes fit the thesis's GPU memory at 32 × 32 and 64 × 64 latents; genvid's grids "
     "are 8 × 8 and 16 × 16"),
    ("The GAN prior's training", "WGAN-GP, λ = 10, drift 0.001; Adam (0, 0.99), generator 4e-4, critic 1e-4, one "
     "critic step per generator step; growth from 2 × 2 with linear fade-ins; a few dozen steps per tier by default",
     "WGAN-GP; λ, critic steps and optimiser not stated; lr “Encoder” 1e-4, “Decoder” 4e-4; 48k–200k steps per scale",
     "unstated values from the WGAN-GP and progressive-GAN papers; the encoder/decoder rates read as critic/generator"),
)


def choice_items(reg, studies: list[NoisyStudy]) -> None:
    if studies:
        reg.add("table", "nvq_choices", "noisyvq", "Where the noisy-VQ study departs from seed 002, or fills in what it "
                "leaves unstated (genvid.models.vq.vqvae3d.EMAQuantizer.add_noise, genvid.models.vq.noisy_study).",
                header=["Setting", "genvid", "Seed 002", "Why"], rows=[[Markup(c.replace("{steps}", _steps(studies))) for c in r]
                                                                     for r in CHOICES],
                align="llll")


def _steps(studies: list[NoisyStudy]) -> str:
    """The studies' VQ-VAE steps, as params give them ("50 steps"; per run where they differ)."""
    steps = {s.run: s.vqvae_steps for s in studies}
    if len(set(steps.values())) == 1:
        return f"{next(iter(steps.values()))} steps"
    return ", ".join(f"{n} steps ({run})" for run, n in steps.items())


# ----------------------------------------------------------------------------- seed 002's claims

BOOTSTRAP, BOOTSTRAP_SEED = 2000, 0  # resamples of the clips within each train seed; the generator's seed


@dataclass(frozen=True)
class Finding:
    """A claim's verdict with what decided it: the threshold the rule compares with, the measured
    difference and its 95 % interval (or the seeds' range, for a property of the codebook), the figure."""

    verdict: str
    figure: str
    threshold: str = "–"
    interval: str = "–"


def _seeds(study: NoisyStudy) -> list[int]:
    return sorted({int(r["seed"]) for r in study.data["rows"]})


def _row(study: NoisyStudy, sigma: float, seed: int) -> dict:
    return next(r for r in study.data["rows"] if r["sigma"] == sigma and int(r["seed"]) == seed)


def _at(study: NoisyStudy, key: str, sigma: float, seed: int, tier: str | None = None) -> float:
    """One train seed's value of a row key (``tier`` None) or a tier key at ``sigma``."""
    row = _row(study, sigma, seed)
    return (row[tier] if tier else row)[key]


def _clips(study: NoisyStudy, key: str, sigma: float, seed: int, tier: str | None = None) -> np.ndarray:
    clips = _row(study, sigma, seed)["clips"]
    return np.asarray((clips[tier] if tier else clips)[key], dtype=np.float64)


@dataclass(frozen=True)
class Part:
    """One comparison of a claim's rule: per held-out clip, the measure at σ = b minus at σ = a, averaged
    over clips within each train seed and then over seeds; the claim wants it above (or below) ``threshold``."""

    label: str
    key: str
    a: float
    b: float
    tier: str | None
    above: bool
    threshold: float = 0.0


def _test(study: NoisyStudy, part: Part) -> tuple[str, float, tuple[float, float] | None]:
    """(verdict, mean difference, 95 % interval) of one part: the interval of a bootstrap over the clips within
    each seed (their clusters resampled, genvid.metrics.stats.stratified_bootstrap) decides: "holds" when it
    lies wholly on the claim's side of the threshold, "does not hold" wholly on the other, else "not decided"."""
    strata = []
    for seed in _seeds(study):
        diff = _clips(study, part.key, part.b, seed, part.tier) - _clips(study, part.key, part.a, seed, part.tier)
        strata.append((diff, _clips(study, "cluster", part.a, seed)))
    mean = float(np.mean([d.mean() for d, _ in strata]))
    try:
        lo, hi = stats.stratified_bootstrap(strata, BOOTSTRAP, BOOTSTRAP_SEED)
    except ValueError:  # fewer than 2 clusters: no interval, nothing decided
        return UNDECIDED, mean, None
    t = part.threshold
    if (lo > t) if part.above else (hi < t):
        return HOLDS, mean, (lo, hi)
    if (hi < t) if part.above else (lo > t):
        return FAILS, mean, (lo, hi)
    return UNDECIDED, mean, (lo, hi)


def _clip_finding(study: NoisyStudy, parts: list[Part], figure: str, unit: str, digits: int,
                  scale: float = 1.0) -> Finding:
    """A claim of several parts: "holds" when every part holds, "does not hold" when any part does not,
    else "not decided"; one train seed says so, its interval being over its clips alone."""
    tested = [(p, *_test(study, p)) for p in parts]
    verdicts = [v for _, v, _, _ in tested]
    verdict = HOLDS if all(v == HOLDS for v in verdicts) else FAILS if FAILS in verdicts else UNDECIDED

    def num(x: float) -> str:
        return f"{scale * x:+.{digits}f}"

    interval = "; ".join(f"{p.label} {num(m)} " + (f"[{num(ci[0])}, {num(ci[1])}]" if ci else "(no interval)")
                         + f" {unit}" for p, _, m, ci in tested)
    threshold = "; ".join(dict.fromkeys(f"{p.label}: {'above' if p.above else 'below'} "
                                        f"{scale * p.threshold:+.{digits}f} {unit}" for p in parts))
    if len(_seeds(study)) == 1:
        figure = (f"one seed, not decided: {figure}" if verdict == UNDECIDED else
                  f"one train seed, the interval over its clips: {figure}")
    return Finding(verdict, figure, threshold, interval)


def _decide(study: NoisyStudy, rule: Callable[[int], bool], figure: str, threshold: str,
            spread: Callable[[int], float], digits: int) -> Finding:
    """A claim about the codebook (no clips to resample): the rule applied to each train seed alone, "holds"
    or "does not hold" when two seeds or more all agree, else "not decided"; the interval column gives the
    seeds' range of the quantity the rule thresholds."""
    seeds = _seeds(study)
    held = sum(bool(rule(s)) for s in seeds)
    values = [spread(s) for s in seeds]
    interval = (f"{min(values):.{digits}f} (one seed)" if len(values) == 1 else
                f"seeds' range [{min(values):.{digits}f}, {max(values):.{digits}f}]")
    told = f"{figure} (the rule holds for {held} of {len(seeds)} train seed{'s' if len(seeds) != 1 else ''})"
    if len(seeds) < 2:
        return Finding(UNDECIDED, f"one seed, not decided: {told}", threshold, interval)
    return Finding(HOLDS if held == len(seeds) else FAILS if held == 0 else UNDECIDED, told, threshold, interval)


def _usage(study: NoisyStudy) -> Finding:
    """§4.2's claim as printed: *all* codes used from σ = 0.2 (a rise in usage is not the claim, issue 46)."""
    noisy = [s for s in study.sigmas if s >= USAGE_FROM]
    if 0.0 not in study.sigmas or not noisy:
        return Finding(UNTESTED, f"the study has no σ = 0 or no σ ≥ {USAGE_FROM:g}")
    figure = "; ".join(f"{t} codes used: {100 * study.mean('usage', 0.0, t):.0f} % at σ = 0, "
                       + ", ".join(f"{100 * study.mean('usage', s, t):.0f} % at {s:g}" for s in noisy) for t in TIERS)
    least = (lambda seed: 100 * min(_at(study, "usage", s, seed, t) for s in noisy for t in TIERS))
    return _decide(study, lambda seed: least(seed) >= 100.0, figure,
                   f"the least share of codes used at σ ≥ {USAGE_FROM:g}: 100 %", least, 0)


def _order(study: NoisyStudy) -> Finding:
    if 0.0 not in study.sigmas or len(study.sigmas) < 2:
        return Finding(UNTESTED, "the study has no σ = 0 or no σ > 0")
    noisy = [s for s in study.sigmas if s > 0]
    figure = "; ".join(f"{t} ρ {fmt(study.mean('order', 0.0, t), 3)} at σ = 0, "
                       + ", ".join(f"{fmt(study.mean('order', s, t), 3)} at {s:g}" for s in noisy) for t in TIERS)
    gain = (lambda seed: min(_at(study, "order", s, seed, t) - _at(study, "order", 0.0, seed, t)
                             for s in noisy for t in TIERS))
    return _decide(study, lambda seed: gain(seed) > 0, figure, "the least gain of ρ over σ = 0: above 0", gain, 3)


def _has_0_and_1(study: NoisyStudy) -> bool:
    return 0.0 in study.sigmas and 1.0 in study.sigmas


def _shift(study: NoisyStudy) -> Finding:
    if not _has_0_and_1(study):
        return Finding(UNTESTED, "the study has no σ = 0 or no σ = 1")
    figure = "; ".join(f"{t}: {fmt(study.mean('shift_psnr_drop', 0.0, t), 2)} dB at σ = 0, "
                       f"{fmt(study.mean('shift_psnr_drop', 1.0, t), 2)} dB at σ = 1" for t in TIERS)
    parts = [Part(t, "shift_psnr_drop", 0.0, 1.0, t, above=False, threshold=-SHIFT_MARGIN) for t in TIERS]
    return _clip_finding(study, parts, figure, "dB (σ = 1 − σ = 0)", 2)


def _probe(study: NoisyStudy) -> Finding:
    if not _has_0_and_1(study):
        return Finding(UNTESTED, "the study has no σ = 0 or no σ = 1")
    majority = study.mean("probe_majority", 0.0)
    figure = "; ".join(f"{t}: {100 * study.mean('probe_accuracy', 0.0, t):.1f} % at σ = 0, "
                       f"{100 * study.mean('probe_accuracy', 1.0, t):.1f} % at σ = 1" for t in TIERS) \
        + f" (majority class {100 * majority:.1f} %)"
    parts = [Part(t, "probe_correct", 0.0, 1.0, t, above=True) for t in TIERS]
    return _clip_finding(study, parts, figure, "points (σ = 1 − σ = 0)", 1, scale=100.0)


def _reconstruction(study: NoisyStudy) -> Finding:
    needed = (0.0, 1.0, max(study.sigmas))
    if any(s not in study.sigmas for s in needed) or max(study.sigmas) <= 1.0:
        return Finding(UNTESTED, "the study has no σ = 0, σ = 1 and σ > 1")
    a, b, c = (study.mean("psnr", s) for s in needed)
    figure = f"PSNR {fmt(a, 2)} dB at σ = 0, {fmt(b, 2)} at σ = 1, {fmt(c, 2)} at σ = {max(study.sigmas):g}"
    parts = [Part("σ = 1 − σ = 0", "psnr", 0.0, 1.0, None, above=True, threshold=-1.0),
             Part(f"σ = {max(study.sigmas):g} − σ = 1", "psnr", 1.0, max(study.sigmas), None, above=False)]
    return _clip_finding(study, parts, figure, "dB", 2)


def _priors_at(study: NoisyStudy, kind: str) -> dict[float, Any]:
    """{σ: the run} of the study's benchmark runs whose model samples codes with a prior of ``kind`` (the
    registry's ModelSpec.code_prior; the first run per σ)."""
    out: dict[float, Any] = {}
    for r in study.priors:
        if study.prior_kinds.get(r.name) == kind and r.metrics.get("fvd") is not None:
            out.setdefault(sigma_of(r), r)
    return out


def _needs(kind: str, runs: dict[float, Any]) -> Finding:
    have = ", ".join(f"{s:g}" for s in sorted(runs)) or "none"
    return Finding(UNTESTED, f"{kind} runs with FVD at σ = {have} on this benchmark; the claim needs "
                   "σ = 0 and 0.5 (profiles/paper.yaml runs both)")


def _pixelsnail(study: NoisyStudy) -> Finding:
    runs = _priors_at(study, PIXELSNAIL_PRIOR)
    if not {0.0, 0.5} <= set(runs):
        return _needs(PIXELSNAIL_PRIOR, runs)
    a, b = runs[0.0].metrics["fvd"], runs[0.5].metrics["fvd"]
    return _one_run_each(HOLDS if abs(b - a) <= SAME_FVD * a else FAILS, f"FVD {fmt(a, 1)} at σ = 0, {fmt(b, 1)} at σ = 0.5",
                         f"|FVD(0.5) − FVD(0)| within {SAME_FVD:.0%} of FVD(0)")


def _gan(study: NoisyStudy) -> Finding:
    runs = _priors_at(study, GAN_PRIOR)
    if not {0.0, 0.5} <= set(runs):
        return _needs(GAN_PRIOR, runs)
    a, b = runs[0.0].metrics["fvd"], runs[0.5].metrics["fvd"]
    return _one_run_each(HOLDS if b < a else FAILS, f"FVD {fmt(a, 1)} at σ = 0, {fmt(b, 1)} at σ = 0.5; every future "
                         "drawn in one generator pass per tier", "FVD(0.5) − FVD(0): below 0")


def _one_run_each(leaning: str, figure: str, threshold: str) -> Finding:
    """A claim on two runs' FVDs: one training each and an FVD without an interval decide nothing (issue 46);
    the rule's reading is shown, not given as the verdict."""
    return Finding(UNDECIDED, f"one run per σ, not decided (the rule reads “{leaning}”): {figure}", threshold,
                   "none: one run per σ")


# (claim, where in seed 002, the rule genvid applies, the check or None: not tested here)
CLAIMS: tuple[tuple[str, str, str, Callable[[NoisyStudy], Finding] | None], ...] = (
    ("Index noise prevents codebook collapse: all codes used from σ = 0.2", "§4.2",
     "every code of both tiers used on the held-out clips at every σ ≥ 0.2", _usage),
    ("Index noise orders the codebook: the index becomes a coordinate", "§4.2, Fig. 4.2",
     "the codebook order ρ at every σ > 0 exceeds that at σ = 0, in both tiers", _order),
    ("Perturbed latents of a vanilla VQ-VAE decode to garbage; at σ = 1.0 a perturbation does little harm", "§4.1",
     f"the PSNR drop with indices moved by ±1 is smaller at σ = 1 than at σ = 0 by more than {SHIFT_MARGIN:g} dB, "
     "in both tiers", _shift),
    ("A classifier on the latents gains accuracy with σ, up to σ = 1.0", "§4.4, Fig. 4.5",
     "the linear probe's accuracy at σ = 1 exceeds that at σ = 0, in both tiers", _probe),
    ("Reconstruction changes little up to σ = 1.0 and degrades beyond", "§4.5, Fig. 4.7",
     "PSNR at σ = 1 within 1 dB of σ = 0, and lower at the largest σ than at σ = 1", _reconstruction),
    ("Interpolation between latents is better at σ = 0.5", "§4.3", "", None),
    ("A PixelSNAIL prior gains nothing from σ = 0.5 over σ = 0", "§4.6",
     f"the PixelSNAIL runs' FVDs at σ = 0 and 0.5 lie within {SAME_FVD:.0%} of the σ = 0 one", _pixelsnail),
    ("A GAN prior works on noisy-VQ codes only; it samples in one pass", "§4.7",
     "the GAN prior's FVD at σ = 0.5 is lower than at σ = 0", _gan),
)


def verdicts(study: NoisyStudy) -> list[tuple[str, str, str, str, str, str, str]]:
    """(claim, where, rule, verdict, measured figure, threshold, interval) for each claim of seed 002 §4."""
    out = []
    for claim, where, rule, check in CLAIMS:
        found = Finding(UNTESTED, "issue 21 leaves it to later work") if check is None else check(study)
        out.append((claim, where, rule, found.verdict, found.figure, found.threshold, found.interval))
    return out


def claims(study: NoisyStudy) -> list[list]:
    """The claims table's rows: claim, where (cited), genvid's rule, threshold, interval, verdict, figure."""
    return [[claim, seed("002", where), rule or "–", threshold, interval,
             Markup('<span class="verdict">{}</span>').format(verdict), figure]
            for claim, where, rule, verdict, figure, threshold, interval in verdicts(study)]


def claim_items(reg, study: NoisyStudy) -> None:
    reg.add("table", f"nvqclaims_{study.run}", "noisyvq", f"Seed 002's claims (§4) against the study of run "
            f"<code>{escape(study.run)}</code>. A claim on the held-out clips compares two σ clip by clip; its "
            f"interval is the 95 % percentile interval of {BOOTSTRAP} resamples of the clips (their clusters) within "
            "each train seed, of the difference averaged over clips and seeds, and it decides only where it clears "
            "the threshold. A claim on the codebook is decided where two train seeds or more all agree; its interval "
            "column gives the seeds' range. Otherwise, and with one seed unless the interval clears, “not decided” "
            "(the figures are means over seeds). The thesis measured CelebA, FFHQ and NaturalImageNet images at "
            "256 × 256 after 50 epochs; these are video clips after a short training, so a verdict is about this "
            "scale only.",
            header=["Claim", "Where", "Rule", "Threshold", "Interval (95 %)", "Verdict", "Measured"],
            rows=claims(study), align="lllllll")


def verdict_counts(studies: list[NoisyStudy]) -> dict[str, int]:
    """How many claims of all studies hold, do not hold, are not decided, or are not tested here."""
    counts = {HOLDS: 0, FAILS: 0, UNDECIDED: 0, UNTESTED: 0}
    for study in studies:
        for row in verdicts(study):
            counts[row[3]] += 1
    return counts
