"""The report's tables as plain data: {"header": [...], "rows": [[cell, ...], ...]}.

Shapes follow seed 000 where it has a table: Table 5.2 (VQ-VAE sizes), 5.3 (final loss),
5.4 (top prior sizes), 6.1 (MSE per split), 6.2/6.3 (prior NLL per split). The evaluation tables
read genvid.evaluation's scores.json (every series x metric x rule), the leaderboard table
genvid.leaderboard's rows. Frames may be grey (1 channel) or RGB.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup

from genvid.data.split import SPLITS
from genvid.data.train_metrics import (ACTIVE_KL, FINETUNE_SCORES, FINETUNE_SPLITS, VQ_FINETUNE, has_bits,
                                       has_hierarchy)
from genvid.metrics.stats import RULES
from genvid.data.declared import AblationColumn, AblationTable
from genvid.report.references import cite_marked
from genvid.report.inputs import METRICS, PREDICTIONS, RunResult, average, stat
from genvid.report.text import DIGITS, NAMES, VERSUS_METRICS, fmt, fmt_sci, fmt_stat, pct, references, versus_reference

# Seed 000's values, for side-by-side columns (Table 5.2, §5.2.1; Table 5.4).
THESIS_VQVAE = {"channels": 128, "res_channels": 64, "res_blocks": 5, "codebook_size": 512, "code_dim": 64,
                "beta": 0.25, "ema_decay": 0.99}
THESIS_PRIOR_TOP = {"channels": 256, "res_blocks": 6, "snail_blocks": 5, "key_channels": 16,
                    "value_channels": 128, "num_codes": 512, "shape": [4, 32, 32], "attention": True}
SPLIT_NAMES = {"train": "Training", "val": "Validation", "test": "Test"}
RULE_LABELS = {"best_seq": "best of N per sequence", "best_step": "best of N per timestep",
               "mean": "mean of N"}
CHANNEL_NAMES = {1: ("Grey",), 3: ("Red", "Green", "Blue")}


def value(v: Any) -> str:
    """A params.yaml value as text (lists as JSON, floats without noise)."""
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v)
    return str(v)


def data_summary(frames, split: dict) -> dict:
    a = frames.attrs
    interval = a.get("interval")
    hours = frames.num_frames * interval / 3600 if isinstance(interval, (int, float)) else None
    rows = [
        ["Source", value(a.get("source", "—"))],
        ["Simulator version", value(a.get("simulator_version", "—"))],
        ["Frames", fmt(frames.num_frames)],
        ["Episodes", fmt(len(np.unique(frames.episode)))],
        ["Resolution", f"{frames.width} × {frames.height} {'RGB' if frames.channels == 3 else 'grey'}, 8 bit"],
        ["Interval between frames", f"{value(interval)} s" if interval is not None else "—"],
        ["Driving time", f"{hours:.2f} h" if hours is not None else "—"],
        ["Recording seed", value(a.get("seed", "—"))],
    ]
    return {"header": ["Property", "Value"], "rows": rows, "align": "ll"}


def split_sizes(split: dict) -> dict:
    rows = []
    for name in SPLITS:
        s = split["splits"][name]
        frac = split.get("fractions", {}).get(name)
        frames = s.get("frames", sum(b - a for a, b in s["ranges"]))
        rows.append([SPLIT_NAMES[name], pct(frac, 0) if isinstance(frac, (int, float)) else "—",
                     fmt(len(s["ranges"])), fmt(frames), fmt(s.get("dropped_frames")), fmt(s.get("stride")),
                     fmt(s.get("clips"))])
    return {"header": ["Split", "Fraction", "Ranges", "Frames", "Dropped frames", "Clip stride", "Clips"],
            "rows": rows}


def normalization(stats: dict) -> dict:
    names = CHANNEL_NAMES.get(len(stats["mean"]), tuple(f"Channel {i + 1}" for i in range(len(stats["mean"]))))
    rows = [[ch, fmt(m, 4), fmt(s, 4), fmt(255 * m, 2), fmt(255 * s, 2)]
            for ch, m, s in zip(names, stats["mean"], stats["std"])]
    return {"header": ["Channel", "Mean", "Std", "Mean × 255", "Std × 255"], "rows": rows}


def hyperparameters(sections: dict[str, dict | None], reference: dict[str, Any] | None = None,
                    reference_name: str = "Xu (2022)") -> dict:
    """Key/value table of one or more params.yaml sections side by side (union of keys)."""
    keys = []
    for section in sections.values():
        for key in section or {}:
            if key not in keys:
                keys.append(key)
    header = ["Parameter", *sections]
    if reference is not None:
        header.append(reference_name)
    rows = []
    for key in keys:
        row = [Markup("<code>{}</code>").format(key)] + [value(s[key]) if s and key in s else "—" for s in sections.values()]
        if reference is not None:
            row.append(value(reference[key]) if key in reference else "—")
        rows.append(row)
    return {"header": header, "rows": rows}


def flatten(section: dict, prefix: str = "") -> dict[str, Any]:
    """A nested params section as one level of dotted keys ({"a": {"b": 1}} -> {"a.b": 1})."""
    out: dict[str, Any] = {}
    for key, v in section.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = v
    return out


def param_columns(section: dict, name: str = "This run") -> dict[str, dict]:
    """The columns of a hyperparameter table for any model's params section: one per component
    where every entry is a component's mapping (train.<model>.<component>), else one column."""
    if section and all(isinstance(v, dict) for v in section.values()):
        return {key: flatten(v) for key, v in section.items()}
    return {name: flatten(section)}


def train_results(m: dict) -> dict | None:
    """What any run's training measured on held-out clips, as train_metrics.json holds it: bits per
    dimension (genvid.data.train_metrics.has_bits) and the test ELBO of a latent hierarchy
    (has_hierarchy); None when it holds neither."""
    rows = []
    if has_bits(m):
        rows.append(["Bits per dimension (importance-weighted upper bound)", fmt(float(m["bits_per_dim"]), 3)])
        if isinstance(m.get("bits_per_dim_elbo"), (int, float)):
            rows.append(["Bits per dimension (ELBO bound)", fmt(float(m["bits_per_dim_elbo"]), 3)])
    if has_hierarchy(m) and isinstance(m.get("test_elbo"), dict):
        e, res = m["test_elbo"], m.get("latent_resolutions") or []
        rows.append([f"Test negative ELBO ({e['unit']})", f"{float(e['neg_elbo']):,.1f}"])
        rows.append(["… reconstruction", f"{float(e['recon']):,.1f}"])
        rows.append(["… KL", f"{float(e['kl']):,.1f}"])
        if isinstance(m.get("train_neg_elbo"), (int, float)):
            rows.append(["Training negative ELBO (last logged window)", f"{float(m['train_neg_elbo']):,.1f}"])
        active = m.get("active_channels") or []
        if res and len(active) == len(res):
            rows.append([f"Active channels (mean KL above {ACTIVE_KL})",
                         "; ".join(f"{r}×{r}: {a}/{len(c)}" for r, a, c in zip(res, active, m["kl_per_channel"]))])
    return {"header": ["Measure", "Value"], "rows": rows} if rows else None


def code_sizes(shapes: dict[str, list[int]], codebook_size: int, clip_shape: tuple[int, int, int],
               bits_reduction: float, channels: int = 3) -> dict:
    bits_per_code = math.log2(codebook_size)
    t, h, w = clip_shape
    raw = channels * t * h * w * 8
    rows = []
    total = 0.0
    for level in ("top", "bottom"):
        n = math.prod(shapes[level])
        total += n * bits_per_code
        rows.append([f"{level.capitalize()} codes", " × ".join(map(str, shapes[level])), fmt(n),
                     fmt(n * bits_per_code, 0)])
    rows.append(["Both levels", "", "", fmt(total, 0)])
    rows.append([f"Raw clip ({channels} × {t} × {h} × {w} × 8 bit)", "", "", fmt(raw)])
    rows.append(["Reduction in bits", "", "", pct(bits_reduction, 2)])
    return {"header": ["", "Grid (T × H × W)", "Codes", "Bits"], "rows": rows}


def parameter_counts(counts: list[tuple[str, int | None]]) -> dict:
    return {"header": ["Model", "Parameters"], "rows": [[name, fmt(n)] for name, n in counts]}


def final_loss(curves: dict) -> dict:
    """Seed 000 Table 5.3: the last logged loss on the training and validation sets."""
    rows = []
    for key, label in (("loss", "Loss (eq. 5.3)"), ("mse", "MSE"), ("commitment", "Commitment")):
        if key in curves["train"] and key in curves["val"]:
            rows.append([label, fmt_sci(float(curves["train"][key][-1]), 4),
                         fmt_sci(float(curves["val"][key][-1]), 4)])
    return {"header": ["Set", "Training", "Validation"], "rows": rows}


def decoder_finetune(m: dict) -> dict | None:
    """The decoder fine-tuned on the priors' codes (train_metrics ``decoder``): each score before and
    after, per split, on the same draws; None when the run did not fine-tune."""
    d = m.get(VQ_FINETUNE)
    if not isinstance(d, dict):
        return None
    labels = {"mse_prior_codes": "MSE, the priors' codes", "mse_true_codes": "MSE, the true codes",
              "changed_top": "Top codes drawn ≠ true", "changed_bottom": "Bottom codes drawn ≠ true"}
    rows = []
    for key in FINETUNE_SCORES:
        cells = []
        for split in FINETUNE_SPLITS:
            for when in ("before", "after"):
                v = d.get(split, {}).get(when, {}).get(key)
                cells.append("—" if not isinstance(v, (int, float)) else pct(v) if key.startswith("changed")
                             else fmt_sci(v, 4))
        rows.append([labels[key], *cells])
    header = [""] + [f"{SPLIT_NAMES[s]}, {when}" for s in FINETUNE_SPLITS for when in ("before", "after")]
    return {"header": header, "rows": rows}


def vqvae_quality(m: dict, codebook_size: int) -> dict:
    """Seed 000 Table 6.1 (MSE per split), with PSNR/SSIM and codebook use added."""
    spec = (("mse_normalized", "MSE (normalised)", lambda v: fmt_sci(v, 4)), ("psnr", "PSNR (dB)", lambda v: fmt(v, 2)),
            ("ssim", "SSIM", lambda v: fmt(v, 3)),
            ("top_codes_used", f"Top codes used (of {codebook_size})", lambda v: fmt(int(v))),
            ("bottom_codes_used", f"Bottom codes used (of {codebook_size})", lambda v: fmt(int(v))),
            ("top_perplexity", "Top code perplexity", lambda v: fmt(v, 1)),
            ("bottom_perplexity", "Bottom code perplexity", lambda v: fmt(v, 1)),
            ("clips", "Clips", lambda v: fmt(int(v))))
    rows = []
    for key, label, f in spec:
        cells = [m[s].get(key) for s in SPLITS]
        if any(isinstance(c, (int, float)) for c in cells):
            rows.append([label] + [f(c) if isinstance(c, (int, float)) else "—" for c in cells])
    return {"header": ["", *(SPLIT_NAMES[s] for s in SPLITS)], "rows": rows}


def prior_nll(m: dict) -> dict:
    """Seed 000 Tables 6.2/6.3: mean NLL per split, plus bits per code and accuracy."""
    rows = [["Mean NLL (nats/code)"] + [fmt(m[s]["nll_nats"], 3) for s in SPLITS],
            ["Bits per code"] + [fmt(m[s]["bits_per_code"], 3) for s in SPLITS]]
    if all(isinstance(m[s].get("accuracy"), (int, float)) for s in SPLITS):
        rows.append(["Accuracy"] + [pct(m[s]["accuracy"]) for s in SPLITS])
    return {"header": ["", *(SPLIT_NAMES[s] for s in SPLITS)], "rows": rows}


def metric_header(metrics: tuple[str, ...] = METRICS) -> list[str]:
    return [NAMES[m] + (" (dB)" if m == "psnr" else "") + (" ↑" if m in ("psnr", "ssim") else " ↓") for m in metrics]


def evaluation(main: RunResult, baseline: RunResult | None) -> dict:
    """Time-averaged scores of every series of the main run under every rule, with 95 % intervals;
    then the copy-last baseline (its N samples are identical copies, so one rule suffices)."""
    rows = []
    for name in [PREDICTIONS, *(k for k in main.scores["series"] if k != PREDICTIONS)]:
        label = series_label(main, name)
        deterministic = name != PREDICTIONS and main.samples.extras[name].samples == 1
        for rule in ("mean",) if deterministic else RULES:
            cells = [fmt_stat(average(main.scores, name, m, rule), DIGITS[m]) for m in METRICS]
            if any(c != "—" for c in cells):
                rows.append([label if deterministic else f"{label}, {RULE_LABELS[rule]}", *cells])
    if baseline is not None:
        rows.append([Markup("Copy the last context frame (run <code>{}</code>)").format(baseline.name),
                     *(fmt_stat(average(baseline.scores, PREDICTIONS, m, "best_seq"), DIGITS[m]) for m in METRICS)])
    return {"header": ["", *metric_header()], "rows": rows}


def series_label(run: RunResult, name: str) -> str:
    """'Predictions' or an extra series' own label (the samples file's ``label`` attribute)."""
    if name == PREDICTIONS:
        return "Predictions (context frames only)"
    extra = run.samples.extras.get(name)
    return extra.label if extra is not None else name


def fvd_cell(node: Any) -> Markup:
    """FVD over k repeats: 'mean [lo, hi] ± sd sd': its 95 % interval over the test clips where it has one,
    and the sd across repeats (not an interval) where there are several."""
    if not isinstance(node, dict) or not isinstance(node.get("mean"), (int, float)):
        return Markup("—")
    sd = node.get("sd")
    text = fmt_stat(stat(node), 2)
    return Markup(f'{text} <span class="ci">± {fmt(float(sd), 2)} sd</span>') if isinstance(sd, (int, float)) else text


def fvd(main: RunResult, baseline: RunResult | None) -> dict | None:
    """FVD of every scored video set against the real clips (context included in both sets), and
    FVD* (predictions against a series that sees the future); None when FVD was skipped."""
    values = main.scores["fvd"]
    rows = []
    for name, node in values.items():
        if name == "skipped" or not isinstance(node, dict):
            continue
        if "_vs_" in name:
            pred, _, ref = name.partition("_vs_")
            label = Markup("FVD*: {} against {}").format(series_label(main, pred).lower(),
                                                          series_label(main, ref).lower())
        else:
            label = series_label(main, name)
        rows.append([label, fvd_cell(node)])
    if baseline is not None and isinstance(baseline.scores["fvd"].get(PREDICTIONS), dict):
        rows.append([Markup("Copy the last context frame (run <code>{}</code>)").format(baseline.name),
                     fvd_cell(baseline.scores["fvd"][PREDICTIONS])])
    return {"header": ["Videos", "FVD ↓ (mean [95 % interval over the clips] ± sd over repeats)"],
            "rows": rows} if rows else None


def _text(v: Any) -> str:
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_text(x)}" for k, x in v.items())
    if isinstance(v, list):
        return " × ".join(map(_text, v)) if all(isinstance(x, int) for x in v) else ", ".join(map(_text, v))
    return value(v)


def protocol(values: dict) -> dict | None:
    """The evaluate stage's protocol record, one setting per row (nested settings flattened)."""
    if not isinstance(values, dict):
        return None
    rows = [[Markup("<code>{}</code>").format(k), _text(v)] for k, v in values.items()]
    return {"header": ["Setting", "Value"], "rows": rows, "align": "ll"} if rows else None


# The deviations table: the thesis's values come from profiles/thesis.yaml (seed 000's setup, the
# author's code where the text is silent); these are the settings it compares and why each matters.
VARIANT_KEYS = (  # (models.<model>.vqvae key, what it is, where the thesis stands)
    ("temporal_padding", "VQ-VAE encoder: temporal padding",
     "§4.2.1: k4/s2/p1 in time, so a code also sees later frames; causal: past frames only"),
    ("res_kernel", "VQ-VAE residual conv kernel (t, h, w)", "§4.2.1 gives no size; the author's code is spatial"),
    ("condition_bottom_on_top", "Bottom codes read the quantised top codes",
     "VQ-VAE-2; the author's code quantises both levels independently"),
    ("dead_code_restart", "Re-seed unused codes from encoder outputs", "not in the thesis"),
    ("bottom_dropout", "Dropout of the bottom code vectors while training the VQ-VAE",
     "§6.4 proposes it as future work"),
)
OPTIM_NOTES = {"vqvae": "§5.2.3", "prior_top": "§5.3.1; lr and weight decay from the author's code",
               "prior_bottom": "§5.3.2; lr and weight decay from the author's code"}
OPTIM_KEYS = ("lr", "batch_size", "schedule", "warmup_steps", "min_lr_ratio", "decay_steps", "grad_clip",
              "weight_decay")


def _plain_value(v: Any) -> Any:
    return list(v) if isinstance(v, (list, tuple)) else v


def _optim(train: dict | None) -> str:
    if not isinstance(train, dict) or not train:
        return "—"
    parts = [f"lr {value(train.get('lr'))}", f"batch {value(train.get('batch_size'))}"]
    schedule = train.get("schedule", "constant")
    if schedule == "cosine":
        parts.append(f"cosine to {value(train.get('min_lr_ratio'))} × lr")
    elif schedule == "linear_decay":
        parts.append(f"linear decay to {value(train.get('min_lr_ratio'))} × lr over the last "
                     f"{value(train.get('decay_steps'))} steps")
    else:
        parts.append(f"{schedule} lr")
    warmup = train.get("warmup_steps") or 0
    parts.append(f"warm-up {warmup} steps" if warmup else "no warm-up")
    if train.get("weight_decay"):
        parts.append(f"weight decay {value(train['weight_decay'])}")
    if train.get("grad_clip") is not None:
        parts.append(f"gradient clipping {value(train['grad_clip'])}")
    return ", ".join(parts)


def _optim_differs(ours: dict | None, thesis: dict | None) -> str:
    if not thesis:
        return "not stated"
    ours = ours or {}
    decays = ("cosine", "linear_decay")  # min_lr_ratio means nothing to a constant schedule
    keys = [k for k in OPTIM_KEYS if k in thesis and not (k == "min_lr_ratio" and thesis.get("schedule") not in decays
                                                           and ours.get("schedule") not in decays)]
    return "yes" if any(_plain_value(ours.get(k)) != _plain_value(thesis[k]) for k in keys) else "no"


def deviations(model: str, model_params: dict, train_params: dict, thesis: dict, device: dict | None = None) -> dict:
    """What a VQ-family run changes against seed 000 (``thesis``: profiles/thesis.yaml): the VQ-VAE
    variants, the optimisation of each component, the arithmetic (params ``device``) and the priors'
    causal convolutions (a fixed genvid variant, no param)."""
    code = Markup("<code>{}</code>")
    vq, thesis_vq = model_params.get("vqvae") or {}, (((thesis.get("models") or {}).get(model) or {}).get("vqvae") or {})
    thesis_train = (thesis.get("train") or {}).get(model) or {}
    rows = []
    for key, label, note in VARIANT_KEYS:
        ours, theirs = vq.get(key), thesis_vq.get(key)
        differs = "not stated" if theirs is None else ("yes" if _plain_value(ours) != _plain_value(theirs) else "no")
        rows.append([Markup("{} ({})").format(label, code.format(f"models.{model}.vqvae.{key}")),
                     value(ours) if ours is not None else "—", value(theirs) if theirs is not None else "—",
                     differs, note])
    for component, note in OPTIM_NOTES.items():
        ours, theirs = train_params.get(component), thesis_train.get(component)
        rows.append([Markup("Optimisation of the {} ({})").format(component.replace("_", " "),
                                                                  code.format(f"train.{model}.{component}")),
                     _optim(ours), _optim(theirs), _optim_differs(ours, theirs), note])
    finetune = model_params.get("finetune") or {}
    rows.append([Markup("End-to-end training ({})").format(code.format(f"models.{model}.finetune.enabled")),
                 "the decoder fine-tuned on the priors' teacher-forced codes" if finetune.get("enabled") else "off",
                 "proposed as further work (§6.5), not done", "yes" if finetune.get("enabled") else "no",
                 "genvid's reading of §6.5, which does not say how (genvid.models.vq.finetune): the encoder, "
                 "codebooks and priors stay as trained"])
    device = device or {}
    precision, channels_last = device.get("precision", "fp32"), bool(device.get("channels_last", False))
    compiled = bool(device.get("compile", False))
    rows.append([Markup("Arithmetic ({}, {}, {})").format(code.format("device.precision"), code.format("device.channels_last"),
                                                          code.format("device.compile")),
                 f"{precision}, {'channels-last' if channels_last else 'contiguous'} weights on {device.get('device', 'cpu')}"
                 + (", the priors' SNAIL blocks compiled (Inductor)" if compiled else ""),
                 "not stated (fp32, contiguous: PyTorch Lightning's defaults)",
                 "not stated" if precision == "fp32" and not channels_last and not compiled else "yes",
                 "genvid.device: bf16 autocast with channels-last-3d weights ran the VQ-VAE's deterministic 3D "
                 "convolutions 32x faster than fp32 on an H100, the same bytes over two runs (issue 25); compiled "
                 "blocks fuse the priors' elementwise ops, round otherwise and draw dropout's masks from "
                 "Inductor's generator"])
    rows.append(["Causal convolutions of both priors", "three stacks (frame, rows, row) without a blind spot",
                 "one masked 3D convolution stack (blind spot above-right and in earlier frames)", "yes",
                 "genvid variant (genvid.models.vq.pixelsnail3d); the bottom prior has no attention, so its "
                 "receptive field is these convolutions alone"])
    return {"header": ["Setting", "This run", "Xu (2022)", "Differs", "Note"], "rows": rows, "align": "lllll"}


# ----------------------------------------------------------------------------- leaderboards

LEADERBOARD_METRICS = ("psnr", "ssim", "lpips")


def leaderboard_measured(rows: list[dict]) -> dict:
    """One block per run (genvid.leaderboard rows.json, measured): the time-averaged scores of its
    predictions under each rule with 95 % intervals, FVD mean ± sd over repeats, the diversity of
    its samples (pairwise LPIPS, genvid.evaluation.diversity), parameters, and whether it honoured
    the benchmark's protocol."""
    out = []
    code = Markup("<code>{}</code>")
    motion = any(row["metrics"].get("motion") for row in rows)  # a labelled benchmark (issue 22 item 4)
    ranks = any(row.get("fvd_rank") is not None for row in rows)  # FVD intervals (rows.json since issue 48)
    for row in rows:
        m = row["metrics"]
        fvd_text = fvd_cell(m.get("fvd")) if m.get("fvd") else Markup(
            "skipped" if row.get("fvd_skipped") else "—")
        diversity_text = fmt_stat(stat(m.get("diversity")), DIGITS["lpips"]) if m.get("diversity") else "—"
        protocol_text = "yes" if row["protocol_ok"] else Markup("<b>no</b>: {}").format(row.get("protocol_deviation"))
        motion_text = [fmt_stat(stat(m["motion"][r]), 2) if m.get("motion") else "—" for r in MOTION_RULES]
        for i, rule in enumerate(RULES):
            cells = [fmt_stat(stat(m[metric].get(rule)), DIGITS[metric]) for metric in LEADERBOARD_METRICS]
            first = i == 0
            name = code.format(row["run"]) + (Markup(" (baseline)") if row.get("baseline") else
                                              Markup(" (reference: learns nothing)") if row.get("learned") is False else "")
            rank = [(fmt(row["fvd_rank"]) if row.get("fvd_rank") is not None else "—") if first else ""] if ranks else []
            out.append([name if first else "", *rank, RULE_LABELS[rule], *cells,
                        fvd_text if first else "", diversity_text if first else "",
                        *([t if first else "" for t in motion_text] if motion else []),
                        fmt(row.get("parameters")) if first else "", protocol_text if first else ""])
    header = ["Run", *(["FVD rank"] if ranks else []), "Rule", *metric_header(LEADERBOARD_METRICS), "FVD ↓", "Diversity",
              *(["Motion acc. ↑ mean of N", "Motion acc. ↑ best of N"] if motion else []), "Parameters", "Protocol"]
    return {"header": header, "rows": out, "align": "l" + ("r" if ranks else "") + "lrrrrrr" + ("rr" if motion else "") + "l"}


def trained_steps(curves: Path, train_params: dict) -> str:
    """What a run trained, read from its curves (the components it trained and the last logged step of
    each) and its train params (batch size): "600 × 8", or "vqvae 250 × 4, prior_top 100 × 16" for
    several components; "" for a run that trains nothing."""
    parts = []
    folders = sorted(d for d in curves.iterdir() if (d / "train.tsv").exists()) if curves.is_dir() else []
    for folder in folders:
        lines = [ln.split("\t") for ln in (folder / "train.tsv").read_text().splitlines() if ln.strip()]
        if len(lines) < 2:
            continue
        step = int(float(lines[-1][lines[0].index("step")]))
        own = train_params.get(folder.name) if isinstance(train_params.get(folder.name), dict) else train_params
        batch = own.get("batch_size")
        parts.append(("" if len(folders) == 1 else f"{folder.name} ") + f"{step} × {batch}")
    return ", ".join(parts)


def versus_table(rows: list[dict], trained: dict[str, str] | None = None) -> dict | None:
    """The table each benchmark's section opens with: every learned run against the baseline, then against
    every other reference that learns nothing, metric by metric (versus_reference), and its training
    (``trained``: run -> steps × batch); None without a baseline row or a learned run."""
    refs = references(rows)
    found = [(entry, ref) for ref in refs for entry in versus_reference(rows, ref)]
    if not found:
        return None
    trained = trained or {}
    runs = list(dict.fromkeys(entry["run"] for entry, _ in found))
    found.sort(key=lambda pair: runs.index(pair[0]["run"]))  # each run's rows together, the baseline's first
    out = []
    for entry, ref in found:
        cells = []
        for metric in VERSUS_METRICS:
            c = entry["metrics"].get(metric)
            if c is None:
                cells.append("—")
                continue
            digits = DIGITS.get(metric, 0)
            text = f"{c['delta']:+.{digits}f}"
            verdict = ("better" if c["better"] else "worse") + (
                "" if c["apart"] is None else (", intervals apart" if c["apart"] else ", within the intervals"))
            cells.append(Markup("{} ({})").format(text, verdict))
        first = ref is refs[0]
        out.append([Markup("<code>{}</code>").format(entry["run"]) if first else "",
                    trained.get(entry["run"], "") if first else "",
                    Markup("<code>{}</code>{}").format(ref["run"], " (baseline)" if first else ""), *cells])
    return {"header": ["Run", "Steps × batch", "Against", *(f"{NAMES.get(m, m.upper())} − it" for m in VERSUS_METRICS)],
            "rows": out, "align": "lllrrrr"}


MOTION_RULES = ("mean_of_n", "best_of_n")  # genvid.leaderboard rows' motion accuracy (the real futures': a caption)
LONG_HORIZON = "long_horizon"  # genvid.leaderboard rows' long-horizon scores


def long_horizon(rows: list[dict]) -> dict | None:
    """Issue 23 item 2: per measured run with long-horizon scores (rows.json), LPIPS and SSIM averaged over
    the long horizon (best of N per sequence and mean of N, with 95 % intervals), FVD, diversity, and the
    first predicted frame at which its mean-of-N LPIPS exceeds the baseline run's; None where no run has them."""
    out = []
    for row in rows:
        long = row["metrics"].get(LONG_HORIZON)
        if not long:
            continue
        worse = long.get("lpips_worse_than_baseline_from")
        worse_text = "—" if long.get("baseline") is None or row.get("baseline") else (
            "never" if worse is None else str(worse))
        cells = [fmt_stat(stat(long[m][r]), DIGITS[m]) for m in ("lpips", "ssim") for r in ("best_seq", "mean")]
        fvd_text = fvd_cell(long["fvd"]) if long.get("fvd") else Markup("skipped" if long.get("fvd_skipped") else "—")
        diversity = fmt_stat(stat(long.get("diversity")), DIGITS["lpips"]) if long.get("diversity") else "—"
        name = Markup("<code>{}</code>").format(row["run"]) + (Markup(" (baseline)") if row.get("baseline") else "")
        out.append([name, *cells, fvd_text, diversity, worse_text])
    if not out:
        return None
    return {"header": ["Run", "LPIPS ↓ best of N per sequence", "LPIPS ↓ mean of N",
                       "SSIM ↑ best of N per sequence", "SSIM ↑ mean of N", "FVD ↓", "Diversity",
                       "Mean LPIPS above the baseline's from frame"],
            "rows": out, "align": "lrrrrrrr"}


def controllability(rows: list[dict]) -> dict | None:
    """Issue 24: per measured run with counterfactual scores (genvid.controllability via rows.json),
    whether it reads the actions, the fidelity of its futures to the simulator's counterfactual ones
    (LPIPS, SSIM), its action sensitivity and its direction accuracy, with 95 % intervals; None where
    no run has them (a benchmark without a simulator to replay)."""
    out = []
    for row in rows:
        c = row["metrics"].get("controllability")
        if not c:
            continue
        cells = [fmt_stat(stat(c.get(key)), digits) if c.get(key) else "—"
                 for key, digits in (("cf_lpips", DIGITS["lpips"]), ("cf_ssim", DIGITS["ssim"]),
                                     ("sensitivity", 3), ("sensitivity_first", 3))]
        diversity = fmt_stat(stat(row["metrics"]["diversity"]), 4) if row["metrics"].get("diversity") else "—"
        cells += [diversity, *(fmt_stat(stat(c.get(key)), 2) if c.get(key) else "—" for key in ("direction", "shift_gap"))]
        name = Markup("<code>{}</code>").format(row["run"]) + (Markup(" (baseline)") if row.get("baseline") else "")
        out.append([name, "yes" if c["conditioned"] else "no", *cells])
    if not out:
        return None
    # issue 46: first-frame sensitivity beside the diversity: past its first differing code an autoregressive
    # sampler's futures under two actions part like two samples, so the whole-horizon sensitivity mixes the two
    return {"header": ["Run", "Reads actions", "LPIPS ↓", "SSIM ↑", "Sensitivity", "Sensitivity, frame 1",
                       "Diversity", "Direction ↑", "Shift gap (px) ↑"], "rows": out, "align": "llrrrrrrr"}


def _published_value(v: dict | None, digits: int) -> str:
    if not isinstance(v, dict) or not isinstance(v.get("value"), (int, float)):
        return "—"
    text = ("≤ " if v.get("bound", "=") != "=" else "") + fmt(float(v["value"]), digits)
    return text + (f" ± {fmt(float(v['pm']), digits)}" if isinstance(v.get("pm"), (int, float)) else "")


def published_tags(rows: list[dict]) -> list[str]:
    """Short names of the published rows ("P1", "P2", ...), shared by the two published tables."""
    return [f"P{i + 1}" for i in range(len(rows))]


def leaderboard_published(rows: list[dict]) -> dict:
    """The seeds' published rows, apart from the measured ones and marked as such, each with its
    source and the protocol items where it differs from genvid (spelled out in
    ``published_differences``)."""
    digits = {**DIGITS, "fvd": 2, "bits_per_dim": 3}
    columns = [m for m in (*LEADERBOARD_METRICS, "fvd", "bits_per_dim") if any(m in r["metrics"] for r in rows)]
    names = {**{m: h for m, h in zip(LEADERBOARD_METRICS, metric_header(LEADERBOARD_METRICS))},
             "fvd": "FVD ↓", "bits_per_dim": "Bits/dim ↓"}
    out = []
    for tag, row in zip(published_tags(rows), rows):
        items = list(dict.fromkeys(d["item"] for d in row["differences"]))
        out.append([Markup('{} {} <span class="published">published</span>').format(tag, row["model"]),
                    *(_published_value(row["metrics"].get(m), digits[m]) for m in columns),
                    row["source"]["cite"], "; ".join(items) or "none stated"])
    return {"header": ["Model", *(names[m] for m in columns), "Source", "Protocol differs in"],
            "rows": out, "align": "l" + "r" * len(columns) + "ll"}


def _measured_value(row: dict, metric: str) -> float | None:
    """A measured row's number for a published metric: PSNR/SSIM/LPIPS best of N per sequence (the published
    rows' rule), FVD its mean, bits per dimension as trained."""
    node = row["metrics"].get(metric)
    found = stat(node if metric in ("fvd", "bits_per_dim") else (node or {}).get("best_seq"))
    return None if found is None or not math.isfinite(found.mean) else found.mean


def published_gaps(measured: list[dict], published: list[dict]) -> dict | None:
    """Issue 48: how far each measured run is from the published rows of the model it re-implements (the
    published row's ``family``): per metric both have, genvid's number, the published one and the
    difference. The published rows were measured at full scale under their own protocols (their
    differences are listed beside them), so this is a distance, never a ranking. None where no run
    re-implements a published model."""
    digits = {**DIGITS, "fvd": 2, "bits_per_dim": 3}
    names = {"psnr": "PSNR ↑", "ssim": "SSIM ↑", "lpips": "LPIPS ↓", "fvd": "FVD ↓", "bits_per_dim": "Bits/dim ↓"}
    out = []
    for tag, pub in zip(published_tags(published), published):
        for row in (r for r in measured if pub.get("family") is not None and r.get("model") == pub["family"]):
            for metric, value in pub["metrics"].items():
                mine = _measured_value(row, metric)
                if mine is None or not isinstance(value.get("value"), (int, float)):
                    continue
                theirs = float(value["value"])
                lower = metric in ("lpips", "fvd", "bits_per_dim")
                word = "better" if (mine < theirs if lower else mine > theirs) else "worse"
                out.append([Markup("<code>{}</code>").format(row["run"]),
                            Markup('{} {} <span class="published">published</span>').format(tag, pub["model"]),
                            names.get(metric, metric), fmt(mine, digits.get(metric, 3)),
                            _published_value(value, digits.get(metric, 3)),
                            f"{mine - theirs:+.{digits.get(metric, 3)}f} ({word})"])
    if not out:
        return None
    return {"header": ["Run", "Published row", "Metric", "genvid", "Published", "genvid − published"],
            "rows": out, "align": "lllrrr"}


def published_differences(rows: list[dict]) -> dict:
    """Each protocol difference of the published rows once: the item, what the source did, what
    genvid does, and the published rows (P1, ...) it applies to."""
    seen: dict[tuple[str, str, str], list[str]] = {}
    for tag, row in zip(published_tags(rows), rows):
        for d in row["differences"]:
            seen.setdefault((str(d["item"]), str(d["published"]), str(d["genvid"])), []).append(tag)
    out = [[item, published, genvid, ", ".join(tags)] for (item, published, genvid), tags in seen.items()]
    return {"header": ["Item", "Published", "genvid", "Rows"], "rows": out, "align": "llll"}


# ----------------------------------------------------------------------------- seed 004 Table 4.2

# Seed 004 Table 4.2 (BAIR Push, 64 × 64; parameters, train / test negative ELBO), published.
THESIS_TABLE_4_2 = {"1": ("166.55M", 1141.85, 1536.93), "1-8": ("220.60M", 989.39, 1313.02),
                    "1-8-32": ("230.74M", 883.10, 1162.24), "1-8-16-32": ("245.19M", 956.63, 1256.22),
                    "Naive Training": ("224.18M", 1127.33, 1440.58), "BW": ("224.18M", 1101.39, 1440.62),
                    "Dense": ("230.74M", 1182.60, 1547.05), "BW and Dense": ("230.74M", 883.10, 1162.24)}
# (row label, where the measured numbers come from, the published row): "one_level" is the benchmark's
# one-level hierarchy run, "run" the ablation's own run (1-8-32 with both tricks), others its variants.
ABLATION_ROWS = (("1", "one_level", "1"), ("1-8", "levels_1-8", "1-8"), ("1-8-32", "run", "1-8-32"),
                 ("1-8-16-32", None, "1-8-16-32"), ("Naive", "naive", "Naive Training"),
                 ("β warm-up only", "beta_warmup_only", "BW"), ("Dense only", "dense_only", "Dense"),
                 ("β warm-up and dense (= 1-8-32)", "run", "BW and Dense"))


def _levels_cell(metrics: dict, values: list[str]) -> str:
    return "; ".join(f"{r}×{r}: {v}" for r, v in zip(metrics["latent_resolutions"], values))


def ablation(run: str, run_metrics: dict, variants: dict[str, dict], one_level: tuple[str, dict] | None) -> dict:
    """Seed 004 Table 4.2's analogue: each row's measured parameters, train/test negative ELBO (nats
    per sequence), test KL per level and active channels per level, beside the published row. A row
    that was not run here shows "not run"; a variant of no published row is added at the end."""
    sources: dict[str, tuple[str, dict]] = {"run": (run, run_metrics)}
    sources.update({name: (f"{run}~{name}", v["metrics"]) for name, v in variants.items()})
    if one_level is not None:
        sources["one_level"] = one_level
    rows, code = [], Markup("<code>{}</code>")
    known = {key for _, key, _ in ABLATION_ROWS}
    extra = [(name, name, None) for name in variants if name not in known]
    for label, key, published in (*ABLATION_ROWS, *extra):
        pub = THESIS_TABLE_4_2.get(published) if published else None
        pub_cells = [pub[0], f"{fmt(pub[1], 2)} / {fmt(pub[2], 2)}"] if pub else ["—", "—"]
        if key in sources:
            name, m = sources[key]
            e = m["test_elbo"]
            train = m.get("train_neg_elbo")
            kl = _levels_cell(m, [f"{float(e['kl_levels'][f'{r}x{r}']):,.1f}" for r in m["latent_resolutions"]])
            active = _levels_cell(m, [f"{a}/{len(c)}" for a, c in zip(m["active_channels"], m["kl_per_channel"])])
            cells = [code.format(name), fmt(m.get("parameters")) if isinstance(m.get("parameters"), int) else "—",
                     f"{f'{float(train):,.1f}' if isinstance(train, (int, float)) else '—'} / {float(e['neg_elbo']):,.1f}",
                     kl, active]
        else:
            cells = ["not run", "—", "—", "—", "—"]
        rows.append([label, *cells, *pub_cells])
    return {"header": ["Row", "Run or variant", "Parameters", "Train / test −ELBO", "Test KL per level",
                       "Active channels", Markup('Parameters <span class="published">published</span>'),
                       Markup('Train / test −ELBO <span class="published">published</span>')],
            "rows": rows, "align": "llrrllrr"}


# a protocol-scored ablation of a family that declares no table of its own: the protocol's scores, no findings
GENERIC_ABLATION = AblationTable(
    caption="Protocol-scored ablations measured on <code>{benchmark}</code> (stage ablate: variants of run "
    "<code>{run}</code>, trained like it with the params changed, one training seed each): LPIPS and SSIM best of "
    "N per sequence, FVD of one seeded sample per clip against the benchmark's reference.",
    run_row="the run", source="",
    columns=(AblationColumn("LPIPS (best of N)", "lpips"), AblationColumn("SSIM (best of N)", "ssim"),
             AblationColumn("FVD (one sample)", "fvd", 1)))


def _ablation_cell(column: AblationColumn, value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " / ".join(_ablation_cell(column, v) for v in value) or "—"
    if column.digits is None:
        return fmt_sci(value)
    return fmt(value, column.digits)


def ablation_caption(table: AblationTable, benchmark: str, run: str) -> Markup:
    """The declared caption with its placeholders filled and its "{003:§6.3.3}" citations rendered."""
    alike = next((f.alike for f in table.findings if f.alike is not None), None)
    text = table.caption.replace("{benchmark}", benchmark).replace("{run}", run)
    return cite_marked(text.replace("{alike}", f"{round(alike * 100)}" if alike is not None else ""))


def protocol_ablation(table: AblationTable, run: str, reference: dict, variants: dict[str, dict]) -> dict:
    """A family's protocol-scored ablations as it declares them (genvid.models.family.AblationTable): the run,
    then each variant, with the declared columns of their protocol scores; a variant that tests one of the
    source's findings gets the finding, its published numbers (if any, marked) and whether it holds here:
    the run's value lower than the variant's, or within ``alike`` of it."""
    code = Markup("<code>{}</code>")
    findings = {f.variant: f for f in table.findings}
    published = any(f.published for f in table.findings)
    columns = {c.key: c for c in table.columns}

    def cells(p: dict) -> list[str]:
        return [_ablation_cell(c, p.get(c.key)) for c in table.columns]

    tail = 3 if published else 2
    rows = [[code.format(run), table.run_row, *cells(reference), *[""] * tail]]
    for name, v in variants.items():
        p = v["protocol"]
        over = (v.get("overrides") or {}).get("models") or {}
        changed = ", ".join(f"{k} = {json.dumps(val)}" for k, val in over.items())
        f = findings.get(name)
        claim, shown, verdict = "", "", ""
        if f is not None:
            claim = f.claim
            shown = Markup('<span class="published">{}</span>').format(f.published) if f.published else ""
            mine, theirs = reference.get(f.measure), p.get(f.measure)
            column = columns.get(f.measure, AblationColumn(f.measure, f.measure, 1))
            if mine is None or theirs is None:
                verdict = "not measurable here"
            else:
                holds = abs(theirs - mine) <= f.alike * mine if f.alike is not None else mine < theirs
                verdict = ("holds" if holds else "does not hold") + \
                    f" ({f.measure}: {_ablation_cell(column, mine)} vs {_ablation_cell(column, theirs)})"
        rows.append([code.format(f"{run}~{name}"), changed or "—", *cells(p), claim, *([shown] if published else []),
                     verdict])
    finding = Markup('Finding <span class="published">seed {}</span>').format(table.source) if table.source else "Finding"
    return {"header": ["Model", "Changed", *[c.header for c in table.columns], finding,
                       *([Markup('Thesis <span class="published">published</span>')] if published else []), "Here"],
            "rows": rows, "align": "ll" + "r" * len(table.columns) + "l" * tail}
