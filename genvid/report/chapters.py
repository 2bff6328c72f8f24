"""The numbered figures and tables of each chapter, registered in the order the template shows them.

Each ``*_items`` function adds one chapter's items to the Registry; numbers ("Figure 5.2") follow
registration order per chapter, so the order here must match report.html.j2 (a test checks it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import torch
from markupsafe import Markup

from genvid.data.clips import denormalize, normalize
from genvid.data.split import clip_starts
from genvid.models.vqvae3d import VQVAE3D
from genvid.report import figures as F
from genvid.report import repro, tables
from genvid.report import text as X
from genvid.report.gifs import animated_gif, side_by_side
from genvid.report.inputs import Inputs
from genvid.report.references import xu

CHAPTERS = {"data": "1", "preprocessing": "2", "models": "3", "training": "4", "results": "5",
            "discussion": "6", "appendix": "A"}
VARIANT_ROWS = (("real", "real"), ("recon", "VQ-VAE recon."), ("top_only", "gen. top + true bottom"),
                ("bottom_only", "true top + gen. bottom"), ("full", "full model"))


@dataclass(frozen=True)
class Options:
    vqvae_clips: int = 3  # test clips (evenly spaced) read from samples.h5 for the reconstruction figure
    sample_clips: int = 2  # of those, clips for the per-variant strips (and GIFs)
    max_full_samples: int = 4  # rows of the sample-diversity figure
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


def section(params: dict, name: str) -> dict | None:
    value = params.get(name)
    return value if isinstance(value, dict) else None


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """[3,T,H,W] in [0,1] -> uint8 [T,H,W,3]."""
    return (video.permute(1, 2, 3, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()


@torch.no_grad()
def level_decodings(inp: Inputs, model: VQVAE3D, real: np.ndarray) -> dict[str, np.ndarray]:
    """One clip decoded from each code level alone, the other level's code vectors set to zero
    (seed 000 Fig. 6.1)."""
    top, bottom = model.encode(normalize(real, inp.mean, inp.std)[None])
    return {name: to_uint8(denormalize(model.decode_codes(top, bottom, zero_level=zero)[0], inp.mean, inp.std))
            for name, zero in (("top_alone", "bottom"), ("bottom_alone", "top"))}


def split_frames(inp: Inputs, per_split: int = 8) -> list[tuple[str, np.ndarray]]:
    """``per_split`` frames evenly spaced over each split (Figure 1.1)."""
    rows = []
    with h5py.File(inp.paths.frames, "r") as f:
        for name in ("train", "val", "test"):
            index = clip_starts(inp.split["splits"][name]["ranges"], 1, 1)
            picks = index[np.linspace(0, len(index) - 1, per_split).round().astype(int)]
            rows.append((tables.SPLIT_NAMES[name].lower(), np.stack([f["frames"][int(i)] for i in picks])))
    return rows


def data_items(reg: Registry, inp: Inputs) -> None:
    """Chapters 1-2: the recording, the split, the normalisation."""
    reg.add("table", "data", "data", "The recorded driving video (attributes of the frames file).",
            **tables.data_summary(inp.frames, inp.split))
    reg.add("table", "split", "data", f"Chronological split {xu('§4.1.2')} and the clips each split holds: "
            f"stride 1 for training and the evaluation stride for validation and test {xu('§4.1.3')}.",
            **tables.split_sizes(inp.split))
    reg.add("figure", "split_frames", "data", "Frames evenly spaced over each split, in recording order.",
            png=F.frame_grid(split_frames(inp)))
    reg.add("table", "norm", "preprocessing", "Per-channel normalisation constants, computed on the training "
            f"split only {xu('eq. 4.1')}; pixels are scaled to [0, 1] first.", **tables.normalization(inp.stats))


def model_items(reg: Registry, inp: Inputs, model: VQVAE3D, shapes: dict, bits_reduction: float) -> None:
    """Chapter 3: hyperparameters, code grids and parameter counts."""
    params, pm = inp.params, inp.prior_metrics
    t, h, w = shapes["clip"]
    reg.add("table", "vqvae_hp", "models", "VQ-VAE hyperparameters (params.yaml <code>vqvae</code>) next to "
            f"the final values of Xu {xu('Table 5.2, §5.2.1')}.",
            **tables.hyperparameters({"This run": section(params, "vqvae")}, tables.THESIS_VQVAE))
    reg.add("table", "codes", "models", "Code grids of one clip and the bits they need against raw 8-bit RGB.",
            **tables.code_sizes(shapes, model.cfg.codebook_size, (t, h, w), bits_reduction))
    priors = {"Top prior": section(params, "prior_top"), "Bottom prior": section(params, "prior_bottom")}
    if any(priors.values()):
        reg.add("table", "prior_hp", "models", "Prior hyperparameters (params.yaml <code>prior_top</code>, "
                f"<code>prior_bottom</code>) next to the top prior of Xu {xu('Table 5.4')}.",
                **tables.hyperparameters(priors, tables.THESIS_PRIOR_TOP, "Xu (2022), top"))
    counts = [("VQ-VAE (trainable)", sum(p.numel() for p in model.parameters())),
              ("VQ-VAE codebooks (EMA, 2 × K × D)",
               sum(b.numel() for name, b in model.named_buffers() if name.endswith("embed"))),
              ("Top prior", pm["top"].get("parameters")), ("Bottom prior", pm["bottom"].get("parameters"))]
    reg.add("table", "params", "models", "Parameter counts.", **tables.parameter_counts(counts))


def training_items(reg: Registry, inp: Inputs) -> None:
    """Chapter 4: settings, loss curves and the final loss (seed 000 Table 5.3)."""
    train = {name: section(inp.params, f"train_{name}") for name in ("vqvae", "prior_top", "prior_bottom")}
    if any(train.values()):
        reg.add("table", "train_hp", "training", "Training settings of the three models (params.yaml "
                "<code>train_*</code> sections).", **tables.hyperparameters(train))
    reg.add("figure", "vqvae_curves", "training", "VQ-VAE training: loss (eq. 5.3) on training batches and on "
            "validation batches, its MSE and commitment parts, and the perplexity of the codes in use.",
            png=F.vqvae_curves(inp.vqvae_curves))
    reg.add("table", "final_loss", "training", "Final loss over the training and validation sets, in the shape "
            f"of {xu('Table 5.3')}, which reports 0.025 and 0.026 at 256 × 256.", **tables.final_loss(inp.vqvae_curves))
    reg.add("figure", "prior_curves", "training", "Negative log-likelihood of the top and bottom priors on "
            "training and validation codes.", png=F.prior_curves(inp.prior_curves))


def vqvae_prior_items(reg: Registry, inp: Inputs, model: VQVAE3D, opts: Options) -> None:
    """Sections 5.1-5.2: reconstruction (Table 6.1, Figs 6.1-6.2), codebook use, prior NLL (Tables 6.2/6.3)."""
    smp, pm = inp.samples, inp.prior_metrics
    reg.add("table", "vqvae_quality", "results", "Reconstruction quality and codebook use on each split, in the "
            f"shape of {xu('Table 6.1')} (MSE 0.018 / 0.021 / 0.019 there). MSE is in normalised space; PSNR and "
            "SSIM in pixel space.", **tables.vqvae_quality(inp.vqvae_metrics, model.cfg.codebook_size))
    # The reconstructions come from samples.h5 (the sample stage decoded the true codes); only the
    # single-level decodings need the VQ-VAE here.
    recon_rows = [(f"{label} #{int(r) + 1}", smp.videos[key][i]) for i, r in enumerate(smp.rows)
                  for key, label in (("real", "real"), ("recon", "recon."))]
    reg.add("figure", "recon", "results", "Test clips (frame by frame) with their VQ-VAE reconstructions below "
            f"{xu('Fig. 6.2')}; #k is the k-th of the {smp.num_clips} test clips.",
            png=F.frame_grid(recon_rows, max_px=opts.max_px))
    alone = level_decodings(inp, model, smp.videos["real"][0])
    reg.add("figure", "levels", "results", "<b>Top:</b> decoding of the top codes alone (bottom codes zeroed). "
            "<b>Second:</b> decoding of the bottom codes alone (top codes zeroed). <b>Third:</b> both levels. "
            f"<b>Bottom:</b> the original clip {xu('Fig. 6.1')}.",
            png=F.frame_grid([("top only", alone["top_alone"]), ("bottom only", alone["bottom_alone"]),
                              ("both", smp.videos["recon"][0]), ("real", smp.videos["real"][0])], max_px=opts.max_px))
    reg.add("figure", "codebook", "results", "Codebook usage on the test codes: frequency of each code, sorted.",
            png=F.codebook_usage(inp.code_counts))
    for level, thesis_table in (("top", "6.2"), ("bottom", "6.3")):
        base = pm[level].get("baselines") or {}
        note = ", ".join(f"{name} {X.fmt(base[k], 3)} bits/code" for k, name in
                         (("uniform_bits", "uniform"), ("unigram_bits", "unigram")) if isinstance(base.get(k), (int, float)))
        reg.add("table", f"nll_{level}", "results", f"Mean loss of the {level} PixelSNAIL over the splits, in the "
                f"shape of {xu('Table ' + thesis_table)}." + (f" Baselines: {note}." if note else ""),
                **tables.prior_nll(pm[level]))


def sample_items(reg: Registry, inp: Inputs, opts: Options) -> None:
    """Section 5.3: context + prediction strips per variant (Figs 6.3-6.7, with GIFs), samples (Fig. 6.8)."""
    smp, interval = inp.samples, inp.frames.attrs.get("interval")
    duration = int(round(1000 * interval)) if isinstance(interval, (int, float)) else 200  # real time
    scale = max(1, opts.gif_px // max(inp.frames.height, inp.frames.width))
    for j in np.unique(np.linspace(0, len(smp.rows) - 1, min(opts.sample_clips, len(smp.rows))).round().astype(int)):
        rows = [(label, smp.videos[k][j] if k in ("real", "recon") else smp.videos[k][j, 0])
                for k, label in VARIANT_ROWS if k in smp.videos]
        gif = side_by_side([np.stack([F.fit(f, opts.gif_px) for f in v]) for _, v in rows], smp.context_frames, scale)
        reg.add("figure", f"sample_{j}", "results", f"Test clip {int(smp.rows[j]) + 1} of {smp.num_clips}: the first "
                f"{smp.context_frames} frames are the (decoded) context, the rest are predicted; each row is one "
                f"sampling variant, first sample {xu('Figs. 6.3–6.7')}.",
                png=F.frame_grid(rows, smp.context_frames, opts.max_px),
                gif=F.data_uri(animated_gif(gif, duration), "image/gif"),
                gif_caption="Animated, left to right: " + ", ".join(label for label, _ in rows) +
                "; the bar turns red on predicted frames.")
    full = [("real", smp.videos["real"][0])] + [(f"sample {s + 1}", smp.videos["full"][0, s])
                                                 for s in range(min(smp.num_samples, opts.max_full_samples))]
    reg.add("figure", "diversity", "results", f"Several samples of the full model (top prior, then bottom prior) for "
            f"test clip {int(smp.rows[0]) + 1} {xu('Fig. 6.8')}.", png=F.frame_grid(full, smp.context_frames, opts.max_px))


def evaluation_items(reg: Registry, inp: Inputs, context_rows: int) -> None:
    """Section 5.4: the metric tables, FVD, the protocol and the per-timestep curves."""
    em = inp.eval_metrics
    reg.add("table", "eval", "results", "Test metrics averaged over the predicted frames, with 95 % intervals over "
            "clips. Best of N: per clip, the sample with the best average score; mean of N: the average over samples.",
            **tables.evaluation(em))
    fvd_table = tables.fvd(em.get("fvd"))
    if fvd_table:
        note = em["fvd"].get("note") if isinstance(em["fvd"].get("note"), str) else ""
        reg.add("table", "fvd", "results", Markup("Fréchet Video Distance (I3D Kinetics-400 features) of the whole "
                "test videos against the real clips. ") + note, **fvd_table)
    protocol_table = tables.protocol(em.get("protocol"))
    if protocol_table:
        reg.add("table", "protocol", "results", "The evaluation protocol as recorded by the evaluate stage.",
                **protocol_table)
    first = next(iter(inp.eval_curves.values()))["timestep"][0]
    xlabel = "predicted frame (1 = first after the context)" if not context_rows and first == 1 else "frame"
    reg.add("figure", "curves", "results", "Metrics per timestep on the test clips against the copy-last baseline, "
            "with 95 % intervals across clips where the evaluate stage wrote them"
            + (" (shaded: context frames)." if context_rows else "."),
            png=F.metric_curves(inp.eval_curves, context_rows, xlabel))


def appendix_items(reg: Registry, inp: Inputs, opts: Options) -> None:
    """Appendix A: artefact hashes (dvc.lock, else md5 of the inputs), packages, seeds."""
    lock = repro.lock_artefacts(inp.paths.lock, opts.self_stage)
    if lock is None:
        p = inp.paths
        read = [p.frames, p.split, p.stats, p.vqvae, p.latents, p.samples, p.metrics, p.vqvae_metrics,
                p.prior_top_metrics, p.prior_bottom_metrics]
        lock, note = repro.input_hashes(read), "no dvc.lock was found; md5 of the files this report read"
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
    if "seed" in inp.samples.attrs:
        seeds.append([code.format("samples.h5 seed"), tables.value(inp.samples.attrs["seed"])])
    reg.add("table", "seeds", "appendix", "Every seed in params.yaml (plus the sampling seed of samples.h5).",
            header=["Parameter", "Value"], align="ll", rows=seeds)
