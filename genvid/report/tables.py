"""The report's tables as plain data: {"header": [...], "rows": [[cell, ...], ...]}.

Shapes follow seed 000 where it has a table: Table 5.2 (VQ-VAE sizes), 5.3 (final loss),
5.4 (top prior sizes), 6.1 (MSE per split), 6.2/6.3 (prior NLL per split).
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from markupsafe import Markup

from genvid.data.split import SPLITS
from genvid.report.inputs import METRICS, Stat, stat
from genvid.report.text import DIGITS, NAMES, fmt, fmt_sci, fmt_stat, pct

# Seed 000's values, for side-by-side columns (Table 5.2, §5.2.1; Table 5.4).
THESIS_VQVAE = {"channels": 128, "res_channels": 64, "res_blocks": 5, "codebook_size": 512, "code_dim": 64,
                "beta": 0.25, "ema_decay": 0.99}
THESIS_PRIOR_TOP = {"channels": 256, "res_blocks": 6, "snail_blocks": 5, "key_channels": 16,
                    "value_channels": 128, "num_codes": 512, "shape": [4, 32, 32], "attention": True}
SPLIT_NAMES = {"train": "Training", "val": "Validation", "test": "Test"}
EVAL_ROWS = (  # (metrics.json variant, summary key or None, label)
    ("full", "best_of_n", "Full model, best of N"),
    ("full", "mean_of_n", "Full model, mean of N"),
    ("top_only", "best_of_n", "Generated top + true bottom, best of N"),
    ("top_only", "mean_of_n", "Generated top + true bottom, mean of N"),
    ("bottom_only", "best_of_n", "True top + generated bottom, best of N"),
    ("bottom_only", "mean_of_n", "True top + generated bottom, mean of N"),
    ("recon", None, "VQ-VAE reconstruction (true codes)"),
    ("copy_last", None, "Copy the last context frame"),
)
FVD_LABELS = {"full": "Full model", "top_only": "Generated top + true bottom",
              "bottom_only": "True top + generated bottom", "recon": "VQ-VAE reconstruction",
              "copy_last": "Copy the last context frame",
              "full_vs_recon": "FVD*: full model against the reconstructions",
              "fvd_star": "FVD*: full model against the reconstructions"}


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
        ["Resolution", f"{frames.width} × {frames.height} RGB, 8 bit"],
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
    rows = [[ch, fmt(m, 4), fmt(s, 4), fmt(255 * m, 2), fmt(255 * s, 2)]
            for ch, m, s in zip(("Red", "Green", "Blue"), stats["mean"], stats["std"])]
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


def code_sizes(shapes: dict[str, list[int]], codebook_size: int, clip_shape: tuple[int, int, int],
               bits_reduction: float) -> dict:
    bits_per_code = math.log2(codebook_size)
    t, h, w = clip_shape
    raw = 3 * t * h * w * 8
    rows = []
    total = 0.0
    for level in ("top", "bottom"):
        n = math.prod(shapes[level])
        total += n * bits_per_code
        rows.append([f"{level.capitalize()} codes", " × ".join(map(str, shapes[level])), fmt(n),
                     fmt(n * bits_per_code, 0)])
    rows.append(["Both levels", "", "", fmt(total, 0)])
    rows.append([f"Raw clip (3 × {t} × {h} × {w} × 8 bit)", "", "", fmt(raw)])
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


def evaluation(metrics: dict) -> dict:
    present = [k for k in METRICS if any(isinstance(metrics.get(v), dict) and k in metrics[v]
                                         for v, _, _ in EVAL_ROWS)]
    rows = []
    for variant, which, label in EVAL_ROWS:
        node = metrics.get(variant)
        if not isinstance(node, dict):
            continue
        cells = []
        for metric in present:
            entry = node.get(metric)
            s: Stat | None = stat(entry.get(which) if which and isinstance(entry, dict) else entry)
            cells.append(fmt_stat(s, DIGITS[metric]))
        if any(c != "—" for c in cells):
            rows.append([label, *cells])
    return {"header": ["", *(NAMES[m] + (" (dB)" if m == "psnr" else "") + (" ↑" if m in ("psnr", "ssim") else " ↓")
                             for m in present)], "rows": rows}


def fvd(values: dict) -> dict | None:
    """FVD per video set against the real clips (and FVD*); the stage's other fields are not scores."""
    if not isinstance(values, dict):
        return None
    rows = [[FVD_LABELS[k], fmt_stat(stat(values[k]), 2)] for k in FVD_LABELS if stat(values.get(k))]
    return {"header": ["Videos", "FVD ↓"], "rows": rows} if rows else None


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
