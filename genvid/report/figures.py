"""The report's figures as PNG bytes (matplotlib, Agg): same inputs, same bytes.

Determinism: a fixed style (not the user's matplotlibrc), a fixed dpi, the fonts inside matplotlib's
wheel only (genvid.report.fonts), and no "Software" text chunk in the PNG; Agg rasterises identically
for identical inputs.
"""
from __future__ import annotations

import base64
import functools
import io
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from genvid.report.fonts import matplotlib_bundled_only  # noqa: E402
from genvid.report.gifs import to_rgb  # noqa: E402

DPI = 150
WIDTH_IN = 6.3  # the text width of an A4 page with 25 mm margins
STYLE = {
    "font.family": "serif", "font.serif": ["DejaVu Serif"], "font.size": 8.5, "axes.titlesize": 9,
    "axes.labelsize": 8.5, "legend.fontsize": 7.5, "xtick.labelsize": 7.5, "ytick.labelsize": 7.5,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5, "lines.linewidth": 1.3,
    "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
    "savefig.dpi": DPI, "svg.hashsalt": "genvid", "path.simplify": False,
}
COLORS = {"train": "#1f4e79", "val": "#c55a11", "predictions": "#1f4e79", "top_only": "#548235",
          "bottom_only": "#7030a0", "recon": "#7f7f7f", "baseline": "#000000", "top": "#1f4e79",
          "bottom": "#c55a11", "both": "#548235"}
METRIC_LABELS = {"psnr": "PSNR (dB) ↑", "ssim": "SSIM ↑", "lpips": "LPIPS ↓", "mse": "MSE ↓"}


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def to_png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def styled(fn: Callable[..., bytes]) -> Callable[..., bytes]:
    """Build and save the figure inside the fixed style (some rcParams are read at draw time)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> bytes:
        matplotlib_bundled_only()  # the fonts inside matplotlib's wheel, whatever the machine has
        with plt.style.context("default"), matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def _figure(nrows: int, ncols: int, height_in: float, **kwargs):
    return plt.subplots(nrows, ncols, figsize=(WIDTH_IN, height_in), squeeze=False, layout="constrained", **kwargs)


def fit(frame: np.ndarray, max_px: int) -> np.ndarray:
    """Downscale a frame [H,W,C] so its longer side is at most ``max_px`` (LANCZOS, deterministic);
    grey frames come back as RGB."""
    frame = to_rgb(frame)
    h, w = frame.shape[:2]
    if max(h, w) <= max_px:
        return frame
    scale = max_px / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.LANCZOS))


Row = Sequence[Optional[np.ndarray]]  # frames [H,W,C]; None leaves its cell blank


def mosaic(rows: Sequence[Row], gap: int = 2, max_px: int = 96, fill: int = 255) -> np.ndarray:
    """Rows of frames -> one RGB uint8 image with ``gap`` pixels between frames and rows."""
    rows = [[None if f is None else fit(f, max_px) for f in row] for row in rows]
    h, w = next(f for row in rows for f in row if f is not None).shape[:2]
    t = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + gap) - gap, t * (w + gap) - gap, 3), fill, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, frame in enumerate(row):
            if frame is not None:
                out[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = frame
    return out


@styled
def frame_grid(rows: Sequence[tuple[str, Row]], context: int | None = None, max_px: int = 96) -> bytes:
    """Labelled rows of frames; a dashed line separates the context frames from the predictions."""
    gap = 2
    image = mosaic([frames for _, frames in rows], gap, max_px)
    h = (image.shape[0] + gap) // len(rows) - gap
    t = max(len(frames) for _, frames in rows)
    w = (image.shape[1] + gap) // t - gap
    label_in = 1.25  # room for the row labels
    height = max(0.9, (WIDTH_IN - label_in) * image.shape[0] / image.shape[1] + 0.35)
    fig, axes = _figure(1, 1, height)
    ax = axes[0, 0]
    ax.imshow(image, interpolation="nearest")
    ax.grid(False)
    ax.set_yticks([i * (h + gap) + h / 2 for i in range(len(rows))], [name for name, _ in rows])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xticks([])
    if context is not None and 0 < context < t:
        x = context * (w + gap) - gap / 2 - 0.5
        ax.axvline(x, color="#c00000", linestyle="--", linewidth=1.0)
        ax.text(x / 2, -3, "context", ha="center", va="bottom", fontsize=7.5)
        ax.text((x + image.shape[1]) / 2, -3, "predicted", ha="center", va="bottom", fontsize=7.5,
                color="#c00000")
    return to_png(fig)


def _plot_series(ax, x, y, label, color, style="-", width=None) -> None:
    keep = np.isfinite(y)
    if keep.any():
        ax.plot(x[keep], y[keep], style, label=label, color=color, linewidth=width)


@styled
def vqvae_curves(curves: dict[str, dict[str, np.ndarray]]) -> bytes:
    """Loss (log scale), MSE and commitment, and code perplexities against the training step."""
    fig, axes = _figure(1, 3, 2.7)
    loss_ax, parts_ax, perp_ax = axes[0]
    for split in ("train", "val"):
        c = curves[split]
        _plot_series(loss_ax, c["step"], c["loss"], split, COLORS[split], "-" if split == "train" else "o-")
        for key, style in (("mse", "-"), ("commitment", ":")):
            if key in c:
                _plot_series(parts_ax, c["step"], c[key], f"{key} ({split})", COLORS[split], style)
    for level, key in (("top", "perplexity_top"), ("bottom", "perplexity_bottom")):
        if key in curves["train"]:
            _plot_series(perp_ax, curves["train"]["step"], curves["train"][key], level, COLORS[level])
    loss_ax.set(title="loss (eq. 5.3)", xlabel="step", yscale="log")
    parts_ax.set(title="MSE, commitment", xlabel="step", yscale="log")
    perp_ax.set(title="perplexity (train)", xlabel="step")
    for ax in axes[0]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    return to_png(fig)


@styled
def prior_curves(curves: dict[str, dict[str, dict[str, np.ndarray]]]) -> bytes:
    """NLL (nats per code) against the step, one panel per prior."""
    fig, axes = _figure(1, 2, 2.3)
    for ax, level in zip(axes[0], ("top", "bottom")):
        for split in ("train", "val"):
            c = curves[level][split]
            _plot_series(ax, c["step"], c["loss"], split, COLORS[split], "-" if split == "train" else "o-")
        ax.set(title=f"{level} prior", xlabel="step", ylabel="NLL (nats/code)")
        ax.legend()
    return to_png(fig)


@styled
def training_curves(curves: dict[str, dict[str, np.ndarray]], ncols: int = 3) -> bytes:
    """Any trained component's curves (curves/<component>/{train,val}.tsv): one panel per logged
    column against the step, training and validation together; log scale where a positive column
    spans more than a decade."""
    columns: list[str] = []
    for split in ("train", "val"):
        columns += [c for c in curves.get(split, {}) if c != "step" and c not in columns]
    ncols = max(1, min(ncols, len(columns)))
    nrows = max(1, -(-len(columns) // ncols))
    fig, axes = _figure(nrows, ncols, 2.1 * nrows + 0.2)
    for ax, column in zip(axes.flat, columns):
        seen = []
        for split in ("train", "val"):
            c = curves.get(split) or {}
            if column in c:
                _plot_series(ax, c["step"], c[column], split, COLORS[split], "-" if split == "train" else "o-")
                seen.append(c[column][np.isfinite(c[column])])
        values = np.concatenate(seen) if seen else np.zeros(0)
        if values.size and values.min() > 0 and values.max() > 10 * values.min():
            ax.set_yscale("log")
        ax.set(title=column, xlabel="step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(columns):]:
        ax.set_visible(False)
    return to_png(fig)


@dataclass(frozen=True)
class Line:
    """One curve of a per-timestep plot: values at t = 1..horizon, with an optional band."""

    label: str
    color: str
    mean: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    style: str = "-"
    width: float = 1.3


PALETTE = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#843c0c", "#7f7f7f")


@styled
def metric_curves(panels: dict[str, list[Line]], xlabel: str = "predicted frame (1 = first after the context)",
                  legend_cols: int = 3) -> bytes:
    """One panel per metric; every line is a per-timestep curve over the predicted frames, shaded
    where it has a 95 % interval."""
    names = list(panels)
    ncols = 2 if len(names) > 1 else 1
    nrows = (len(names) + ncols - 1) // ncols
    fig, axes = _figure(nrows, ncols, 2.2 * nrows + 0.6)
    for ax, metric in zip(axes.flat, names):
        for line in panels[metric]:
            x = np.arange(1, len(line.mean) + 1)
            _plot_series(ax, x, line.mean, line.label, line.color, line.style, line.width)
            if line.lo is not None and line.hi is not None and np.isfinite(line.lo).all() and np.isfinite(line.hi).all():
                ax.fill_between(x, line.lo, line.hi, color=line.color, alpha=0.15, linewidth=0)
        ax.set(title=METRIC_LABELS.get(metric, metric), xlabel=xlabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=legend_cols)
    return to_png(fig)


@styled
def codebook_usage(counts: dict[str, np.ndarray]) -> bytes:
    """Code frequencies sorted from most to least used (log scale), one panel per level."""
    fig, axes = _figure(1, 2, 2.3)
    for ax, level in zip(axes[0], ("top", "bottom")):
        n = counts[level]
        freq = np.sort(n)[::-1] / max(int(n.sum()), 1)
        used = int((n > 0).sum())
        p = freq[freq > 0]
        perplexity = float(np.exp(-(p * np.log(p)).sum())) if p.size else 0.0
        ax.bar(np.arange(len(freq)), np.where(freq > 0, freq, np.nan), width=1.0, color=COLORS[level])
        ax.set(title=f"{level} codes\n{used} of {len(n)} used, perplexity {perplexity:.1f}",
               xlabel="code rank", ylabel="frequency", yscale="log", xlim=(-0.5, len(n) - 0.5))
        if p.size:
            ax.set_ylim(p.min() / 2, 1.0)
    return to_png(fig)


@styled
def kl_channels(panels: dict[str, list[np.ndarray]], resolutions: Sequence[int], max_kl: float,
                active_kl: float) -> bytes:
    """Seed 004 Fig. 4.4: per model (column) and latent level (row), the mean KL of each latent
    channel as a colour on [0, max_kl] (values above it take the top colour); channels above
    ``active_kl`` carry a dot, and the colour bar marks that threshold."""
    names = list(panels)
    fig, axes = _figure(len(resolutions), len(names), 0.55 * len(resolutions) + 0.9)
    image = None
    for j, name in enumerate(names):
        for i, res in enumerate(resolutions):
            ax = axes[i, j]
            values = np.asarray(panels[name][i], dtype=np.float64)
            image = ax.imshow(values[None], cmap="viridis", vmin=0.0, vmax=max_kl, aspect="auto",
                              interpolation="nearest")
            for c in np.flatnonzero(values > active_kl):
                ax.plot(c, 0, "o", color="white", markersize=2.5, markeredgecolor="black", markeredgewidth=0.4)
            ax.grid(False)
            ax.set_yticks([])
            ax.set_xticks(range(len(values)), [str(c + 1) for c in range(len(values))], fontsize=6)
            ax.tick_params(length=0)
            if i == 0:
                ax.set_title(name)
            if j == 0:
                ax.set_ylabel(f"{res}×{res}", rotation=0, ha="right", va="center")
        axes[-1, j].set_xlabel("latent channel")
    bar = fig.colorbar(image, ax=axes, location="right", shrink=0.9)
    bar.set_label("mean KL per position (nats)")
    bar.ax.axhline(active_kl, color="#c00000", linewidth=1.2)
    return to_png(fig)


@styled
def against_sigma(panels: dict[str, dict[str, list[tuple[float, float]]]],
                  baselines: dict[str, list[tuple[float, float]]] | None = None, ncols: int = 3) -> bytes:
    """One panel per measure against the index-noise σ: a line through each tier's mean over seeds,
    a dot per seed; ``baselines`` (panel name -> (σ, value) points) draw a dashed grey line there
    (the probe's majority class)."""
    def means(points: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
        xs = sorted({s for s, _ in points})
        return xs, [float(np.mean([v for s, v in points if s == x])) for x in xs]

    names = list(panels)
    nrows = (len(names) + ncols - 1) // ncols
    fig, axes = _figure(nrows, ncols, 1.9 * nrows + 0.3)
    for ax, name in zip(axes.flat, names):
        for tier, points in panels[name].items():
            ax.plot(*means(points), "-", color=COLORS[tier], label=tier)
            ax.plot([s for s, _ in points], [v for _, v in points], "o", color=COLORS[tier], markersize=3)
        if name in (baselines or {}):
            ax.plot(*means(baselines[name]), "--", color="#7f7f7f", label="majority class")
            ax.legend()
        ax.set_title(name)
        ax.set_xlabel("σ (index noise, std)")
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    axes.flat[0].legend()
    return to_png(fig)


@styled
def codebook_pca(panels: dict[str, dict[str, np.ndarray]]) -> bytes:
    """Seed 002 Fig. 4.2: each codebook [K, 2] on its first two principal components, coloured by
    code index; one row per tier, one column per σ (the panel names)."""
    tiers = list(next(iter(panels.values())))
    fig, axes = _figure(len(tiers), len(panels), 1.45 * len(tiers) + 0.5)
    image = None
    for j, (name, by_tier) in enumerate(panels.items()):
        for i, tier in enumerate(tiers):
            ax, points = axes[i, j], np.asarray(by_tier[tier], dtype=np.float64)
            image = ax.scatter(points[:, 0], points[:, 1], c=np.arange(len(points)), cmap="viridis", s=4,
                               vmin=0, vmax=len(points) - 1, linewidths=0)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name)
            if j == 0:
                ax.set_ylabel(f"{tier} codebook")
    bar = fig.colorbar(image, ax=axes, location="right", shrink=0.9)
    bar.set_label("code index")
    return to_png(fig)
