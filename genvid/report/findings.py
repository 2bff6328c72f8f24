"""The Benchmarks chapter's paragraph per seed 001/004 model, and whether the small-scale numbers agree
with the theses' findings.

Every number in these sentences is measured in this run (the leaderboard's rows, each run's
train_metrics.json, its samples file, the ablation); only the findings they are checked against are
the theses': seed 001 Table 9.5 and §9.3 (SRNN and VRNN beat RFN on bits per dimension on SM-MNIST;
RFN samples are sharper) and seed 004 Table 4.2, Fig. 4.4 and Table 4.3 (a hierarchy with β warm-up
and dense connectivity fits better than one level; without both tricks the hierarchy is unused;
these models beat SVG-LP). Each check says "agrees" or "does not agree" from the numbers alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup, escape

from genvid.data.train_metrics import ACTIVE_KL, has_hierarchy
from genvid.data.declared import Declared
from genvid.report.references import seed
from genvid.report.inputs import BenchmarkView, stat
from genvid.report.text import DIGITS, NAMES, UNITS, fmt, fmt_stat, lower_better

SVG_METRICS = ("fvd", "ssim", "lpips")  # seed 004 Table 4.3's columns
SHARPNESS_TEXT = ("sharpness is the mean absolute difference between vertically and horizontally neighbouring "
                  "pixels (values in [0, 1]) of a run's predicted frames, every clip and sample, divided by the "
                  "same of the true future frames: 1 means as much edge contrast as the real frames, below 1 "
                  "blurrier; noise raises it too")
SCALE_PARAMETERS = "230.74M"  # seed 004 Table 4.2: the 1-8-32 model's size on BAIR Push


def label_of(model: str, declared: dict[str, Declared]) -> str:
    """The label ``model`` declares (its name where it declares none)."""
    spec = declared.get(model)
    return spec.label if spec is not None and spec.label else model


def citation_of(model: str, declared: dict[str, Declared]) -> Markup:
    """The source ``model`` declares, else "model <name>"."""
    spec = declared.get(model)
    return Markup(spec.citation) if spec is not None and spec.citation else Markup("model {}").format(code(model))


def big(value: float, digits: int = 1) -> str:
    """Large values (ELBOs per sequence) with thousands separators."""
    return f"{value:,.{digits}f}"


def verdict(agrees: bool) -> str:
    return "agrees" if agrees else "does not agree"


def code(name: str) -> Markup:
    return Markup("<code>{}</code>").format(name)


def levels_text(resolutions: Sequence[int]) -> str:
    return "-".join(str(r) for r in resolutions)


def hierarchy_label(train: dict) -> str:
    res = train.get("latent_resolutions") or []
    return "VRNN, 1 level" if len(res) == 1 else f"hierarchical VRNN ({levels_text(res)})"


@dataclass(frozen=True)
class SeedRun:
    """One run of a seed 001/004 model on a benchmark, with everything its paragraph states."""

    name: str
    model: str
    label: str
    row: dict  # the leaderboard's measured row
    train: dict  # train_metrics.json
    train_params: dict  # train.<model> after the run's overrides
    sharpness: float | None
    citation: Markup = Markup("")  # its declared source (citation_of)


def seed_runs(view: BenchmarkView, train_params: dict[str, dict]) -> list[SeedRun]:
    """The benchmark's seed 001/004 runs in params.yaml order (none without a leaderboard)."""
    if view.leaderboard is None:
        return []
    rows = {r["run"]: r for r in view.leaderboard.measured}
    out = []
    for run in view.runs:
        if run.name not in view.train_metrics:  # not a seed run (genvid.report.seed_inputs.is_seed_run)
            continue
        train = view.train_metrics[run.name]
        label = hierarchy_label(train) if has_hierarchy(train) else label_of(run.model, view.declared)
        out.append(SeedRun(run.name, run.model, label, rows[run.name], train, train_params.get(run.name) or {},
                           view.sharpness.get(run.name), citation_of(run.model, view.declared)))
    return out


# ----------------------------------------------------------------------------- one paragraph per model

def _fvd(node: object) -> str:
    if not isinstance(node, dict) or not isinstance(node.get("mean"), (int, float)):
        return "FVD was not computed"
    text = f"FVD {fmt(float(node['mean']), 2)}"
    if isinstance(node.get("sd"), (int, float)):
        text += f" ± {fmt(float(node['sd']), 2)} sd"
        if isinstance(node.get("repeats"), int):
            text += f" over {node['repeats']} repeats"
    return text


def _per_level(resolutions: Sequence[int], values: Sequence[str]) -> str:
    return ", ".join(f"{v} at {r}×{r}" for r, v in zip(resolutions, values))


def paragraph(r: SeedRun, num_samples: int, horizon: int) -> Markup:
    """What the run is and what it measured: size, training, best-of-N scores, FVD, bits per
    dimension, the hierarchy's ELBO and active channels, sharpness."""
    m, t = r.row["metrics"], r.train
    parts = [Markup("<b>{}</b> (run {}, {}): ").format(r.label, code(r.name), r.citation or citation_of(r.model, {}))]
    size = r.row.get("parameters", t.get("parameters"))
    steps, batch = r.train_params.get("steps"), r.train_params.get("batch_size")
    training = f"{fmt(size)} parameters" if isinstance(size, int) else "parameters not recorded"
    if isinstance(steps, int):
        training += f", trained for {fmt(steps)} steps" + (f" at batch {batch}" if isinstance(batch, int) else "")
    elif steps is None:  # a family of several components (the cascade's levels): each one's steps
        each = [(name, c["steps"], c.get("batch_size")) for name, c in r.train_params.items()
                if name in (t.get("components") or t) and isinstance(c, dict) and isinstance(c.get("steps"), int)]
        if each:  # one component trained: as a one-network family's
            training += ", trained " + ", ".join((f"{name} " if len(each) > 1 else "") + f"for {fmt(n)} steps"
                                                 + (f" at batch {b}" if isinstance(b, int) else "") for name, n, b in each)
    parts.append(escape(training + ". "))
    scores = Markup("; ").join(Markup("{} {}{}").format(NAMES[k], fmt_stat(stat(m[k].get("best_seq")), DIGITS[k]), UNITS.get(k, ""))
                       for k in ("psnr", "ssim", "lpips"))
    parts.append(Markup("Best of N = {} per sequence, averaged over the {} predicted frames: {}; {}.").format(
        num_samples, horizon, scores, _fvd(m.get("fvd"))))
    if isinstance(t.get("bits_per_dim"), (int, float)):
        proto = t.get("bits_per_dim_protocol") or {}
        text = f" Bits per dimension ≤ {fmt(t['bits_per_dim'], 3)} (importance-weighted bound"
        if isinstance(proto.get("iwae_samples"), int):
            text += f", K = {proto['iwae_samples']}"
        if isinstance(proto.get("clips"), int):
            text += f", {proto['clips']} test clips" + (f" of {proto['frames']} frames" if isinstance(proto.get("frames"), int) else "")
        text += ", every frame after the first"
        if isinstance(t.get("bits_per_dim_elbo"), (int, float)):
            text += f"; the ELBO gives ≤ {fmt(t['bits_per_dim_elbo'], 3)}"
        parts.append(escape(text + ")."))
    if has_hierarchy(r.train):
        e, res = t["test_elbo"], t["latent_resolutions"]
        kl = _per_level(res, [big(float(e["kl_levels"][f"{x}x{x}"])) for x in res])
        active = _per_level(res, [f"{a} of {len(c)}" for a, c in zip(t["active_channels"], t["kl_per_channel"])])
        parts.append(escape(f" Test negative ELBO {big(float(e['neg_elbo']))} per sequence (reconstruction "
                            f"{big(float(e['recon']))}, KL {kl}); active channels (mean KL above {ACTIVE_KL}): {active}."))
    if r.sharpness is not None:
        parts.append(escape(f" Sharpness {fmt(r.sharpness, 3)}."))
    return Markup("").join(parts)


# ----------------------------------------------------------------------------- the theses' findings

@dataclass(frozen=True)
class Value:
    """A measured number of one run, named for the sentence."""

    label: str
    run: str
    value: float


def _who(v: Value) -> Markup:
    return Markup("{} ({})").format(v.label, code(v.run))


def bits_findings(subject: Value, others: Sequence[Value]) -> list[Markup]:
    """Seed 001 Table 9.5: SRNN and VRNN code SM-MNIST in fewer bits per dimension than RFN."""
    out = []
    for o in others:
        lower = o.value < subject.value
        out.append(Markup("Bits per dimension: {} ≤ {} against ≤ {} for {}, {}; this {} with {} "
                          "(SRNN and VRNN below RFN on SM-MNIST).").format(
            _who(o), fmt(o.value, 3), fmt(subject.value, 3), _who(subject), "lower" if lower else "not lower",
            verdict(lower), seed("001", "Table 9.5")))
    return out


def sharpness_findings(subject: Value, others: Sequence[Value]) -> list[Markup]:
    """Seed 001 §9.3: RFN's samples are sharper than the VRNN's and SRNN's."""
    out = []
    for o in others:
        sharper = subject.value > o.value
        out.append(Markup("Sharpness: {} {} against {} for {}, so RFN's samples are {} by this measure; this {} "
                          "with {} (RFN samples are sharper).").format(
            _who(subject), fmt(subject.value, 3), fmt(o.value, 3), _who(o), "sharper" if sharper else "not sharper",
            verdict(sharper), seed("001", "§9.3")))
    return out


def fit_finding(better_: Value, worse: Value, claim: str, source: Markup | str) -> Markup:
    """``claim``: ``better_`` has a lower test negative ELBO (per sequence) than ``worse``."""
    lower = better_.value < worse.value
    return Markup("Test negative ELBO: {} {} per sequence against {} for {}, {}; this {} with {} ({}).").format(
        _who(better_), big(better_.value), big(worse.value), _who(worse),
        "lower, a better fit" if lower else "not lower", verdict(lower), source, claim)


def unused_finding(both: Value, naive: Value, resolutions: Sequence[int], both_active: Sequence[int],
                   naive_active: Sequence[int], channels: Sequence[int]) -> Markup | None:
    """Seed 004 Fig. 4.4: without β warm-up and dense connectivity the hierarchy is unused. Measured
    as the active channels (mean KL above ACTIVE_KL) above the first level: the naive variant must
    use fewer of them than the model with both tricks. None with a single level."""
    if len(resolutions) < 2:
        return None
    b, n, total = sum(both_active[1:]), sum(naive_active[1:]), sum(channels[1:])
    fewer = n < b
    per_level = lambda act: _per_level(resolutions, [f"{a} of {c}" for a, c in zip(act, channels)])
    return Markup("Active channels (mean KL above {}): {} with both tricks uses {}; {} without either uses {}. "
                  "Above the first level that is {} of {} channels without the tricks against {} with both, {}; "
                  "this {} with {} (without both tricks the hierarchy is unused).").format(
        ACTIVE_KL, _who(both), per_level(both_active), _who(naive), per_level(naive_active), n, total, b,
        "fewer" if fewer else "not fewer", verdict(fewer), seed("004", "Fig. 4.4"))


def svg_finding(model: str, run: str, scores: dict[str, float | None], svg_run: str,
                svg: dict[str, float | None]) -> Markup | None:
    """Seed 004 Table 4.3: the model beats SVG-LP on FVD, SSIM and LPIPS (each where both have it)."""
    cells, wins, n = [], 0, 0
    for metric in SVG_METRICS:
        a, b = scores.get(metric), svg.get(metric)
        if a is None or b is None:
            continue
        n += 1
        win = lower_better(metric, a, b)
        wins += win
        name, digits = ("FVD", 2) if metric == "fvd" else (NAMES[metric], DIGITS[metric])
        cells.append(f"{name} {fmt(a, digits)} against {fmt(b, digits)} ({'better' if win else 'not better'})")
    if not n:
        return None
    return Markup("Against SVG-LP ({}): {} ({}) scores {}, better on {} of {}; this {} with {} "
                  "(the VRNN with and without the hierarchy beats SVG-LP on FVD, SSIM and LPIPS).").format(
        code(svg_run), model, code(run), "; ".join(cells), wins, n, verdict(wins == n), seed("004", "Table 4.3"))


def _row_scores(row: dict) -> dict[str, float | None]:
    m = row["metrics"]
    fvd = m.get("fvd")
    out = {k: (s.mean if (s := stat(m[k].get("best_seq"))) is not None else None) for k in ("ssim", "lpips")}
    out["fvd"] = float(fvd["mean"]) if isinstance(fvd, dict) and isinstance(fvd.get("mean"), (int, float)) else None
    return out


def findings(view: BenchmarkView, runs: list[SeedRun]) -> list[Markup]:
    """Every check whose runs this benchmark has, seed 001's first."""
    by_model: dict[str, list[SeedRun]] = {}
    for r in runs:
        by_model.setdefault(r.model, []).append(r)
    first = lambda model: by_model.get(model, [None])[0]
    claims = [(subject, [o for m in claim.against if (o := first(m)) is not None], claim.measure)
              for model, spec in view.declared.items() if (subject := first(model)) is not None for claim in spec.claims]
    out: list[Markup] = []
    for subject, pair, measure in claims:  # seed 001's: bits per dimension, then sharpness, per subject
        if measure == "bits_per_dim" and isinstance(subject.train.get("bits_per_dim"), (int, float)):
            others = [Value(o.label, o.name, float(o.train["bits_per_dim"])) for o in pair
                      if isinstance(o.train.get("bits_per_dim"), (int, float))]
            out += bits_findings(Value(subject.label, subject.name, float(subject.train["bits_per_dim"])), others)
        if measure == "sharpness" and subject.sharpness is not None:
            others = [Value(o.label, o.name, o.sharpness) for o in pair if o.sharpness is not None]
            out += sharpness_findings(Value(subject.label, subject.name, subject.sharpness), others)
    hier = [r for r in [r for r in runs if has_hierarchy(r.train)] if len(r.train["latent_resolutions"]) > 1]
    one = [r for r in [r for r in runs if has_hierarchy(r.train)] if len(r.train["latent_resolutions"]) == 1]
    neg = lambda r: Value(r.label, r.name, float(r.train["test_elbo"]["neg_elbo"]))
    if hier and one:
        out.append(fit_finding(neg(hier[0]), neg(one[0]), "a hierarchy with β warm-up and dense connectivity fits "
                               "better than one level", seed("004", "Table 4.2")))
    for ab in view.ablations:
        naive = ab.variants.get("naive")
        ref = next((r for r in runs if r.name == ab.run), None)
        if naive is None or ref is None or not has_hierarchy(ref.train):
            continue
        nm = naive["metrics"]
        naive_value = Value("the naive variant", f"{ab.run}~naive", float(nm["test_elbo"]["neg_elbo"]))
        out.append(fit_finding(neg(ref), naive_value, "β warm-up and dense connectivity fit better than neither",
                               seed("004", "Table 4.2, bottom half")))
        t = ref.train
        if list(nm["latent_resolutions"]) == list(t["latent_resolutions"]):
            u = unused_finding(Value(ref.label, ref.name, 0.0), Value("the naive variant", f"{ab.run}~naive", 0.0),
                               t["latent_resolutions"], t["active_channels"], nm["active_channels"],
                               [len(c) for c in t["kl_per_channel"]])
            if u is not None:
                out.append(u)
    for subject, pair, measure in claims:  # seed 004 Table 4.3: the hierarchy's first run and the one-level one
        if measure == "fvd_ssim_lpips":
            for other in pair:
                for r in [r for r in hier[:1] + one[:1] if r.model == subject.model]:
                    f = svg_finding(r.label, r.name, _row_scores(r.row), other.name, _row_scores(other.row))
                    if f is not None:
                        out.append(f)
    if out:
        out.append(scale_note(view.name, runs, bool(hier or one)))
    return out


def scale_note(benchmark: str, runs: Sequence[SeedRun], seed004: bool) -> Markup:
    """How small these runs are, and where the theses measured what they are checked against."""
    sizes = Markup("; ").join(
        Markup("{} {}").format(code(r.name), ", ".join(
            ([f"{fmt(r.row['parameters'])} parameters"] if isinstance(r.row.get("parameters"), int) else []) +
            ([f"{fmt(r.train_params['steps'])} steps"] if isinstance(r.train_params.get("steps"), int) else [])) or "—")
        for r in runs)
    text = Markup("Scale: {}. The theses trained far larger models far longer (seed 004's 1-8-32 model has {} "
                  "parameters), so these checks test the direction of each finding at a tiny scale, not its size; "
                  "seed 001 measured on SM-MNIST").format(sizes, SCALE_PARAMETERS)
    if seed004:
        text += Markup(", {} and Fig. 4.4 on BAIR Push at 64 × 64 (not on {}) and {} on SM-MNIST with N = 100 "
                       "samples").format(seed("004", "Table 4.2"), code(benchmark), seed("004", "Table 4.3"))
    return text + Markup(".")
