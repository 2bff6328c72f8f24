"""Build the thesis-style report: gather inputs, make figures and tables, render HTML and PDF.

    inputs.py (read + validate) -> chapters.py (numbered figures and tables) -> context (numbers
    for the prose, Discussion sentences from text.py) -> Jinja2 template -> HTML (with GIFs) and,
    through WeasyPrint, PDF (static strips)

Both files come from the same template; only the ``pdf`` flag differs (the PDF cannot animate).
Wall times are measurements of the machine, not of the models: they go to the untracked
companion ``timings.html`` next to the HTML, which the report links to, never into the report
itself (its bytes must not change on a rerun).
"""
from __future__ import annotations

import math
import platform
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from genvid import params as P
from genvid.io import atomic_path, atomic_write_text
from genvid.report.fonts import pdf_with_bundled_fonts
from genvid.report import chapters as C
from genvid.report import figures as F
from genvid.report import findings as Z
from genvid.report import noisy_vq as NV
from genvid.report import repro
from genvid.report import text as X
from genvid.report.chapters import CHAPTERS, Options, Registry
from genvid.report.inputs import (METRICS, PREDICTIONS, Inputs, MainRun, ReportPaths, average, curve, read_inputs,
                                  stat)
from genvid.report.references import bibliography, cite, seed, xu
from genvid.timings import read_timings

__all__ = ["Options", "ReportPaths", "build_report", "collect", "render", "html_to_pdf", "timings_page"]

OUTLINE = [  # (chapter key, title, [(section id, title), ...]); the template's headings use these
    ("data", "Data", [("recording", "Recording"), ("split", "Chronological split")]),
    ("preprocessing", "Preprocessing", [("normalisation", "Normalisation"), ("clips", "Clips")]),
    ("models", "Models", [("vqvae", "3D hierarchical VQ-VAE"), ("priors", "3D PixelSNAIL priors"),
                          ("sampling", "Sampling")]),
    ("training", "Training", [("train-vqvae", "VQ-VAE"), ("train-priors", "Priors")]),
    ("results", "Results", [("res-protocol", "Protocol and deviations from the thesis"), ("res-vqvae", "VQ-VAE"),
                            ("res-priors", "Priors"), ("res-samples", "Samples"), ("res-eval", "Evaluation")]),
    ("benchmarks", "Benchmarks", []),  # one section per benchmark, added by numbered_outline
    ("noisyvq", "Noisy vector quantisation (seed 002)", [("nvq-study", "The study"), ("nvq-results", "Results"),
                                                          ("nvq-claims", "Seed 002's claims")]),
    ("discussion", "Discussion", [("disc-vqvae", "Reconstruction"), ("disc-priors", "Priors"),
                                  ("disc-prediction", "Prediction against the baseline"),
                                  ("disc-benchmarks", "Benchmarks"),
                                  ("disc-theses", "Seeds 001 and 004 at small scale")]),
    ("appendix", "Reproducibility", [("artefacts", "Artefacts"), ("software", "Software, seeds and run"),
                                     ("wall-times", "Wall times")]),
]
GENERIC_SECTIONS = {  # a main run without the VQ fields: these chapters' sections instead
    "models": [("hyperparameters", "Hyperparameters and size"), ("sampling", "Sampling")],
    "training": [("train-settings", "Settings"), ("train-curves", "Curves")],
    "results": [("res-protocol", "Protocol"), ("res-samples", "Samples"), ("res-eval", "Evaluation")],
    "discussion": [("disc-prediction", "Prediction against the baseline"), ("disc-benchmarks", "Benchmarks"),
                   ("disc-theses", "Seeds 001 and 004 at small scale")],
}


def numbered_outline(benchmarks: list[str], vq: bool = True) -> list[dict[str, Any]]:
    """OUTLINE with numbers: chapter "5", sections "5.1", ...; ids ch-<key> and sec-<id>; the
    Benchmarks chapter gets one section per benchmark (id bench-<name>); ``vq``: False gives
    chapters 3-5 and 7 the sections of a main run outside the VQ family."""
    out = []
    for key, title, sections in OUTLINE:
        if key == "benchmarks":
            sections = [(f"bench-{b}", b) for b in benchmarks]
        elif not vq:
            sections = GENERIC_SECTIONS.get(key, sections)
        out.append({"key": key, "number": CHAPTERS[key], "title": title,
                    "sections": [{"id": sid, "number": f"{CHAPTERS[key]}.{i + 1}", "title": stitle}
                                 for i, (sid, stitle) in enumerate(sections)]})
    return out


def vq_facts(main: MainRun) -> dict[str, Any] | None:
    """The numbers the VQ family's prose uses; None for a run without the VQ fields."""
    if main.vq is None:
        return None
    vm, K = main.train_metrics["vqvae"], main.vq.codebook_size
    cfg = main.vq.config  # the VQ-VAE's stored config, as stage figures read it from the model
    shapes = vm["code_shapes"]
    return {"K": K, "cfg": cfg, "ema_decay": cfg["ema_decay"], "beta": cfg["beta"],
            "bits_reduction": vm["bits_reduction"], "top_shape": " × ".join(map(str, shapes["top"])),
            "bottom_shape": " × ".join(map(str, shapes["bottom"])), "test": vm["test"],
            "prior": {"top": main.train_metrics["prior_top"], "bottom": main.train_metrics["prior_bottom"]},
            "uniform_bits": math.log2(K)}


def trained_facts(main: MainRun, items: dict[str, Any]) -> dict[str, Any]:
    """What the generic chapters 3-4 say of any run: its size, its curves and what training measured."""
    tm = main.train_metrics
    elbo = tm.get("test_elbo") if isinstance(tm.get("test_elbo"), dict) else {}
    return {"parameters": C.trained_parameters(main), "model_params": bool(main.run.model_params),
            "curve_keys": [C.curves_key(c) for c in main.curves if C.curves_key(c) in items],
            "components": list(main.curves), "bits_per_dim": tm.get("bits_per_dim"),
            "neg_elbo": elbo.get("neg_elbo")}


def collect(inp: Inputs, opts: Options) -> dict[str, Any]:
    """Everything the template needs except the ``pdf`` flag."""
    main = inp.main
    info = main.result.samples
    T, H, W = main.bench.clips.clip_len, main.frames.height, main.frames.width

    reg = Registry()
    C.data_items(reg, main)
    C.model_items(reg, main)
    C.training_items(reg, main)
    C.protocol_items(reg, main, inp.thesis, inp.params.get("device"))
    if main.vq is not None:
        C.vqvae_prior_items(reg, main, opts)
    C.sample_items(reg, main, opts)
    C.evaluation_items(reg, main)
    C.benchmark_items(reg, inp.benchmarks, opts, inp.temperature,
                      P.top_level(inp.params, "evaluate", inp.paths.params).fvd_repeats)
    studies = [study for view in inp.benchmarks for study in view.noisy_vq]
    NV.choice_items(reg, studies)  # registry order = the template's order (numbering)
    for study in studies:
        NV.items(reg, study)
        NV.prior_items(reg, study)
    for study in studies:
        NV.claim_items(reg, study)
    C.appendix_items(reg, inp, opts)

    root = inp.paths.root.resolve()
    epoch, epoch_source = repro.report_epoch(root)
    profile, profile_note = repro.profile_in_use(inp.params, inp.paths.profiles)
    interval = main.frames.attrs.get("interval")
    protocol, fvd = main.result.protocol, main.result.scores["fvd"]
    baseline = main.baseline
    facts = {  # the numbers the template's prose uses
        "run": main.run.name, "benchmark": main.run.benchmark, "model": main.run.model,
        "frames": main.frames.num_frames, "height": H, "width": W, "channels": main.frames.channels,
        "interval": interval,
        "hours": main.frames.num_frames * interval / 3600 if isinstance(interval, (int, float)) else None,
        "source": main.frames.attrs.get("source", "unknown"), "clip_len": T,
        "vq_family": vq_facts(main), "trained": trained_facts(main, reg.items),
        "test_split": main.split["splits"]["test"],
        "context": info.context_frames, "horizon": info.horizon, "S": info.samples, "n_test_clips": info.clips,
        "sampling": main.run.model_params.get("sampling") or {}, "extras": info.extras,
        "protocol": protocol, "fvd_skipped": fvd.get("skipped"),
        "sample_keys": [k for k in reg.items if k.startswith("sample_")],
        "baseline": baseline.name if baseline is not None else None,
        "avg_psnr": average(main.result.scores, PREDICTIONS, "psnr"),
        "avg_copy_psnr": average(baseline.scores, PREDICTIONS, "psnr") if baseline is not None else None,
        "last_psnr": float(curve(main.result.scores, PREDICTIONS, "psnr", "best_seq").mean[-1]),
        "last_copy_psnr": (float(curve(baseline.scores, PREDICTIONS, "psnr", "best_seq").mean[-1])
                           if baseline is not None else None),
        "fvd": stat(fvd.get(PREDICTIONS)),
        "fvd_copy": stat(baseline.scores["fvd"].get(PREDICTIONS)) if baseline is not None else None,
        "versus": [X.beats_sentence(v.name, v.leaderboard.measured) for v in inp.benchmarks if v.runs],
        "benchmarks": [{"name": v.name, "runs": [r.name for r in v.runs], "protocol": v.config.protocol,
                        "leaderboard": v.leaderboard, **long_horizon_facts(inp, v), **seed_facts(inp, v)}
                       for v in inp.benchmarks],
        "sharpness_text": Z.SHARPNESS_TEXT,
        "temperature_run": inp.temperature.run if inp.temperature is not None else None,
        "noisy_vq": [{"run": st.run, "benchmark": st.benchmark, "sigmas": st.sigmas, "seeds": st.data["seeds"]}
                     for st in studies],
        "noisy_vq_verdicts": NV.verdict_counts(studies),
    }
    utc = repro.utc(epoch)
    return {
        "items": reg.items, "ref": reg.ref,
        "outline": numbered_outline([v.name for v in inp.benchmarks], vq=main.vq is not None),
        "facts": facts, "discussion": discussion_facts(inp),
        "cite": cite, "xu": xu, "seed": seed, "bibliography": bibliography(),
        "fmt": X.fmt, "fmt_sci": X.fmt_sci, "fmt_stat": X.fmt_stat, "pct": X.pct,
        "date": f"{utc:%Y-%m-%d}", "date_iso": f"{utc:%Y-%m-%dT%H:%M:%SZ}", "date_source": epoch_source, "epoch": epoch,
        "commit": repro.git_commit(root), "profile": profile, "profile_note": profile_note,
        "python": platform.python_version(), "timings_href": TIMINGS_FILE,
    }


def vq_discussion(main: MainRun) -> tuple[list[Markup], list[Markup]]:
    """The Discussion's reconstruction and prior sentences; none for a run without the VQ fields."""
    if main.vq is None:
        return [], []
    vm = main.train_metrics["vqvae"]
    vq = [Markup(f"On test clips the VQ-VAE reaches MSE {X.fmt_sci(vm['test']['mse_normalized'], 4)} (normalised), "
                 f"against {X.fmt_sci(vm['train']['mse_normalized'], 4)} on training clips and "
                 f"{X.fmt_sci(vm['val']['mse_normalized'], 4)} on validation clips; PSNR "
                 f"{X.fmt(vm['test']['psnr'], 2)} dB, SSIM {X.fmt(vm['test']['ssim'], 3)}.")]
    used = [(level, vm["test"].get(f"{level}_codes_used")) for level in ("top", "bottom")]
    if all(isinstance(u, (int, float)) for _, u in used):
        k = len(main.vq.code_counts["top"])
        vq.append(Markup("The test clips use " + " and ".join(f"{int(u)} of {k} {lvl} codes" for lvl, u in used) + "."))
    return vq, [X.prior_facts(level, main.train_metrics[f"prior_{level}"]) for level in ("top", "bottom")]


def discussion_facts(inp: Inputs) -> dict[str, list[Markup]]:
    main = inp.main
    scores, base = main.result.scores, main.baseline
    vq, priors = vq_discussion(main)
    prediction: list[Markup] = []
    if base is None:
        prediction.append(Markup(f"Benchmark <code>{escape(main.run.benchmark)}</code> has no copy-last run, so the "
                                 "predictions are compared with no baseline here."))
    for metric in METRICS:
        if base is None:
            break
        model = {"best-of-N per sequence": curve(scores, PREDICTIONS, metric, "best_seq").mean,
                 "mean-of-N": curve(scores, PREDICTIONS, metric, "mean").mean}
        prediction += X.timestep_comparison(metric, model, curve(base.scores, PREDICTIONS, metric, "best_seq").mean)
        avg = X.average_comparison(metric, average(scores, PREDICTIONS, metric), average(base.scores, PREDICTIONS, metric))
        if avg is not None:
            prediction.append(avg)
    hierarchy = [h for h in (X.hierarchy_comparison(m, average(scores, "recon", m), average(scores, "top_only", m),
                                                    average(scores, "bottom_only", m)) for m in METRICS) if h is not None]
    fvd = X.fvd_facts(scores["fvd"], base.scores["fvd"] if base is not None else None)
    ranking = [r for v in inp.benchmarks if v.leaderboard is not None
               for r in (X.ranking_facts(v.name, v.leaderboard.measured), X.fvd_rank_facts(v.name, v.leaderboard.measured),
                         X.baseline_facts(v.name, v.leaderboard.measured))
               if r is not None]
    theses = [Markup("On <code>{}</code>: {}").format(v.name, f) for v in inp.benchmarks
              for f in seed_facts(inp, v)["findings"]]
    return {"vqvae": vq, "priors": priors, "prediction": prediction, "hierarchy": hierarchy,
            "fvd": [fvd] if fvd is not None else [], "benchmarks": ranking, "theses": theses}


def long_horizon_facts(inp: Inputs, view) -> dict[str, Any]:
    """The benchmark's long-horizon protocol (params), its test clips (rows.json) and the sentences on how
    its runs degrade; None and [] where it has none."""
    lh, lb = view.config.long_horizon, view.leaderboard
    if lh is None or lb is None or lb.long_horizon is None:
        return {"long_horizon": None, "long_clips": None, "long_facts": []}
    return {"long_horizon": lh, "long_clips": lb.long_horizon.get("clips"),
            "long_facts": X.long_horizon_facts(view.name, lb.measured, lh.horizon, inp.main.run.name)}


def seed_facts(inp: Inputs, view) -> dict[str, Any]:
    """The benchmark's paragraph per seed 001/004 run, its checks against the theses' findings, and
    which of its figures and tables exist (the template shows only those)."""
    train = {r.name: r.run.train_params for r in view.runs}
    runs = Z.seed_runs(view, train)
    p = view.config.protocol
    return {"paragraphs": [Z.paragraph(r, p.num_samples, p.horizon) for r in runs],
            "findings": Z.findings(view, runs), "ablations": [a.run for a in view.ablations],
            "temperature": inp.temperature is not None and any(r.name == inp.temperature.run for r in view.runs),
            "has_bits": any(isinstance(r.train.get("bits_per_dim"), (int, float)) for r in runs)}


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
    """WeasyPrint's PDF, with the document dates from the template's dcterms metadata and the embedded
    font subsets' 'head' timestamps from SOURCE_DATE_EPOCH (fontTools reads it; without it every run
    would stamp the current time into the fonts), with the fonts inside matplotlib's wheel and no
    other (genvid.report.fonts)."""
    return pdf_with_bundled_fonts(html, epoch)


# ----------------------------------------------------------------------------- wall times (untracked)

TIMINGS_FILE = "timings.html"  # next to report.html; linked from the appendix
STAGE_ORDER = ("collect", "split", "normalize", "metric_weights", "train", "sample", "evaluate", "leaderboard",
               "report")


def _stage_key(name: str) -> tuple[int, str]:
    kind = name.split("@", 1)[0]
    return (STAGE_ORDER.index(kind) if kind in STAGE_ORDER else len(STAGE_ORDER), name)


def timings_page(timings: dict[str, float]) -> str:
    """A small standalone HTML table of each stage's wall time (genvid.timings), DAG order."""
    rows = []
    for name in sorted(timings, key=_stage_key):
        s = timings[name]
        rows.append(f"<tr><td><code>{escape(name)}</code></td><td class=\"r\">{s:,.1f}</td>"
                    f"<td class=\"r\">{int(s // 3600)}:{int(s % 3600 // 60):02d}:{s % 60:04.1f}</td></tr>")
    total = sum(timings.values())
    body = "\n".join(rows) if rows else '<tr><td colspan="3">No stage recorded a wall time in this workspace.</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>genvid: wall time of each stage</title>
<style>
body {{ font-family: "DejaVu Serif", Georgia, serif; max-width: 40em; margin: 2em auto; }}
table {{ border-collapse: collapse; border-top: 1.4pt solid #222; border-bottom: 1.4pt solid #222; }}
th {{ border-bottom: 0.7pt solid #222; text-align: left; padding: 4px 10px; }}
td {{ padding: 2px 10px; }} .r {{ text-align: right; font-variant-numeric: tabular-nums; }}
p {{ color: #555; }}
</style>
</head>
<body>
<h1>Wall time of each stage</h1>
<p>Measured by each stage in this workspace (<code>logs/timings/</code>, written by <code>genvid.timings</code>). The
times depend on the machine and its load, so they are kept out of <code>report.html</code> and
<code>report.pdf</code>, which must come out byte-identical when rebuilt. Each time is the stage's own,
from its start to its outputs written: the wall time of a whole <code>dvc repro</code> adds, per stage,
the start of Python and PyTorch and DVC's hashing and lock-file updates.</p>
<table>
<thead><tr><th>Stage</th><th class="r">Seconds</th><th class="r">h:mm:ss</th></tr></thead>
<tbody>
{body}
</tbody>
<tfoot><tr><th>All recorded stages</th><th class="r">{total:,.1f}</th><th></th></tr></tfoot>
</table>
</body>
</html>
"""


def build_report(paths: ReportPaths, out_html: str | Path, out_pdf: str | Path | None,
                 opts: Options = Options()) -> Path:
    """Validate every input, render both files in memory, then write them (atomically), and the
    untracked wall-time companion next to the HTML; returns the companion's path. ``out_pdf`` None:
    the HTML only (the tests that read the HTML skip the PDF's seconds of layout)."""
    inp = read_inputs(paths, main_clips=max(opts.main_clips, opts.sample_clips, 1),
                      benchmark_clips=max(opts.benchmark_clips, 1))
    context = collect(inp, opts)
    html = render(context, pdf=False)
    pdf = None if out_pdf is None else html_to_pdf(render(context, pdf=True), context["epoch"])
    for path, data in ((out_html, html.encode("utf-8")), (out_pdf, pdf)):
        if path is None:
            continue
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    companion = Path(out_html).parent / TIMINGS_FILE
    atomic_write_text(companion, timings_page(read_timings(paths.root)))
    return companion
