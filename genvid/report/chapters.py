"""The numbered figures and tables of each chapter, registered in the order the template shows them.

Each ``*_items`` function adds one chapter's items to the Registry; numbers ("Figure 5.2") follow
registration order per chapter, so the order here must match report.html.j2 (a test checks it).
Chapters 1-5 describe the main run (params ``report.main_run``, any run): chapters 3-5 show the VQ
family's items when its train_metrics.json has the VQ fields (``MainRun.vq``), else generic ones
(its params, parameter count, training curves), chosen by what its files hold, never by its model's
name; chapter 6 compares every run of every benchmark.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from markupsafe import Markup, escape

from genvid.data.figures import TemperatureSweep
from genvid.data.split import clip_starts
from genvid.data.train_metrics import ACTIVE_KL, MAX_KL, VQ_COMPONENTS, VQ_FINETUNE, has_hierarchy
from genvid.layout import benchmark_paths, declared_path, figures_path, run_paths
from genvid.metrics.stats import RULES
from genvid.report import figures as F
from genvid.report import repro, tables
from genvid.report import text as X
from genvid.report.choices import model_choices
from genvid.report.gifs import animated_gif, side_by_side
from genvid.report.inputs import (METRICS, PREDICTIONS, Ablation, BenchmarkView, Inputs, MainRun, RunResult, curve,
                                  gradient_energy)
from genvid.report.references import seed, xu

CHAPTERS = {"data": "1", "preprocessing": "2", "models": "3", "training": "4", "results": "5",
            "benchmarks": "6", "noisyvq": "7", "discussion": "8", "appendix": "A"}
# Row labels of the VQ family's series in the strips; † marks a series that sees the whole clip.
SHORT_LABELS = {PREDICTIONS: "prediction", "top_only": "gen. top + true bottom †",
                "bottom_only": "true top + gen. bottom †", "recon": "reconstruction †"}
RULE_STYLES = {"best_seq": ("-", 1.7), "best_step": ("-.", 1.1), "mean": ("--", 1.2)}


@dataclass(frozen=True)
class Options:
    main_clips: int = 3  # test clips (evenly spaced) of the main run read for its figures
    sample_clips: int = 2  # of those, clips with a per-series strip (and a GIF)
    benchmark_clips: int = 2  # test clips in each benchmark's side-by-side strips
    max_samples: int = 4  # rows of the sample-diversity figure
    max_px: int = 96  # frames are shown at most this large in the strips
    gif_px: int = 128  # ... and in the GIFs
    self_stage: str = "report"  # our own dvc.lock entry, left out of the appendix


class Registry:
    """Numbered figures and tables ("Figure 5.2"), per chapter, in registration order."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self._count: dict[tuple[str, str], int] = {}

    def add(self, kind: str, key: str, chapter: str, caption: str | Markup, **payload: Any) -> None:
        if key in self.items:
            raise ValueError(f"duplicate report item {key!r}")
        label = CHAPTERS[chapter]
        n = self._count[(kind, label)] = self._count.get((kind, label), 0) + 1
        name = "Figure" if kind == "figure" else "Table"
        if kind == "table":  # column alignment: l/r/c per column; text left, numbers right
            payload["align"] = payload.get("align") or "l" + "r" * (len(payload["header"]) - 1)
        self.items[key] = {"kind": kind, "key": key, "label": f"{name} {label}.{n}", "anchor": f"{kind[:3]}-{key}",
                           "caption": Markup(caption), **payload}

    def ref(self, key: str) -> Markup:
        item = self.items[key]  # KeyError: a reference to a figure/table that does not exist
        return Markup('<a class="ref" href="#{}">{}</a>').format(item["anchor"], item["label"])


def duration_ms(interval: Any) -> int:
    """GIF frame time: the recording's interval between frames (real time), else 200 ms."""
    return int(round(1000 * interval)) if isinstance(interval, (int, float)) and interval > 0 else 200


def gif_uri(videos: list[np.ndarray], context: int, interval: Any, gif_px: int) -> str:
    h, w = videos[0].shape[1:3]
    scale = max(1, gif_px // max(h, w))
    frames = side_by_side([np.stack([F.fit(f, gif_px) for f in v]) for v in videos], context, scale)
    return F.data_uri(animated_gif(frames, duration_ms(interval)), "image/gif")


# ----------------------------------------------------------------------------- chapters 1-2

def split_frames(main: MainRun, per_split: int = 8) -> list[tuple[str, np.ndarray]]:
    """``per_split`` frames evenly spaced over each split (Figure 1.1)."""
    rows = []
    with h5py.File(main.frames.path, "r") as f:
        for name in ("train", "val", "test"):
            index = clip_starts(main.split["splits"][name]["ranges"], 1, 1)
            picks = index[np.linspace(0, len(index) - 1, per_split).round().astype(int)]
            rows.append((tables.SPLIT_NAMES[name].lower(), list(np.stack([f["frames"][int(i)] for i in picks]))))
    return rows


def data_items(reg: Registry, main: MainRun) -> None:
    """Chapters 1-2: the recording, the split, the normalisation."""
    reg.add("table", "data", "data", "The recorded video (attributes of the frames file).",
            **tables.data_summary(main.frames, main.split))
    reg.add("table", "split", "data", f"Chronological split {xu('§4.1.2')} and the clips each split holds: "
            f"stride 1 for training and the evaluation stride for validation and test {xu('§4.1.3')}.",
            **tables.split_sizes(main.split))
    reg.add("figure", "split_frames", "data", "Frames evenly spaced over each split, in recording order.",
            png=F.frame_grid(split_frames(main)))
    reg.add("table", "norm", "preprocessing", "Per-channel normalisation constants, computed on the training "
            f"split only {xu('eq. 4.1')}; pixels are scaled to [0, 1] first.", **tables.normalization(main.stats))


# ----------------------------------------------------------------------------- chapters 3-4

def model_items(reg: Registry, main: MainRun) -> None:
    """Chapter 3: the VQ family's (main.vq) or any model's, by what the run's files hold."""
    if main.vq is not None:
        vq_model_items(reg, main)
    else:
        generic_model_items(reg, main)


def training_items(reg: Registry, main: MainRun) -> None:
    """Chapter 4: the VQ family's (main.vq) or any model's, by what the run's files hold."""
    if main.vq is not None:
        vq_training_items(reg, main)
    else:
        generic_training_items(reg, main)


def vq_model_items(reg: Registry, main: MainRun) -> None:
    """Chapter 3 of a VQ-family run: hyperparameters, code grids and parameter counts."""
    mp, tm, name = main.run.model_params, main.train_metrics, main.run.model
    shapes = tm["vqvae"]["code_shapes"]
    clip = (main.bench.clips.clip_len, main.frames.height, main.frames.width)
    reg.add("table", "vqvae_hp", "models", f"VQ-VAE hyperparameters (params.yaml <code>models.{name}.vqvae</code>, "
            f"with the run's overrides) next to the final values of Xu {xu('Table 5.2, §5.2.1')}.",
            **tables.hyperparameters({"This run": mp.get("vqvae")}, tables.THESIS_VQVAE))
    reg.add("table", "codes", "models", "Code grids of one clip and the bits they need against the raw 8-bit clip.",
            **tables.code_sizes(shapes, main.vq.codebook_size, clip, tm["vqvae"]["bits_reduction"],
                                main.frames.channels))
    priors = {"Top prior": mp.get("prior_top"), "Bottom prior": mp.get("prior_bottom")}
    reg.add("table", "prior_hp", "models", f"Prior hyperparameters (params.yaml <code>models.{name}.prior_top</code>, "
            f"<code>prior_bottom</code>) next to the top prior of Xu {xu('Table 5.4')}.",
            **tables.hyperparameters(priors, tables.THESIS_PRIOR_TOP, "Xu (2022), top"))
    sizes = main.vq.levels.parameters  # counted by the VQ family (stage figures)
    counts = [("VQ-VAE (trainable)", sizes.get("trainable")), ("VQ-VAE codebooks (EMA, 2 × K × D)", sizes.get("codebooks")),
              ("Top prior", tm["prior_top"].get("parameters")), ("Bottom prior", tm["prior_bottom"].get("parameters"))]
    reg.add("table", "params", "models", "Parameter counts.", **tables.parameter_counts(counts))


def vq_training_items(reg: Registry, main: MainRun) -> None:
    """Chapter 4 of a VQ-family run: settings, loss curves and the final loss (seed 000 Table 5.3)."""
    tuned = tables.decoder_finetune(main.train_metrics)
    components = VQ_COMPONENTS + ((VQ_FINETUNE,) if tuned else ())
    train = {c: main.run.train_params.get(c) for c in components}
    reg.add("table", "train_hp", "training", f"Training settings of the {len(components)} components (params.yaml "
            f"<code>train.{main.run.model}</code>, with the run's overrides).", **tables.hyperparameters(train))
    reg.add("figure", "vqvae_curves", "training", "VQ-VAE training: loss (eq. 5.3) on training batches and on "
            "validation batches, its MSE and commitment parts, and the perplexity of the codes in use.",
            png=F.vqvae_curves(main.curves["vqvae"]))
    reg.add("table", "final_loss", "training", "Final loss over the training and validation sets, in the shape "
            f"of {xu('Table 5.3')}, which reports 0.025 and 0.026 at 256 × 256.",
            **tables.final_loss(main.curves["vqvae"]))
    reg.add("figure", "prior_curves", "training", "Negative log-likelihood of the top and bottom priors on "
            "training and validation codes.",
            png=F.prior_curves({"top": main.curves["prior_top"], "bottom": main.curves["prior_bottom"]}))
    if tuned:
        weight = main.train_metrics[VQ_FINETUNE].get("true_codes_weight")
        reg.add("table", "decoder_finetune", "training", "The decoder fine-tuned on the priors' codes (genvid's "
                f"reading of the end-to-end training of {xu('§6.5')}; <code>models.{main.run.model}.finetune</code>): "
                "the MSE on normalised clips of decoding the codes the priors draw past each window's context, "
                "each given the true codes before it, and of decoding the true codes, before and after, on the same "
                f"draws; the loss is the first plus {weight:g} × the second. The VQ-VAE tables above are "
                "of the decoder before; the predictions use the one after.", **tuned)


def trained_parameters(main: MainRun) -> int | None:
    """train_metrics.json's parameter count (0: a model without weights), None if not recorded."""
    n = main.train_metrics.get("parameters")
    return n if isinstance(n, int) and not isinstance(n, bool) else None


def generic_model_items(reg: Registry, main: MainRun) -> None:
    """Chapter 3 of any other run: its models.<model> params and its parameter count."""
    model, mp = escape(main.run.model), main.run.model_params
    if mp:
        reg.add("table", "model_hp", "models", f"Hyperparameters of model <code>{model}</code> (params.yaml "
                f"<code>models.{model}</code>, with the run's overrides).",
                **tables.hyperparameters(tables.param_columns(mp)))
    n = trained_parameters(main)
    if n:
        reg.add("table", "params", "models", "Trained parameters (<code>train_metrics.json</code>).",
                **tables.parameter_counts([(Markup("<code>{}</code>").format(main.run.model), n)]))


def curves_key(component: str) -> str:
    return f"train_curves_{component}"


def generic_training_items(reg: Registry, main: MainRun) -> None:
    """Chapter 4 of any other run: its train.<model> params, what training measured (bits per
    dimension, a hierarchy's test ELBO) and one figure per trained component under curves/."""
    model, train = escape(main.run.model), main.run.train_params
    if train:
        reg.add("table", "train_hp", "training", f"Training settings (params.yaml <code>train.{model}</code>, with "
                "the run's overrides).", **tables.hyperparameters(tables.param_columns(train)))
    measured = tables.train_results(main.train_metrics)
    if measured is not None:
        reg.add("table", "train_results", "training", "What training measured on held-out clips "
                "(<code>train_metrics.json</code>).", **measured)
    for component, curves in main.curves.items():
        reg.add("figure", curves_key(component), "training", f"Training of component <code>{escape(component)}</code>"
                f" (<code>curves/{escape(component)}/</code>): every logged column against the training step, on "
                "training batches and on validation batches.", png=F.training_curves(curves))


# ----------------------------------------------------------------------------- chapter 5

def protocol_items(reg: Registry, main: MainRun, thesis: dict, device: dict | None = None) -> None:
    """Section 5.1: the protocol as evaluate recorded it and, for a VQ-family run, what it changes
    against the thesis (``device``: params.yaml's device section)."""
    reg.add("table", "protocol", "results", "The evaluation protocol as recorded by the evaluate stage "
            "(<code>protocol.json</code>).", **tables.protocol(main.result.protocol))
    if main.vq is None:  # the thesis setup it compares against is the VQ family's
        return
    reg.add("table", "deviations", "results", f"What this run changes against Xu {xu('§4.2–5.3')}: the VQ-VAE "
            "variants, optimisation and arithmetic (params.yaml, with the run's overrides) against seed 000's setup "
            "(<code>profiles/thesis.yaml</code>), and the priors' convolutions.",
            **tables.deviations(main.run.model, main.run.model_params, main.run.train_params, thesis, device))


def _with_context(frames: np.ndarray, context: int) -> list[np.ndarray | None]:
    """A horizon-long series placed after ``context`` blank cells, to align with the real clip."""
    return [None] * context + list(frames)


def vqvae_prior_items(reg: Registry, main: MainRun, opts: Options) -> None:
    """Sections 5.2-5.3: reconstruction (Table 6.1, Figs 6.1-6.2), codebook use, prior NLL (Tables 6.2/6.3)."""
    v, c, n = main.videos, main.result.samples.context_frames, main.result.samples.clips
    tm = main.train_metrics
    reg.add("table", "vqvae_quality", "results", "Reconstruction quality and codebook use on each split, in the "
            f"shape of {xu('Table 6.1')} (MSE 0.018 / 0.021 / 0.019 there). MSE is in normalised space; PSNR and "
            "SSIM in pixel space.", **tables.vqvae_quality(tm["vqvae"], main.vq.codebook_size))
    if "recon" in v:
        rows = [(f"{label} #{int(r) + 1}", frames) for i, r in enumerate(main.rows)
                for label, frames in (("real", list(v["real"][i])), ("recon. †", _with_context(v["recon"][i, 0], c)))]
        reg.add("figure", "recon", "results", "Test clips (frame by frame) with the VQ-VAE reconstruction of their "
                f"predicted frames below {xu('Fig. 6.2')}; #k is the k-th of the {n} test clips. † The reconstruction "
                "encodes the whole clip, future included: an upper bound on what the priors can reach, never a "
                "prediction.", png=F.frame_grid(rows, c, opts.max_px))
    alone = main.vq.levels.frames  # drawn by the VQ family (stage figures) from test clip 1
    real = alone["real"]
    reg.add("figure", "levels", "results", "<b>Top:</b> decoding of the top codes alone (bottom codes zeroed). "
            "<b>Second:</b> decoding of the bottom codes alone (top codes zeroed). <b>Third:</b> both levels. "
            f"<b>Bottom:</b> the original test clip {xu('Fig. 6.1')}.",
            png=F.frame_grid([("top only", list(alone["top_alone"])), ("bottom only", list(alone["bottom_alone"])),
                              ("both", list(alone["both"])), ("real", list(real))], max_px=opts.max_px))
    reg.add("figure", "codebook", "results", "Codebook usage on the test codes: frequency of each code, sorted.",
            png=F.codebook_usage(main.vq.code_counts))
    for level, thesis_table in (("top", "6.2"), ("bottom", "6.3")):
        pm = tm[f"prior_{level}"]
        base = pm.get("baselines") or {}
        note = ", ".join(f"{name} {X.fmt(base[k], 3)} bits/code" for k, name in
                         (("uniform_bits", "uniform"), ("unigram_bits", "unigram")) if isinstance(base.get(k), (int, float)))
        reg.add("table", f"nll_{level}", "results", f"Mean loss of the {level} PixelSNAIL over the splits, in the "
                f"shape of {xu('Table ' + thesis_table)}." + (f" Baselines: {note}." if note else ""),
                **tables.prior_nll(pm))


def series_row(main: MainRun, name: str, j: int, sample: int = 0) -> tuple[str, list]:
    extra = main.result.samples.extras.get(name)
    label = SHORT_LABELS.get(name) or (name + (" †" if extra is not None and extra.sees_future else ""))
    return label, _with_context(main.videos[name][j, sample], main.result.samples.context_frames)


def sample_items(reg: Registry, main: MainRun, opts: Options) -> None:
    """Section 5.4: per test clip, every series of the samples file (Figs 6.3-6.7, with GIFs);
    several samples of one clip (Fig. 6.8)."""
    info, v = main.result.samples, main.videos
    c = info.context_frames
    series = [PREDICTIONS, *info.extras]
    interval = main.frames.attrs.get("interval")
    future = [name for name, e in info.extras.items() if e.sees_future]
    dagger = (f" † The series sees the whole clip{' (true codes of the future)' if main.vq is not None else ''}: "
              "a diagnostic, never a prediction." if future else "")
    for j in np.unique(np.linspace(0, len(main.rows) - 1, min(opts.sample_clips, len(main.rows))).round().astype(int)):
        rows = [("real", list(v["real"][j]))] + [series_row(main, name, int(j)) for name in series]
        videos = [v["real"][j]] + [np.concatenate([v["real"][j, :c], v[name][j, 0]]) for name in series]
        reg.add("figure", f"sample_{j}", "results", f"Test clip {int(main.rows[j]) + 1} of {info.clips}: the first "
                f"{c} frames are the real context, the rest are generated; one row per series of the samples file, "
                f"first sample {xu('Figs. 6.3–6.7')}.{dagger}",
                png=F.frame_grid(rows, c, opts.max_px), gif=gif_uri(videos, c, interval, opts.gif_px),
                gif_caption="Animated, left to right: " + ", ".join(label for label, _ in rows) +
                "; the bar turns red on generated frames.")
    samples = [("real", list(v["real"][0]))] + [
        (f"sample {s + 1}", _with_context(v[PREDICTIONS][0, s], c)) for s in range(min(info.samples, opts.max_samples))]
    how = " (top prior, then bottom prior, from the context codes)" if main.vq is not None else ""
    reg.add("figure", "diversity", "results", f"Several predictions{how} for test clip {int(main.rows[0]) + 1} "
            f"{xu('Fig. 6.8')}.", png=F.frame_grid(samples, c, opts.max_px))


def main_curves(main: MainRun) -> dict[str, list[F.Line]]:
    """Per metric: the predictions under each rule, the extra series (best of N per sequence; † sees
    the whole clip) and the copy-last baseline; intervals on the headline rule and the baseline."""
    short = {"best_seq": "best of N (sequence)", "best_step": "best of N (timestep)", "mean": "mean of N"}
    panels = {}
    for metric in METRICS:
        lines = []
        for rule in RULES:
            cv = curve(main.result.scores, PREDICTIONS, metric, rule)
            style, width = RULE_STYLES[rule]
            banded = rule == "best_seq"
            lines.append(F.Line(f"prediction, {short[rule]}", F.COLORS[PREDICTIONS], cv.mean,
                                cv.lo if banded else None, cv.hi if banded else None, style, width))
        for name, extra in main.result.samples.extras.items():
            cv = curve(main.result.scores, name, metric, "best_seq")
            if cv is not None:
                color = F.COLORS.get(name, F.PALETTE[len(lines) % len(F.PALETTE)])
                label = series_row(main, name, 0)[0] + (" (upper bound)" if name == "recon" else "")
                lines.append(F.Line(label, color, cv.mean, style=":" if name == "recon" else "-", width=1.0))
        if main.baseline is not None:
            cv = curve(main.baseline.scores, PREDICTIONS, metric, "best_seq")
            lines.append(F.Line("copy last context frame", F.COLORS["baseline"], cv.mean, cv.lo, cv.hi, "-.", 1.4))
        panels[metric] = lines
    return panels


def evaluation_items(reg: Registry, main: MainRun) -> None:
    """Section 5.5: the metric tables, FVD and the per-timestep curves."""
    reg.add("table", "eval", "results", "Test metrics of the main run averaged over the predicted frames, with "
            "95 % cluster-bootstrap intervals over test clips, per series and rule (the headline is best of N per "
            "sequence). Series marked as seeing the future are diagnostics and upper bounds, not predictions.",
            **tables.evaluation(main.result, main.baseline))
    fvd_table = tables.fvd(main.result, main.baseline)
    if fvd_table:
        reg.add("table", "fvd", "results", "Fréchet Video Distance (I3D Kinetics-400 logits) of the test videos, "
                "real context frames in both sets; mean ± sd over the repeats (one random sample per clip each).",
                **fvd_table)
    reg.add("figure", "curves", "results", curves_caption(main), png=F.metric_curves(main_curves(main), legend_cols=2))


def curves_caption(main: MainRun) -> str:
    """Figure 5.x's caption, naming only the lines it has."""
    extras, base = main.result.samples.extras, main.baseline is not None
    shown = ["the three rules"] + (["the diagnostic series"] if extras else []) + (["the copy-last baseline"] if base else [])
    text = ("Metrics per predicted frame on the test clips under " + ", ".join(shown[:-1]) +
            (" and " if len(shown) > 1 else "") + shown[-1] + "; shaded: 95 % intervals of the headline rule" +
            (" and the baseline" if base else "") + ".")
    if any(e.sees_future for e in extras.values()):
        text += " † The series sees the whole clip"
        text += "; the reconstruction (dotted) is an upper bound." if "recon" in extras else "."
    return text


# ----------------------------------------------------------------------------- chapter 6

def benchmark_curves(view: BenchmarkView) -> dict[str, list[F.Line]]:
    panels = {}
    for metric in METRICS:
        lines = []
        for i, run in enumerate(view.runs):
            cv = curve(run.scores, PREDICTIONS, metric, "best_seq")
            color = F.COLORS["baseline"] if run.is_baseline else F.PALETTE[i % len(F.PALETTE)]
            lines.append(F.Line(run.name, color, cv.mean, cv.lo, cv.hi, "-.", 1.3) if run.is_reference
                         else F.Line(run.name, color, cv.mean, cv.lo, cv.hi))
        panels[metric] = lines
    return panels


LONG_HORIZON = "long_horizon"  # genvid.evaluation's section of scores.json
LONG_PANELS = (("lpips", "mean"), ("lpips", "best_step"), ("ssim", "mean"), ("ssim", "best_step"))


def long_horizon_curves(view: BenchmarkView) -> dict[str, list[F.Line]]:
    """Every run's long-horizon LPIPS and SSIM per predicted frame, mean of N and best of N per timestep
    (scores.json's long_horizon section), shaded with their 95 % intervals; the references (copy-last, the
    context median) dash-dotted."""
    panels = {}
    for metric, rule in LONG_PANELS:
        lines = []
        for i, run in enumerate(view.runs):
            cv = curve(run.scores, PREDICTIONS, metric, rule, LONG_HORIZON)
            color = F.COLORS["baseline"] if run.is_baseline else F.PALETTE[i % len(F.PALETTE)]
            lines.append(F.Line(run.name, color, cv.mean, cv.lo, cv.hi, "-.", 1.3) if run.is_reference
                         else F.Line(run.name, color, cv.mean, cv.lo, cv.hi))
        panels[f"{F.METRIC_LABELS[metric]}, {tables.RULE_LABELS[rule]}"] = lines
    return panels


def long_horizon_items(reg: Registry, view: BenchmarkView) -> None:
    """Issue 23 item 2: the long-horizon protocol's table (rows.json) and per-timestep figure (scores.json)."""
    lh, b = view.config.long_horizon, view.name
    table = tables.long_horizon(view.leaderboard.measured)
    if lh is None or table is None:
        return
    settings = (f"{lh.context_frames} context frames, {lh.horizon} predicted, on {lh.clip_len}-frame test clips "
                f"(stride {lh.test_stride}), N = {lh.num_samples} samples each, FVD over {lh.fvd_repeats} "
                f"repeat{'s' if lh.fvd_repeats != 1 else ''} (params <code>benchmarks.{b}.long_horizon</code>)")
    reg.add("table", f"lhtab_{b}", "benchmarks", f"The long horizon of <code>{b}</code>: {settings}. Scores averaged "
            "over the predicted frames with 95 % cluster-bootstrap intervals; FVD mean (± sd over repeats when more "
            "than one); the last column is the first predicted frame at which the run's mean-of-N LPIPS exceeds the "
            "baseline run's (never: not within the horizon).", **table)
    reg.add("figure", f"lh_{b}", "benchmarks", f"LPIPS and SSIM per predicted frame of every run of <code>{b}</code> "
            f"over the long horizon ({settings}), mean of N and best of N per timestep; shaded: 95 % intervals.",
            png=F.metric_curves(long_horizon_curves(view)))


def benchmark_items(reg: Registry, views: list[BenchmarkView], opts: Options,
                    temperature: TemperatureSweep | None = None, fvd_repeats: int | None = None) -> None:
    """Chapter 6: per benchmark, the leaderboard (measured, then published apart), every run's
    per-timestep curves, every run's first sample on the same test clips; then the temperature
    run's samples at each temperature (on its benchmark) and each ablation's table and Fig. 4.4."""
    for view in views:
        if not view.runs:
            continue
        b, lb = view.name, view.leaderboard
        versus = tables.versus_table(lb.measured, {r.name: tables.trained_steps(r.paths.report_dir / "curves",
                                                                                r.run.train_params) for r in view.runs})
        if versus is not None:  # issue 48: the section opens with what the learned models do against the baseline
            reg.add("table", f"versus_{b}", "benchmarks", f"Do the learned models of <code>{b}</code> beat the baseline? "
                    "Each learned run's score minus the baseline run's on the same test clips, then minus each other "
                    "reference's that learns nothing, as the leaderboard marks them (PSNR, SSIM and LPIPS "
                    "best of N per sequence, FVD its mean over repeats), and whether the run is better; where both have 95 % "
                    "cluster-bootstrap intervals, whether the intervals are apart or overlap (a difference within "
                    "them is weak evidence). Steps × batch: the steps each trained network logged last, at its batch size "
                    "(a few dozen steps is a smoke run: it tests the code path, not the model).",
                    **versus)
        motion = next((r["metrics"]["motion"] for r in lb.measured if r["metrics"].get("motion")), None)
        motion_text = "" if motion is None else (
            " Motion acc.: the share of predicted futures a Conv3D motion classifier, trained on real futures, "
            "assigns to the clip's true motion class (mean of N: over the samples; best of N: any sample right; "
            f"issue 22 item 4); on the real futures of these clips it scores {motion['real']['mean']:.2f}, the "
            "ceiling." + X.extrapolation_levels(motion.get("extrapolated")))
        reg.add("table", f"lb_{b}", "benchmarks", f"Leaderboard of <code>{b}</code>: every run in params.yaml, "
                "measured on the same test clips and ranked by FVD (lowest first); time-averaged scores of the predictions under each rule with 95 % "
                "cluster-bootstrap intervals, FVD mean with its 95 % interval over the test clips and ± sd over repeats "
                "(rows.json of the leaderboard stage). FVD rank: 1 + the number of runs whose FVD interval lies wholly "
                "below the run's, so runs that an FVD over these clips cannot separate share a rank." + motion_text,
                **tables.leaderboard_measured(lb.measured))
        control = tables.controllability(lb.measured)
        if control is not None:
            first = next(r["metrics"]["controllability"] for r in lb.measured if r["metrics"].get("controllability"))
            cue = first.get("direction_true_frames")
            reg.add("table", f"control_{b}", "benchmarks", Markup(
                "Controllability on <code>{b}</code> (issue 24): {m} test clips replayed by the simulator from the "
                "state of their last context frame under each held action ({seqs}); every run predicts each, from "
                "the same context and noise. LPIPS and SSIM: its futures against the simulator's counterfactual "
                "ones. Sensitivity: how much its futures differ between actions, over how much the true ones "
                "do (0: it ignores the action; a model that reads none scores 0 by construction). Direction: the "
                "share of clips where steering left rather than right moves the predicted image the way the "
                "simulator's heading turns (phase correlation of consecutive frames; the same cue scores {cue} "
                "on the true counterfactual frames). 95 % cluster-bootstrap intervals.").format(
                    b=b, m=first.get("clips"), seqs=", ".join(first.get("sequences") or []),
                    cue="—" if cue is None else f"{cue:.2f}"), **control)
        if lb.published:
            reg.add("table", f"lbpub_{b}", "benchmarks", f"Published numbers on <code>{b}</code>, shown apart and "
                    "never ranked with the measured rows: each from its source thesis, with the protocol items where "
                    "it differs from genvid's, spelled out in the next table.",
                    **tables.leaderboard_published(lb.published))
            reg.add("table", f"lbdiff_{b}", "benchmarks", f"How the published numbers on <code>{b}</code> were "
                    "measured, item by item, against genvid's protocol for this benchmark (rows.json of the "
                    "leaderboard stage).", **tables.published_differences(lb.published))
            gaps = tables.published_gaps(lb.measured, lb.published)
            if gaps is not None:
                reg.add("table", f"lbgap_{b}", "benchmarks", f"How far each run of <code>{b}</code> is from the "
                        "published numbers of the model it re-implements: genvid's number (PSNR, SSIM and LPIPS best "
                        "of N per sequence, FVD its mean), the published one and the difference. The published rows "
                        "come from full-size models trained to convergence and were measured under their own "
                        "protocols (the table above), so this is a distance, not a ranking.", **gaps)
        p = view.config.protocol
        reg.add("figure", f"bcurves_{b}", "benchmarks", f"Per-timestep scores of every run of <code>{b}</code> "
                f"({p.context_frames} context frames, {p.horizon} predicted; best of N = {p.num_samples} per "
                "sequence), shaded: 95 % intervals.", png=F.metric_curves(benchmark_curves(view)))
        c = view.runs[0].samples.context_frames
        rows = []
        for j, r in enumerate(view.rows):
            rows.append((f"real #{int(r) + 1}", list(view.real[j])))
            rows += [(run.name, _with_context(view.first_sample[run.name][j], c)) for run in view.runs]
        videos = [view.real[0]] + [np.concatenate([view.real[0, :c], view.first_sample[run.name][0]])
                                   for run in view.runs]
        reg.add("figure", f"bstrips_{b}", "benchmarks", f"The same test clips of <code>{b}</code> predicted by every "
                f"run (first sample each); #k is the k-th of the {view.runs[0].samples.clips} test clips.",
                png=F.frame_grid(rows, c, opts.max_px), gif=gif_uri(videos, c, getattr(view.config.collect, "interval", None), opts.gif_px),
                gif_caption=f"Animated, test clip {int(view.rows[0]) + 1}, left to right: real, " +
                ", ".join(run.name for run in view.runs) + "; the bar turns red on predicted frames.")
        long_horizon_items(reg, view)
        own = next((r for r in view.runs if temperature is not None and r.name == temperature.run), None)
        if own is not None:
            temperature_item(reg, temperature, own, opts)
        for ab in view.ablations:
            ablation_items(reg, view, ab)
    declared = {name: d for view in views for name, d in view.declared.items()}
    choices = model_choices({run.model for view in views for run in view.runs}, declared,
                            {getattr(view.config.collect, "source", None) for view in views}, fvd_repeats)
    if choices is not None:
        reg.add("table", "model_choices", "discussion", "Where the models of these runs and their benchmarks' data "
                "depart from their sources, or fill in what the sources leave unstated: each family's rows as its "
                "registry entry declares them (genvid.data.declared.Choice), then the benchmarks' "
                "(genvid.report.choices).", **choices)


def relative_sharpness(frames: np.ndarray, real: np.ndarray) -> float | None:
    """inputs.sharpness for frames in memory: their mean absolute spatial gradient over the real ones'."""
    (a, n), (b, m) = gradient_energy(frames), gradient_energy(real)
    return None if b <= 0 or n == 0 else (a / n) / (b / m)


def temperature_item(reg: Registry, t: TemperatureSweep, result: RunResult, opts: Options) -> None:
    """Issue 11: the temperature run's samples at each temperature (drawn by stage figures, on the
    CPU, from a generator seeded alike at each), below the real clips."""
    futures = dict(zip(t.temperatures, t.futures))
    c, run = t.context_frames, t.run
    real = t.real[:, :c + t.horizon]
    rows = []
    for j, r in enumerate(t.rows):
        rows.append((f"real #{int(r) + 1}", list(real[j])))
        rows += [(f"T = {temp:g}", _with_context(futures[temp][j], c)) for temp in t.temperatures]
    sharp = [(temp, relative_sharpness(futures[temp], real[:, c:])) for temp in t.temperatures]
    own = t.params.get("temperature")
    reg.add("figure", "temperatures", "benchmarks", f"Run <code>{run}</code> ({t.model}) at the sampling "
            f"temperatures {', '.join(f'{temp:g}' for temp in t.temperatures)} (params <code>report.temperatures"
            f"</code>): each test clip's {c} real context frames, then one future of {t.horizon} frames per temperature "
            f"(params <code>report.temperature_frames</code>; the protocol predicts {result.samples.horizon}), drawn on the CPU "
            f"from a generator seeded with {t.seed} each time, so only the temperature differs. #k is the k-th of the "
            f"{result.samples.clips} test clips." + (f" The run's own samples (leaderboard, strips) use T = {own:g}."
                                                        if isinstance(own, (int, float)) else "") +
            " Sharpness of these futures (defined in the text): " +
            "; ".join(f"T = {temp:g}: {X.fmt(v, 3)}" for temp, v in sharp) + ".",
            png=F.frame_grid(rows, c, opts.max_px))


def one_level_run(view: BenchmarkView) -> tuple[str, dict] | None:
    """The benchmark's first run with a single latent level of a hierarchy (Table 4.2's "1" row)."""
    return next(((r.name, view.train_metrics[r.name]) for r in view.runs if r.name in view.train_metrics
                 and has_hierarchy(view.train_metrics[r.name]) and len(view.train_metrics[r.name]["latent_resolutions"]) == 1), None)


def ablation_items(reg: Registry, view: BenchmarkView, ab: Ablation) -> None:
    """A protocol-scored ablation gets the table its family declares (genvid.data.declared.AblationTable; a
    generic one where it declares none); a hierarchy's ELBO ablation, seed 004 Table 4.2's analogue and,
    when the naive variant has the run's levels, Fig. 4.4's."""
    if ab.reference is not None:
        spec = view.declared.get(ab.model)
        table = spec.ablation_table if spec is not None and spec.ablation_table is not None else tables.GENERIC_ABLATION
        reg.add("table", f"abl_{ab.run}", "benchmarks", str(tables.ablation_caption(table, view.name, ab.run)),
                **tables.protocol_ablation(table, ab.run, ab.reference["protocol"], ab.variants))
        return
    if not ab.hierarchy or ab.run not in view.train_metrics:
        return
    run = view.train_metrics[ab.run]
    reg.add("table", f"abl_{ab.run}", "benchmarks", f"The ablation of {seed('004', 'Table 4.2')}, measured on <code>{view.name}"
            f"</code> (stage ablate: variants of run <code>{ab.run}</code>, trained like it with the params changed): "
            f"the run is both the 1-8-32 row and the β warm-up and dense row, as in the thesis. −ELBO per sequence "
            "(the predicted frames), in the run's files' unit (the default likelihood, squared_error, sums squared "
            "errors without a Gaussian's constant, the scale the thesis's numbers imply; its KL is in nats): test "
            "on the likelihood's test clips with one posterior sample, train the last logged training window; "
            "KL per level on the same test clips; a channel is active when its "
            f"mean KL per position exceeds {ACTIVE_KL}. The published columns are {seed('004', 'Table 4.2')} "
            '<span class="published">published</span>: BAIR Push at 64 × 64 with the thesis\'s sizes, another '
            "data set, so only the order of the rows compares.",
            **tables.ablation(ab.run, run, ab.variants, one_level_run(view)))
    naive = ab.variants.get("naive")
    if naive is None or list(naive["metrics"]["latent_resolutions"]) != list(run["latent_resolutions"]):
        return
    panels = {f"β warm-up and dense ({ab.run})": run["kl_per_channel"], "naive (neither)": naive["metrics"]["kl_per_channel"]}
    reg.add("figure", f"kl_{ab.run}", "benchmarks", f"The analogue of {seed('004', 'Fig. 4.4')}: the mean KL between posterior "
            "and prior of each latent channel, one row per level, for the run with β warm-up and dense "
            "connectivity and for its naive variant. Normalised as we read the thesis: per position, i.e. averaged "
            "over the channel's r × r positions (and over test clips and predicted frames), so that levels compare; "
            f"the colour scale runs from 0 to {MAX_KL} nats, the thesis's 'maximally activated', and the dot and "
            f"the red line mark an active channel (mean KL above {ACTIVE_KL}).",
            png=F.kl_channels(panels, run["latent_resolutions"], MAX_KL, ACTIVE_KL))


# ----------------------------------------------------------------------------- appendix

def appendix_items(reg: Registry, inp: Inputs, opts: Options) -> None:
    """Appendix A: artefact hashes (dvc.lock, else md5 of the inputs), packages, seeds."""
    lock = repro.lock_artefacts(inp.paths.lock, opts.self_stage)
    if lock is None:
        lock, note = repro.input_hashes(read_files(inp)), "no dvc.lock was found; md5 of the files this report read"
    else:
        note = (f"every output recorded in {inp.paths.lock.name} (except this report's own). Check: the file "
                f"on disk re-hashed (md5 ✓) or, above {repro.FULL_CHECK_BYTES // 2**20} MiB, its size compared "
                "(size ✓); 'differs' marks an entry older than the file (e.g. after a Snakemake run)")
    code = Markup("<code>{}</code>")
    reg.add("table", "lock", "appendix", f"Artefact hashes: {note}.",
            header=["Stage", "Path", "md5", "Size (bytes)", "Check"], align="lllrl",
            rows=[[r["stage"], code.format(r["path"]), Markup('<code class="hash">{}</code>').format(r["md5"]),
                   X.fmt(r["size"]) if isinstance(r["size"], int) else "—", r["check"]] for r in lock])
    reg.add("table", "packages", "appendix", "Versions of the key packages.", header=["Package", "Version"],
            align="ll", rows=[list(r) for r in repro.package_versions()])
    seeds = [[code.format(k), tables.value(v)] for k, v in repro.seeds(inp.params)]
    for run in runs_of(inp):
        if "seed" in run.samples.attrs:
            seeds.append([code.format(f"{run.samples.path.name}: seed"), tables.value(run.samples.attrs["seed"])])
    reg.add("table", "seeds", "appendix", "Every seed in params.yaml, and the sampling seed stored in each samples file.",
            header=["Parameter", "Value"], align="ll", rows=seeds)


def runs_of(inp: Inputs) -> list[RunResult]:
    return [run for view in inp.benchmarks for run in view.runs]


def read_files(inp: Inputs) -> list[Path]:
    """The files this report read (their md5s stand in for dvc.lock when there is none)."""
    m = inp.main
    data = benchmark_paths(m.run.benchmark, inp.paths.root)
    files = [data.frames, data.split, data.stats, figures_path(inp.paths.root), declared_path(inp.paths.root),
             *([m.vq.latents] if m.vq is not None else []), run_paths(m.run.name, m.run.benchmark, inp.paths.root).report_dir / "train_metrics.json"]
    for view in inp.benchmarks:
        for run in view.runs:
            report_dir = run_paths(run.name, run.benchmark, inp.paths.root).report_dir
            files += [run.samples.path, *(report_dir / f for f in ("metrics.json", "scores.json", "protocol.json"))]
        if view.leaderboard is not None:
            files.append(view.leaderboard.path)
    return files
