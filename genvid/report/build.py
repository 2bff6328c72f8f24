"""Build the thesis-style report: gather inputs, make figures and tables, render HTML and PDF.

    inputs.py (read + validate) -> chapters.py (numbered figures and tables) -> context (numbers
    for the prose, Discussion sentences from text.py) -> Jinja2 template -> HTML (with GIFs) and,
    through WeasyPrint, PDF (static strips)

Both files come from the same template; only the ``pdf`` flag differs (the PDF cannot animate).
"""
from __future__ import annotations

import logging
import math
import os
import platform
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup

from genvid import params as P
from genvid.determinism import configure_torch
from genvid.io import atomic_path
from genvid.models.store import load_vqvae
from genvid.models.vqvae3d import VQVAEConfig
from genvid.report import chapters as C
from genvid.report import figures as F
from genvid.report import repro, tables
from genvid.report import text as X
from genvid.report.chapters import CHAPTERS, Options, Registry
from genvid.report.inputs import METRICS, Inputs, ReportPaths, read_inputs, stat
from genvid.report.references import bibliography, cite, xu

__all__ = ["Options", "ReportPaths", "build_report", "collect", "render", "html_to_pdf"]

OUTLINE = [  # (chapter key, title, [(section id, title), ...]); the template's headings use these
    ("data", "Data", [("recording", "Recording"), ("split", "Chronological split")]),
    ("preprocessing", "Preprocessing", [("normalisation", "Normalisation"), ("clips", "Clips")]),
    ("models", "Models", [("vqvae", "3D hierarchical VQ-VAE"), ("priors", "3D PixelSNAIL priors"),
                          ("sampling", "Sampling")]),
    ("training", "Training", [("train-vqvae", "VQ-VAE"), ("train-priors", "Priors")]),
    ("results", "Results", [("res-vqvae", "VQ-VAE"), ("res-priors", "Priors"), ("res-samples", "Samples"),
                            ("res-eval", "Evaluation")]),
    ("discussion", "Discussion", [("disc-vqvae", "Reconstruction"), ("disc-priors", "Priors"),
                                  ("disc-prediction", "Prediction against the baseline")]),
    ("appendix", "Reproducibility", [("artefacts", "Artefacts"), ("software", "Software, seeds and run")]),
]


def numbered_outline() -> list[dict[str, Any]]:
    """OUTLINE with numbers: chapter "5", sections "5.1", ...; ids ch-<key> and sec-<id>."""
    return [{"key": key, "number": CHAPTERS[key], "title": title,
             "sections": [{"id": sid, "number": f"{CHAPTERS[key]}.{i + 1}", "title": stitle}
                          for i, (sid, stitle) in enumerate(sections)]}
            for key, title, sections in OUTLINE]


def collect(inp: Inputs, opts: Options) -> dict[str, Any]:
    """Everything the template needs except the ``pdf`` flag."""
    configure_torch()
    vq_cfg = P.model_config(VQVAEConfig.from_dict, inp.params, "vqvae", inp.paths.params)
    model, _ = load_vqvae(inp.paths.vqvae, vq_cfg.to_dict(), inp.paths.params)
    clips = P.validate_section(inp.params, "clips", inp.paths.params)
    T, H, W = clips["clip_len"], inp.frames.height, inp.frames.width
    smp, vm, pm, em = inp.samples, inp.vqvae_metrics, inp.prior_metrics, inp.eval_metrics
    K = vq_cfg.codebook_size
    shapes = vm.get("code_shapes") or dict(zip(("top", "bottom"), map(list, model.code_shapes(T, H, W))))
    bits_reduction = vm.get("bits_reduction", model.bits_reduction(T, H, W))
    interval = inp.frames.attrs.get("interval")
    n_rows = len(next(iter(inp.eval_curves.values()))["timestep"])
    context_rows = smp.context_frames if n_rows == T else 0  # TSV rows for context frames too, or predictions only

    reg = Registry()
    C.data_items(reg, inp)
    C.model_items(reg, inp, model, {**shapes, "clip": (T, H, W)}, bits_reduction)
    C.training_items(reg, inp)
    C.vqvae_prior_items(reg, inp, model, opts)
    C.sample_items(reg, inp, opts)
    C.evaluation_items(reg, inp, context_rows)
    C.appendix_items(reg, inp, opts)
    discussion = discussion_facts(inp, context_rows)

    root = Path(inp.paths.params).resolve().parent
    epoch, epoch_source = repro.report_epoch(root)
    profile, profile_note = repro.profile_in_use(inp.params, inp.paths.profiles)
    fvd = em.get("fvd") if isinstance(em.get("fvd"), dict) else {}
    facts = {  # the numbers the template's prose uses
        "frames": inp.frames.num_frames, "height": H, "width": W, "interval": interval,
        "hours": inp.frames.num_frames * interval / 3600 if isinstance(interval, (int, float)) else None,
        "source": inp.frames.attrs.get("source", "unknown"), "clip_len": T, "K": K,
        "ema_decay": vq_cfg.ema_decay, "beta": vq_cfg.beta, "bits_reduction": bits_reduction,
        "top_shape": " × ".join(map(str, shapes["top"])), "bottom_shape": " × ".join(map(str, shapes["bottom"])),
        "vq_test": vm["test"], "prior": pm, "uniform_bits": math.log2(K), "test_split": inp.split["splits"]["test"],
        "context": smp.context_frames, "S": smp.num_samples, "n_test_clips": smp.num_clips, "sample_attrs": smp.attrs,
        "sample_keys": [k for k in reg.items if k.startswith("sample_")],
        "last": last_frame_values(inp.eval_curves),
        "avg_full_psnr": X.average(em, "full", "psnr"), "avg_copy_psnr": X.average(em, "copy_last", "psnr"),
        "fvd": {k: stat(v) for k, v in fvd.items() if k in tables.FVD_LABELS}, "fvd_skipped": fvd.get("skipped"),
    }
    utc = repro.utc(epoch)
    return {
        "items": reg.items, "ref": reg.ref, "outline": numbered_outline(), "facts": facts, "discussion": discussion,
        "cite": cite, "xu": xu, "bibliography": bibliography(),
        "fmt": X.fmt, "fmt_sci": X.fmt_sci, "fmt_stat": X.fmt_stat, "pct": X.pct,
        "date": f"{utc:%Y-%m-%d}", "date_iso": f"{utc:%Y-%m-%dT%H:%M:%SZ}", "date_source": epoch_source, "epoch": epoch,
        "commit": repro.git_commit(root), "profile": profile, "profile_note": profile_note,
        "python": platform.python_version(), "metrics_present": [m for m in METRICS if m in inp.eval_curves],
    }


def last_frame_values(curves: dict) -> dict[str, dict[str, float]]:
    """{metric: {column: value at the last timestep}} for the abstract."""
    return {m: {k: float(v[-1]) for k, v in c.items() if k != "timestep"} for m, c in curves.items()}


def discussion_facts(inp: Inputs, context_rows: int) -> dict[str, list[Markup]]:
    vm, em = inp.vqvae_metrics, inp.eval_metrics
    vq = [Markup(f"On test clips the VQ-VAE reaches MSE {X.fmt_sci(vm['test']['mse_normalized'], 4)} (normalised), "
                 f"against {X.fmt_sci(vm['train']['mse_normalized'], 4)} on training clips and "
                 f"{X.fmt_sci(vm['val']['mse_normalized'], 4)} on validation clips; PSNR "
                 f"{X.fmt(vm['test']['psnr'], 2)} dB, SSIM {X.fmt(vm['test']['ssim'], 3)}.")]
    used = [(level, vm["test"].get(f"{level}_codes_used")) for level in ("top", "bottom")]
    if all(isinstance(u, (int, float)) for _, u in used):
        k = len(inp.code_counts["top"])
        vq.append(Markup("The test clips use " + " and ".join(f"{int(u)} of {k} {lvl} codes" for lvl, u in used) + "."))
    priors = [X.prior_facts(level, inp.prior_metrics[level]) for level in ("top", "bottom")]
    prediction: list[Markup] = []
    for metric, curve in inp.eval_curves.items():
        predicted = np.arange(len(curve["timestep"])) >= context_rows
        prediction += X.timestep_comparison(metric, curve, predicted)
        avg = X.average_comparison(metric, em)
        if avg is not None:
            prediction.append(avg)
    hierarchy = [h for h in (X.hierarchy_comparison(m, em) for m in METRICS) if h is not None]
    fvd = X.fvd_facts(em.get("fvd"))
    return {"vqvae": vq, "priors": priors, "prediction": prediction, "hierarchy": hierarchy,
            "fvd": [fvd] if fvd is not None else []}


def _environment() -> jinja2.Environment:
    folder = resources.files("genvid.report") / "templates"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["css"] = Markup((folder / "report.css").read_text(encoding="utf-8"))
    env.filters["png_uri"] = F.data_uri
    return env


def render(context: dict[str, Any], pdf: bool) -> str:
    return _environment().get_template("report.html.j2").render(**context, pdf=pdf)


def html_to_pdf(html: str, epoch: int) -> bytes:
    """WeasyPrint, with the document dates from the template's dcterms metadata and the embedded
    font subsets' 'head' timestamps from SOURCE_DATE_EPOCH (fontTools reads it; without it every
    run would stamp the current time into the fonts)."""
    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    saved = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
    try:
        return HTML(string=html).write_pdf()
    finally:
        if saved is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = saved


def build_report(paths: ReportPaths, out_html: str | Path, out_pdf: str | Path, opts: Options = Options()) -> None:
    """Validate every input, render both files in memory, then write them (atomically)."""
    context = collect(read_inputs(paths, max_clips=max(opts.vqvae_clips, opts.sample_clips, 1)), opts)
    html = render(context, pdf=False)
    pdf = html_to_pdf(render(context, pdf=True), context["epoch"])
    for path, data in ((out_html, html.encode("utf-8")), (out_pdf, pdf)):
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
