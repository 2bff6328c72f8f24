"""The report stage: self-contained HTML + PDF, every reference resolves, byte-identical rebuilds,
one-line errors on bad input with nothing written."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from genvid.errors import GenvidError
from genvid.io import write_json
from genvid.models.store import save_model
from genvid.models.vqvae3d import VQVAE3D, VQVAEConfig
from genvid.report import repro
from genvid.report.build import Options, build_report
from genvid.report.inputs import ReportPaths, read_eval_metrics, stat
from genvid.report.text import fmt_stat, ranges
from conftest import ROOT, make_frames_file

torch.set_num_threads(1)

TINY_VQVAE = dict(in_channels=3, channels=8, res_channels=4, res_blocks=1, codebook_size=16, code_dim=4,
                  beta=0.25, ema_decay=0.99, ema_eps=1e-5, dead_code_restart=False, dead_code_threshold=1.0,
                  noisy_sigma=0.0)
METRIC_BASE = {"psnr": 20.0, "ssim": 0.6, "lpips": 0.3, "mse": 0.01}


def write_tsv(path: Path, header: list[str], rows: list[list[float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(f"{v:.7g}" for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def _summary(mean: float, half: float) -> dict:
    return {"mean": mean, "ci95": [mean - half, mean + half]}


def make_inputs(root: Path, num_samples: int = 2) -> ReportPaths:
    """Every input of the report, small: real data stages on a synthetic recording, synthetic
    training curves, prior metrics, samples and evaluation outputs in the contract's layout."""
    from stages import eval_vqvae, extract_latents, normalize, split

    paths = ReportPaths.under(root)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["collect"]["resolution"] = 16
    params["vqvae"] = dict(TINY_VQVAE)
    params["prior_top"] = {"channels": 16, "res_blocks": 1, "attention": True, "seed": 3}
    params["prior_bottom"] = {"channels": 16, "res_blocks": 1, "attention": False}
    paths.params.write_text(yaml.safe_dump(params, sort_keys=False))
    paths.frames.parent.mkdir(parents=True)
    make_frames_file(paths.frames, lengths=(80, 80, 80, 80), resolution=16)
    common = ["--params", str(paths.params), "--frames", str(paths.frames)]
    split.main(common + ["--out", str(paths.split)])
    normalize.main(common + ["--split", str(paths.split), "--out", str(paths.stats)])
    torch.manual_seed(0)
    save_model(paths.vqvae, "vqvae3d", VQVAEConfig(**TINY_VQVAE).to_dict(), VQVAE3D(VQVAEConfig(**TINY_VQVAE)))
    data = common + ["--split", str(paths.split), "--stats", str(paths.stats), "--model", str(paths.vqvae)]
    extract_latents.main(data + ["--out", str(paths.latents)])
    eval_vqvae.main(data + ["--out", str(paths.vqvae_metrics)])

    steps = np.arange(10, 110, 10)
    write_tsv(paths.vqvae_curves / "train.tsv", ["step", "loss", "commitment", "mse", "perplexity_bottom",
                                                 "perplexity_top", "lr"],
              [[s, 1 / s, 0.1 / s, 0.9 / s, 5 + s / 20, 3 + s / 30, 1e-3] for s in steps])
    write_tsv(paths.vqvae_curves / "val.tsv", ["step", "loss", "commitment", "mse"],
              [[s, 1.1 / s, 0.1 / s, 1.0 / s] for s in (50, 100)])
    for level, curves in (("top", paths.prior_top_curves), ("bottom", paths.prior_bottom_curves)):
        write_tsv(curves / "train.tsv", ["step", "loss", "accuracy", "lr"], [[s, 3 - s / 100, s / 200, 1e-3] for s in steps])
        write_tsv(curves / "val.tsv", ["step", "loss", "accuracy"], [[s, 3.1 - s / 100, s / 210] for s in (50, 100)])
        write_json(paths.prior_top_metrics if level == "top" else paths.prior_bottom_metrics, {
            **{split_: {"nll_nats": 2.0 + i * 0.1, "bits_per_code": (2.0 + i * 0.1) / np.log(2), "accuracy": 0.3}
               for i, split_ in enumerate(("train", "val", "test"))},
            "baselines": {"uniform_bits": 4.0, "unigram_bits": 3.5}, "parameters": 12345})

    # samples.h5: the test clips, their "reconstruction" and noisy "samples" (contract layout)
    split_data = json.loads(paths.split.read_text())["splits"]["test"]
    with h5py.File(paths.frames, "r") as f:
        starts = [s for a, b in split_data["ranges"] for s in range(a, b - 15, 8)]
        real = np.stack([f["frames"][s:s + 16] for s in starts])
    rng = np.random.default_rng(0)

    def noisy(x, scale):
        return np.clip(x.astype(np.int16) + rng.integers(-scale, scale + 1, x.shape), 0, 255).astype(np.uint8)

    n = len(real)
    paths.samples.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(paths.samples, "w") as f:
        f["real"], f["recon"] = real, noisy(real, 10)
        for name in ("full", "top_only", "bottom_only"):
            f[name] = noisy(np.repeat(real[:, None], num_samples, axis=1), 40)
        f["clip_index"], f["start"] = np.arange(n), np.asarray(starts)
        f.attrs.update(context_frames=8, num_samples=num_samples, temperature=1.0, top_k=0, clip_len=16, seed=7)

    metrics = {}
    for variant, shift in (("full", 0.0), ("top_only", 0.5), ("bottom_only", 0.2)):
        metrics[variant] = {m: {"best_of_n": _summary(v + shift, 0.1), "mean_of_n": _summary(v, 0.1)}
                            for m, v in METRIC_BASE.items()}
    metrics["recon"] = {m: _summary(v + 1.0, 0.1) for m, v in METRIC_BASE.items()}
    metrics["copy_last"] = {m: _summary(v + 0.3, 0.1) for m, v in METRIC_BASE.items()}
    metrics["fvd"] = {"full": 500.0, "copy_last": 650.0, "recon": 120.0, "full_vs_recon": 300.0, "clips": n,
                      "skipped": None, "note": "few videos: FVD is biased upward."}
    metrics["protocol"] = {"num_samples": num_samples, "context_frames": 8,
                           "ssim": {"window": "gaussian", "taps": 11, "sigma": 1.5}, "frame_size": [16, 16]}
    write_json(paths.metrics, metrics)
    # per-timestep TSVs as genvid.evaluation writes them: t = 1..8 is frame 8..15; means, then [lo, hi]
    series = ["full_best", "full_mean", "top_only_best", "top_only_mean", "bottom_only_best", "bottom_only_mean",
              "recon", "copy_last"]
    columns = ["timestep", "frame", *series, *(f"{s}_{e}" for s in series for e in ("lo", "hi"))]
    for m, v in METRIC_BASE.items():  # the model is ahead of copy-last early and behind late
        rows = []
        for t in range(1, 9):
            means = [v - (t - 1) / 10, v - (t - 1) / 8, v, v, v, v, v + 1, v - 0.35]
            rows.append([t, t + 7, *means, *(x + d for x in means for d in (-0.05, 0.05))])
        write_tsv(paths.eval_dir / f"{m}.tsv", columns, rows)
    return paths


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    paths = make_inputs(root)
    out = root / "reports"
    with pytest.MonkeyPatch.context() as mp:  # the date then comes from git or the fixed default
        mp.delenv("SOURCE_DATE_EPOCH", raising=False)
        build_report(paths, out / "report.html", out / "report.pdf", Options())
    return paths, out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_html_and_pdf_are_written(built):
    _, out = built
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")
    for chapter in ("Data", "Preprocessing", "Models", "Training", "Results", "Discussion", "Reproducibility", "References"):
        assert f'<span class="chaptitle">{chapter}</span>' in html
    # the abstract states the measured numbers
    assert ("best-of-2 PSNR\nat the last predicted frame is 19.30 dB against\n19.65 dB for copying the last context frame; "
            "averaged over the predicted frames it is\n20.00 dB against 20.30 dB.") in html
    assert html.count('src="data:image/gif;base64,') == 2  # one animation per sampled clip (HTML only)
    # the Discussion states where the model beats the baseline, per metric and timestep
    assert ("PSNR, best-of-N: the full model beats copying the last context frame at timesteps 1–4 and "
            "loses at 5–8 (of 8 predicted)") in html
    assert "MSE, best-of-N: the full model beats copying the last context frame at timesteps 5–8" in html


def test_every_reference_exists_in_order(built):
    _, out = built
    html = (out / "report.html").read_text()
    captions = re.findall(r'<span class="label">((?:Figure|Table) [0-9A]+\.\d+):</span>', html)
    assert len(captions) == len(set(captions)) and len(captions) > 20
    referenced = set(re.findall(r'class="ref" href="#[^"]+">((?:Figure|Table) [0-9A]+\.\d+)</a>', html))
    assert referenced and referenced <= set(captions)
    plain = re.sub(r"<[^>]+>", "", html)
    # every "Figure N"/"Table N" in the text is one of ours (pinpoint citations "[1, Table 5.3]" are the thesis's)
    assert set(re.findall(r"(?<!\[1, )\b(?:Figure|Table) [0-9A]\.\d+\b", plain)) <= set(captions)
    for kind in ("Figure", "Table"):  # numbered in document order, per chapter
        seen = [c.split()[1] for c in captions if c.startswith(kind)]
        chapter_seq = [s.split(".")[0] for s in seen]
        assert chapter_seq == sorted(chapter_seq, key="123456A".index)
        for ch in set(chapter_seq):
            assert [int(s.split(".")[1]) for s in seen if s.split(".")[0] == ch] == list(range(1, chapter_seq.count(ch) + 1))
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    assert set(re.findall(r'href="#([^"]+)"', html)) <= ids  # TOC, refs and citations all resolve


def test_html_is_self_contained(built):
    _, out = built
    html = (out / "report.html").read_text()
    assert not re.search(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//', html)
    assert "<link" not in html and "@import" not in html
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
    assert sources and all(s.startswith(("data:image/png;base64,", "data:image/gif;base64,")) for s in sources)


def _pdf_text(pdf: bytes) -> bytes:
    """The PDF with every Flate stream inflated (the info dict sits in a compressed object stream)."""
    parts = [pdf]
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            parts.append(zlib.decompress(m.group(1)))
        except zlib.error:
            pass
    return b"\n".join(parts)


def test_pdf_metadata_is_fixed(built, monkeypatch):
    paths, out = built
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    epoch, source = repro.report_epoch(paths.params.parent)
    stamp = repro.utc(epoch).strftime("D:%Y%m%d%H%M%SZ").encode()
    text = _pdf_text((out / "report.pdf").read_bytes())
    assert b"/CreationDate (" + stamp + b")" in text and b"/ModDate (" + stamp + b")" in text
    assert b"/ID" not in text
    assert f'{repro.utc(epoch):%Y-%m-%d} <span class="muted">({source})' in (out / "report.html").read_text()
    assert len(re.findall(rb"/Type\s*/Page\b", text)) > 10


def test_report_date_never_comes_from_the_clock(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert repro.report_epoch(tmp_path) == (1700000000, "SOURCE_DATE_EPOCH")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(GenvidError, match="SOURCE_DATE_EPOCH"):
        repro.report_epoch(tmp_path)
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert repro.report_epoch(tmp_path)[0] == repro.FALLBACK_EPOCH  # tmp_path is no git checkout


def test_rebuild_is_byte_identical(built, tmp_path, monkeypatch):
    """Built seconds apart: no wall-clock time leaks in (fontTools would stamp it into the
    embedded font subsets without SOURCE_DATE_EPOCH)."""
    paths, out = built
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    build_report(paths, tmp_path / "report.html", tmp_path / "report.pdf", Options())
    assert _sha(tmp_path / "report.html") == _sha(out / "report.html")
    assert _sha(tmp_path / "report.pdf") == _sha(out / "report.pdf")


def _copy_inputs(paths: ReportPaths, dst: Path) -> ReportPaths:
    shutil.copytree(paths.params.parent, dst, dirs_exist_ok=True)
    for name in ("report.html", "report.pdf"):
        (dst / "reports" / name).unlink(missing_ok=True)
    return ReportPaths.under(dst)


def _run_stage(paths: ReportPaths, capsys) -> tuple[int, str]:
    from stages import report

    root = paths.params.parent
    args = [f"--{name.replace('_', '-')}={getattr(paths, name)}" for name in ReportPaths.__dataclass_fields__]
    with pytest.raises(SystemExit) as exit_info:
        report.main(args + [f"--out-html={root / 'reports/report.html'}", f"--out-pdf={root / 'reports/report.pdf'}"])
    return exit_info.value.code, capsys.readouterr().err


def _corrupt_samples(paths: ReportPaths) -> str:
    with h5py.File(paths.samples, "a") as f:
        real = f["real"][:, :12]
        del f["real"]
        f["real"] = real
    return "'real' is uint8 ["


def _corrupt_metrics(paths: ReportPaths) -> str:
    data = json.loads(paths.metrics.read_text())
    del data["full"]["psnr"]
    paths.metrics.write_text(json.dumps(data))
    return "missing key 'full.psnr'"


def _corrupt_curves(paths: ReportPaths) -> str:
    (paths.prior_top_curves / "val.tsv").write_text("step\taccuracy\n1\t0.5\n")
    return "missing column 'loss'"


def _corrupt_context(paths: ReportPaths) -> str:
    with h5py.File(paths.samples, "a") as f:
        f.attrs["context_frames"] = 16
    return "attribute 'context_frames' must be an integer in [1, 16)"


def _corrupt_params(paths: ReportPaths) -> str:
    params = yaml.safe_load(paths.params.read_text())
    params["vqvae"]["channels"] = 9
    paths.params.write_text(yaml.safe_dump(params))
    return "vqvae.pt: trained with vqvae.channels=8 but"


@pytest.mark.parametrize("corrupt", [_corrupt_samples, _corrupt_metrics, _corrupt_curves, _corrupt_context,
                                     _corrupt_params])
def test_bad_input_is_one_line_and_writes_nothing(built, tmp_path, capsys, corrupt):
    paths = _copy_inputs(built[0], tmp_path)
    expected = corrupt(paths)
    code, err = _run_stage(paths, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err, err
    assert not (tmp_path / "reports" / "report.html").exists() and not (tmp_path / "reports" / "report.pdf").exists()
    assert not list((tmp_path / "reports").glob(".report.*"))  # no temp files left behind


def test_readers_accept_every_summary_shape(tmp_path):
    assert stat({"mean": 2.0, "ci95": [1.5, 2.5]}) == stat({"mean": 2.0, "ci95": 0.5})
    assert stat({"average": {"mean": 2.0, "ci95": None}}).lo is None
    assert stat(3) .mean == 3.0 and stat("x") is None
    assert fmt_stat(stat({"mean": 2.0, "ci95": 0.5}), 2) == '2.00 <span class="ci">± 0.50</span>'
    assert ranges([8, 9, 10, 13, 15, 16]) == "8–10, 13, 15–16"
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"full": {"psnr": {"best_of_n": {"mean": 1.0}}}, "copy_last": {}}))
    with pytest.raises(GenvidError, match="missing key 'copy_last.psnr'"):
        read_eval_metrics(path)


def test_snakemake_report_captions_exist():
    from workflow.report import WORKFLOW_RST, report_spec

    assert (ROOT / WORKFLOW_RST).is_file()
    for out in ("reports/report.html", "reports/report.pdf", "reports/metrics.json", "reports/eval/psnr.tsv",
                "reports/train_vqvae/train.tsv", "reports/train_prior_bottom/val.tsv", "reports/prior_top_metrics.json"):
        spec = report_spec(out)
        assert spec is not None and (ROOT / spec["caption"]).is_file(), out
    assert report_spec("reports/eval/psnr.tsv")["category"] == "Evaluation"
    assert report_spec("data/raw/frames.h5") is None and report_spec("models/vqvae.pt") is None


def test_lock_table_checks_artefacts_against_disk(tmp_path):
    good, stale = tmp_path / "a.json", tmp_path / "b.json"
    good.write_text("{}\n")
    stale.write_text("[1]\n")
    lock = tmp_path / "dvc.lock"
    lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": {
        "eval": {"outs": [{"path": "a.json", "md5": hashlib.md5(b"{}\n").hexdigest(), "size": 3},
                          {"path": "b.json", "md5": hashlib.md5(b"[2]\n").hexdigest(), "size": 4},
                          {"path": "gone.h5", "md5": "0" * 32, "size": 10}]},
        "report": {"outs": [{"path": "reports/report.html", "md5": "1" * 32, "size": 1}]}}}))
    rows = repro.lock_artefacts(lock, exclude_stage="report")
    assert [(r["path"], r["check"]) for r in rows] == [("a.json", "md5 ✓"), ("b.json", "differs"), ("gone.h5", "missing")]
    assert repro.lock_artefacts(tmp_path / "absent.lock") is None
