"""The leaderboard (issue 9 item 4): every run in params is a measured row, once; published rows are
marked, sourced, flagged with their protocol differences and never in the metrics file; protocol
deviations are flagged, not dropped; the files are byte-stable and hold no wall time.

The run outputs are made by genvid.evaluation's own writers (summarize, headline, protocol,
write_outputs) from seeded per-frame scores, so the test reads exactly the format evaluate writes.
"""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import ROOT, venv_env
from genvid import evaluation as E
from genvid import leaderboard as L
from genvid import published as pub
from genvid.data.samples import read_long_horizon, read_samples_info, write_samples
from genvid.errors import GenvidError
from genvid.io import write_json
from genvid.layout import benchmark_paths, run_paths
from genvid.metrics import stats
from genvid.params import EvaluateConfig
from genvid.timings import record
from stages.leaderboard import main

CONTEXT, HORIZON, SAMPLES, CLIPS, REPEATS = 2, 3, 3, 6, 3
PROTOCOL = {"context_frames": CONTEXT, "horizon": HORIZON, "num_samples": SAMPLES, "test_stride": 5,
            "block_clips": 2, "max_clips": 0}
RUNS = {"driving-copy_last": ("driving", "copy_last"), "smmnist-copy_last": ("smmnist", "copy_last"),
        "smmnist-vq": ("smmnist", "vq")}
FILES = ("leaderboard.json", "rows.json", "leaderboard.tsv")


def write_params(root: Path, protocol: dict | None = None) -> Path:
    params = {"repro": {"threads": 1},
              "benchmarks": {b: {"protocol": dict(protocol or PROTOCOL)} for b in ("driving", "smmnist")},
              "runs": {name: {"benchmark": b, "model": m} for name, (b, m) in RUNS.items()}}
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


LONG_CLIPS, LONG_HORIZON, LONG_SAMPLES = 4, 6, 2


def fake_run(root: Path, run: str, benchmark: str, seed: int, one_cluster: bool = False,
             train_metrics: dict | None = None, long_lpips: np.ndarray | None = None) -> None:
    """A run's evaluate outputs from seeded scores, written by genvid.evaluation, and train_metrics.json;
    with ``long_lpips`` (per-frame LPIPS [LONG_CLIPS, LONG_SAMPLES, LONG_HORIZON]), a long horizon too."""
    paths = run_paths(run, benchmark, root)
    with write_samples(paths.samples, CLIPS, (32, 32, 1), CONTEXT, HORIZON, SAMPLES,
                       {"run": run, "benchmark": benchmark}) as w:
        w.write(slice(0, CLIPS), np.zeros((CLIPS, CONTEXT + HORIZON, 32, 32, 1), np.uint8),
                np.zeros((CLIPS, SAMPLES, HORIZON, 32, 32, 1), np.uint8),
                episode=np.zeros(CLIPS, np.int64), start=np.arange(CLIPS) * 5,
                cluster=np.zeros(CLIPS, np.int64) if one_cluster else np.arange(CLIPS) // 2)
        if long_lpips is not None:
            w.long_horizon(LONG_CLIPS, CONTEXT, LONG_HORIZON, LONG_SAMPLES).write(
                slice(0, LONG_CLIPS), np.zeros((LONG_CLIPS, CONTEXT + LONG_HORIZON, 32, 32, 1), np.uint8),
                np.zeros((LONG_CLIPS, LONG_SAMPLES, LONG_HORIZON, 32, 32, 1), np.uint8),
                episode=np.zeros(LONG_CLIPS, np.int64), start=np.arange(LONG_CLIPS) * 8,
                cluster=np.arange(LONG_CLIPS))
    info = read_samples_info(paths.samples)
    rng = np.random.default_rng(seed)
    shape = (CLIPS, SAMPLES, HORIZON)
    per_frame = {E.PREDICTIONS: {"mse": rng.uniform(0.01, 0.1, shape), "psnr": rng.uniform(10, 25, shape),
                                 "ssim": rng.uniform(0.3, 0.9, shape), "lpips": rng.uniform(0.05, 0.5, shape)}}
    features = {"real": rng.normal(size=(CLIPS, 4)), E.PREDICTIONS: rng.normal(size=(CLIPS, SAMPLES, 4))}
    cfg = EvaluateConfig(fvd_repeats=REPEATS, bootstrap=100, seed=0)
    result = E.summarize(E.Scores(per_frame, features, rng.uniform(0.0, 0.4, CLIPS)), info, cfg, None)
    proto, long_tables = E.protocol(info, cfg), None
    if long_lpips is not None:
        long = E.LongHorizon(read_long_horizon(paths.samples), 1)
        shape = (LONG_CLIPS, LONG_SAMPLES, LONG_HORIZON)
        scores = E.Scores({E.PREDICTIONS: {"mse": rng.uniform(0.01, 0.1, shape), "psnr": rng.uniform(10, 25, shape),
                                           "ssim": rng.uniform(0.3, 0.9, shape), "lpips": long_lpips}},
                          {"real": rng.normal(size=(LONG_CLIPS, 4)), E.PREDICTIONS: rng.normal(size=(*shape[:2], 4))},
                          rng.uniform(0.0, 0.4, LONG_CLIPS))
        result[E.LONG_HORIZON] = E.long_horizon_result(scores, long, cfg, None)
        proto[E.LONG_HORIZON] = E.long_protocol(long)
        long_tables = (result[E.LONG_HORIZON], long.info)
    train = train_metrics or {"parameters": 1000 + seed}
    E.write_outputs(paths.report_dir, E.headline(result, train.get("bits_per_dim")), result,
                    proto, E.timestep_tables(result, info, long_tables))
    write_json(paths.report_dir / "train_metrics.json", train)


@pytest.fixture
def root(tmp_path):
    write_params(tmp_path)
    fake_run(tmp_path, "driving-copy_last", "driving", 0, one_cluster=True, train_metrics={"parameters": 0})
    fake_run(tmp_path, "smmnist-copy_last", "smmnist", 1, train_metrics={"parameters": 0})
    fake_run(tmp_path, "smmnist-vq", "smmnist", 2, train_metrics={"parameters": 4321, "bits_per_dim": 1.25})
    return tmp_path


def run_stage(root: Path, benchmark: str) -> Path:
    main(["--benchmark", benchmark, "--params", str(root / "params.yaml"), "--root", str(root)])
    return benchmark_paths(benchmark, root).leaderboard


def read_tsv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text()), delimiter="\t"))


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in FILES}


# ----------------------------------------------------------------------------- every run, once

def test_every_run_in_params_appears_once_as_a_measured_row(root):
    seen = []
    for benchmark in ("driving", "smmnist"):
        rows = L.build_rows(root / "params.yaml", benchmark, root)["rows"]
        measured = [r["run"] for r in rows if r["kind"] == L.MEASURED]
        assert sorted(measured) == sorted(n for n, (b, _) in RUNS.items() if b == benchmark)
        fvd = [r["metrics"]["fvd"]["mean"] for r in rows if r["kind"] == L.MEASURED]
        assert fvd == sorted(fvd)  # ranked by FVD, lowest first
        assert [r["run"] for r in rows if r.get("baseline")] == [n for n, (b, m) in RUNS.items()
                                                                  if b == benchmark and m == "copy_last"]
        # learned: read from train_metrics.json's parameter count, never from the model's name
        assert all(r["learned"] == (r["parameters"] > 0) for r in rows if r["kind"] == L.MEASURED)
        assert {r["run"] for r in rows if r["kind"] == L.MEASURED and not r["learned"]} == {f"{benchmark}-copy_last"}
        kinds = [r["kind"] for r in rows]
        assert kinds == sorted(kinds, key=lambda k: k != L.MEASURED)  # measured rows first
        seen += measured
    assert sorted(seen) == sorted(RUNS)
    assert len(seen) == len(set(seen))


def test_the_stage_writes_one_tsv_line_per_row(root):
    out = run_stage(root, "smmnist")
    lines = read_tsv(out / "leaderboard.tsv")
    rows = json.loads((out / "rows.json").read_text())["rows"]
    assert [(l["kind"], l["name"]) for l in lines] == [(r["kind"], r.get("run", r["model"])) for r in rows]
    assert [l["name"] for l in lines if l["kind"] == "measured"] == ["smmnist-copy_last", "smmnist-vq"]
    assert len([l for l in lines if l["kind"] == "published"]) == len(pub.published_rows("smmnist")) > 0


@pytest.mark.parametrize("name", ["scores.json", "metrics.json", "protocol.json", "train_metrics.json"])
def test_a_missing_run_output_is_one_line_naming_the_file(root, name, capsys):
    missing = run_paths("smmnist-vq", "smmnist", root).report_dir / name
    missing.unlink()
    with pytest.raises(GenvidError) as err:
        L.build_rows(root / "params.yaml", "smmnist", root)
    assert str(missing) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(SystemExit) as exit_:
        run_stage(root, "smmnist")
    assert exit_.value.code == 2
    stderr = capsys.readouterr().err.strip()
    assert stderr.startswith("error: ") and str(missing) in stderr and "\n" not in stderr
    assert not benchmark_paths("smmnist", root).leaderboard.exists()  # nothing half-written


def test_an_unknown_benchmark_and_a_malformed_score_are_one_line(root):
    with pytest.raises(GenvidError, match=r"benchmark 'bair' is not in benchmarks"):
        L.build_rows(root / "params.yaml", "bair", root)
    scores_path = run_paths("smmnist-vq", "smmnist", root).report_dir / "scores.json"
    scores = json.loads(scores_path.read_text())
    del scores["series"]["predictions"]["ssim"]["best_step"]
    write_json(scores_path, scores)
    with pytest.raises(GenvidError, match=r"scores\.json: key 'series\.predictions\.ssim\.best_step' missing"):
        L.build_rows(root / "params.yaml", "smmnist", root)


# ----------------------------------------------------------------------------- published rows

def test_published_rows_are_marked_sourced_flagged_and_never_in_the_metrics(root):
    out = run_stage(root, "smmnist")
    rows = json.loads((out / "rows.json").read_text())
    published = [r for r in rows["rows"] if r["kind"] == L.PUBLISHED]
    assert len(published) == len(pub.published_rows("smmnist"))
    for row in published:
        assert row["source"]["seed"] in ("001", "004") and row["source"]["table"].startswith("Table ")
        assert re.search(r"§\d", row["source"]["where"]) and "p." in row["source"]["where"]
        assert row["differences"], row["model"]
        assert {"item", "published", "genvid"} <= set(row["differences"][0])
        assert "run" not in row and "protocol_ok" not in row  # nothing that reads as a measurement
    for row in rows["rows"]:
        if row["kind"] == L.MEASURED:
            assert "source" not in row and "differences" not in row
    metrics = json.loads((out / "leaderboard.json").read_text())
    assert set(metrics) == {"smmnist-copy_last", "smmnist-vq"}  # measured runs only
    for keys in metrics.values():  # numbers only, a few headline keys
        assert set(keys) <= {"psnr", "ssim", "lpips", "fvd", "diversity"}
        assert all(isinstance(v, float) for v in keys.values())
    published_names = {r["model"] for r in published}
    assert not published_names & set(metrics)
    for line in read_tsv(out / "leaderboard.tsv"):
        if line["kind"] == "published":
            # no interval, no protocol flag, no parameter count: only the source's own figures
            assert all(line[c] == "" for c in L.TSV_COLUMNS if c.endswith(("_lo", "_hi")) or c == "fvd_sd")
            assert line["published_pm"] or line["ssim_best_seq"] == ""
            assert line["protocol_ok"] == "" and line["parameters"] == "" and line["source"].startswith("seed ")
            assert line["differences"]
        else:
            assert line["source"] == "" and line["differences"] == "" and line["published_pm"] == ""


def test_ranked_puts_the_lowest_fvd_first_then_runs_without_one_in_params_order():
    def row(run, fvd):
        return {"run": run, "metrics": {"fvd": None if fvd is None else {"mean": fvd}}}

    rows = [row("a", None), row("b", 300.0), row("c", 250.0), row("d", None), row("e", 300.0)]
    assert [r["run"] for r in L.ranked(rows)] == ["c", "b", "e", "a", "d"]


def test_runs_whose_fvd_intervals_overlap_share_a_rank_by_hand():
    def row(run, mean, ci):
        return {"run": run, "metrics": {"fvd": {"mean": mean, "ci95": ci}}}

    rows = L.ranked([row("a", 100.0, [90.0, 110.0]), row("b", 105.0, [95.0, 130.0]), row("c", 150.0, [135.0, 170.0]),
                     row("d", 120.0, [111.0, 160.0]), row("e", 200.0, None), {"run": "f", "metrics": {"fvd": None}}])
    # d's interval starts above a's alone; c's above a's and b's; b overlaps a: first with it
    assert [(r["run"], r["fvd_rank"]) for r in rows] == [("a", 1), ("b", 1), ("d", 2), ("c", 3), ("e", None),
                                                         ("f", None)]


def test_published_values_as_the_seed_tables_print_them():
    """Transcribed from seed 004 Table 4.3 and seed 001 Tables 9.4-9.5."""
    got = {(r.source.seed, r.source.table, r.model): {m: (v.value, v.pm, v.bound) for m, v in r.metrics}
           for r in pub.PUBLISHED}
    t43 = ("004", "Table 4.3")
    assert got[(*t43, "SVG-LP")] == {"fvd": (90.81, None, "="), "ssim": (0.668, 0.04, "="),
                                     "lpips": (0.153, 0.03, "=")}
    assert got[(*t43, "VRNN, 1 level (seed 004 'Ours w/o Hier')")] == {
        "fvd": (63.81, None, "="), "ssim": (0.763, 0.09, "="), "lpips": (0.102, 0.04, "=")}
    assert got[(*t43, "hierarchical VRNN 1-8-32 (seed 004 'Ours w/ Hier')")] == {
        "fvd": (57.17, None, "="), "ssim": (0.760, 0.08, "="), "lpips": (0.103, 0.03, "=")}
    fvd = {m: v["fvd"][:2] for (s, t, m), v in got.items() if t == "Table 9.4"}
    assert fvd == {"RFN (seed 001)": (633.44, 4.20), "SRNN, DMoL (seed 001)": (245.22, 3.27),
                   "VRNN, DMoL (seed 001)": (274.20, 4.17)}
    bpp = {m: v["bits_per_dim"] for (s, t, m), v in got.items() if t == "Table 9.5"}
    assert bpp == {"RFN (seed 001)": (0.841, 0.019, "<="), "VRNN, DMoL (seed 001)": (0.546, 0.005, "<="),
                   "SRNN, DMoL (seed 001)": (0.542, 0.007, "<=")}
    assert all(r.benchmark == "smmnist" for r in pub.PUBLISHED)


def test_driving_has_no_published_rows_and_says_why(root):
    rows = L.build_rows(root / "params.yaml", "driving", root)
    assert all(r["kind"] == L.MEASURED for r in rows["rows"])
    assert "seed 000" in rows["note"] and "no prediction metric" in rows["note"]


def test_differences_follow_genvid_protocol_numbers():
    row = pub.published_rows("smmnist")[0]  # seed 004: 5 -> 20, N = 100, 5 FVD repeats
    items = lambda numbers: {d.item: d for d in pub.differences(row, numbers)}
    paper = pub.GenvidNumbers(5, 20, 100, 5000, 5)
    assert {"test length", "N (best-of-N)", "FVD repeats"}.isdisjoint(items(paper))
    assert {"digit pool", "test videos", "FVD network", "SSIM"} <= set(items(paper))  # always differ
    small = items(replace(paper, horizon=10, num_samples=4, fvd_repeats=3))
    assert (small["test length"].published, small["test length"].genvid) == ("5 -> 20", "5 -> 10")
    assert (small["N (best-of-N)"].published, small["N (best-of-N)"].genvid) == ("100", "4")
    assert small["FVD repeats"].genvid == "3"
    bpp = next(r for r in pub.PUBLISHED if r.source.table == "Table 9.5")
    bpp_items = [d.item for d in pub.differences(bpp, paper)]
    assert not {"N (best-of-N)", "test length", "test videos"} & set(bpp_items)  # none applies to a bound
    assert "bits per pixel" in bpp_items


def test_every_published_item_has_genvid_text_and_genvid_text_matches_the_code():
    from genvid.metrics import image
    from genvid.metrics.i3d import RESOLUTION

    for row in pub.PUBLISHED:
        for item, _ in row.protocol.items:
            assert item in pub.GENVID_PROTOCOL[row.benchmark], (row.model, item)
    texts = pub.GENVID_PROTOCOL["smmnist"]
    assert f"{image.SSIM_WIN}x{image.SSIM_WIN}" in texts["SSIM"] and f"sigma {image.SSIM_SIGMA:g}" in texts["SSIM"]
    assert f"{RESOLUTION}x{RESOLUTION}" in texts["FVD network"]


def test_the_names_read_are_those_evaluation_writes():
    from genvid.metrics import stats

    assert L.RULES == stats.RULES and L.PREDICTIONS == E.PREDICTIONS
    assert set(L.IMAGE_METRICS) <= set(E.METRICS)
    assert L.HEADLINE_RULE == E.HEADLINE_RULE


# ----------------------------------------------------------------------------- protocol flags

def test_a_protocol_deviation_is_flagged_never_dropped_or_rescored(root):
    before = L.build_rows(root / "params.yaml", "smmnist", root)["rows"]
    path = run_paths("smmnist-vq", "smmnist", root).report_dir / "train_metrics.json"
    write_json(path, {"parameters": 4321, "bits_per_dim": 1.25,
                      "protocol_deviation": "top codes cover 16 frames: horizon 20 rolled over windows"})
    after = L.build_rows(root / "params.yaml", "smmnist", root)["rows"]
    vq_before, vq_after = before[1], after[1]
    assert vq_before["protocol_ok"] and vq_before["protocol_deviation"] is None
    assert not vq_after["protocol_ok"] and "rolled over windows" in vq_after["protocol_deviation"]
    assert vq_after["metrics"] == vq_before["metrics"]  # the same scores, flagged
    assert after[0] == before[0]
    line = read_tsv(run_stage(root, "smmnist") / "leaderboard.tsv")[1]
    assert (line["name"], line["protocol_ok"]) == ("smmnist-vq", "no") and "rolled" in line["protocol_deviation"]


def test_an_evaluation_off_the_benchmark_protocol_is_flagged(root):
    write_params(root, {**PROTOCOL, "horizon": HORIZON + 2})  # params now ask for a longer horizon
    rows = L.build_rows(root / "params.yaml", "smmnist", root)
    measured = [r for r in rows["rows"] if r["kind"] == L.MEASURED]
    assert len(measured) == 2 and not any(r["protocol_ok"] for r in measured)
    assert "evaluated 2 -> 3 with N = 3; the benchmark's protocol is 2 -> 5" in measured[0]["protocol_deviation"]


def test_a_bad_protocol_deviation_value_is_an_error(root):
    path = run_paths("smmnist-vq", "smmnist", root).report_dir / "protocol.json"
    proto = json.loads(path.read_text())
    write_json(path, {**proto, "protocol_deviation": 3})
    with pytest.raises(GenvidError, match=r"protocol\.json: 'protocol_deviation' must be a non-empty text"):
        L.build_rows(root / "params.yaml", "smmnist", root)


# ----------------------------------------------------------------------------- bytes and timings

def test_files_are_byte_identical_on_rerun(root):
    out = run_stage(root, "smmnist")
    first = file_bytes(out)
    for path in out.iterdir():
        path.unlink()
    assert file_bytes(run_stage(root, "smmnist")) == first
    rows = json.loads(first["rows.json"])
    assert first["rows.json"].decode() == json.dumps(rows, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_the_rows_come_from_scores_json_not_the_dvc_metrics(root):
    """metrics.json (dvc metrics: a few flat headline keys) is only required, as the sign that evaluate
    finished: every number of the leaderboard, FVD mean and sd included, comes from scores.json."""
    out = run_stage(root, "smmnist")
    first = file_bytes(out)
    write_json(run_paths("smmnist-vq", "smmnist", root).report_dir / "metrics.json", {})
    assert file_bytes(run_stage(root, "smmnist")) == first


def test_timings_go_to_timings_tsv_only(root):
    out = run_stage(root, "smmnist")
    without = file_bytes(out)
    # beside the leaderboard folder, not in it: the report depends on that folder, and DVC hashes all it holds
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard.json", "leaderboard.tsv", "rows.json"]
    assert [l["train_seconds"] for l in read_tsv(out.parent / "timings.tsv")] == ["", ""]  # nothing recorded yet
    record("train@smmnist-vq", 123.5, root)
    record("sample@smmnist-vq", 9.0, root)
    record("train@smmnist-copy_last", 0.25, root)
    run_stage(root, "smmnist")
    assert file_bytes(out) == without  # tracked files never see a wall time
    timings = {l["run"]: l for l in read_tsv(out.parent / "timings.tsv")}
    assert float(timings["smmnist-vq"]["train_seconds"]) == 123.5
    assert float(timings["smmnist-vq"]["sample_seconds"]) == 9.0
    assert float(timings["smmnist-vq"]["sample_seconds_per_video"]) == pytest.approx(9.0 / (CLIPS * SAMPLES))
    assert timings["smmnist-copy_last"]["sample_seconds"] == ""
    record("sample@smmnist-vq", 11.0, root)
    run_stage(root, "smmnist")
    assert file_bytes(out) == without


def test_tsv_values_match_scores_json(root):
    out = run_stage(root, "smmnist")
    lines = {l["name"]: l for l in read_tsv(out / "leaderboard.tsv") if l["kind"] == "measured"}
    for run in ("smmnist-copy_last", "smmnist-vq"):
        report = run_paths(run, "smmnist", root).report_dir
        scores = json.loads((report / "scores.json").read_text())
        metrics = json.loads((report / "metrics.json").read_text())
        line = lines[run]
        for metric in L.IMAGE_METRICS:
            for rule in L.RULES:
                avg = scores["series"]["predictions"][metric][rule]["average"]
                assert float(line[f"{metric}_{rule}"]) == pytest.approx(avg["mean"], rel=1e-6)
                assert float(line[f"{metric}_{rule}_lo"]) == pytest.approx(avg["ci95"][0], rel=1e-6)
                assert float(line[f"{metric}_{rule}_hi"]) == pytest.approx(avg["ci95"][1], rel=1e-6)
            headline = scores["series"]["predictions"][metric][L.HEADLINE_RULE]["average"]["mean"]
            assert json.loads((out / "leaderboard.json").read_text())[run][metric] == pytest.approx(headline, rel=1e-5)
            assert metrics[metric] == stats.headline_number(metric, headline)  # metrics.json: one screen's precision
        fvd = scores["fvd"]["predictions"]["values"]  # the TSV holds the mean to 4 decimals, metrics.json to 2
        assert metrics["fvd"] == round(np.mean(fvd), 2)
        assert float(line["fvd"]) == pytest.approx(np.mean(fvd), abs=5e-5)
        assert float(line["fvd_sd"]) == pytest.approx(np.std(fvd, ddof=1), abs=5e-5)
        spread = scores["diversity"]  # the samples' pairwise LPIPS, with its cluster-bootstrap interval
        assert float(line["diversity"]) == pytest.approx(spread["mean"], rel=1e-6) and spread["mean"] > 0
        assert [float(line["diversity_lo"]), float(line["diversity_hi"])] == pytest.approx(spread["ci95"], rel=1e-6)
        assert json.loads((out / "leaderboard.json").read_text())[run]["diversity"] == pytest.approx(spread["mean"])
    assert lines["smmnist-vq"]["bits_per_dim"] == "1.25" and lines["smmnist-vq"]["parameters"] == "4321"
    assert json.loads((run_paths("smmnist-vq", "smmnist", root).report_dir / "metrics.json").read_text())[
        "bits_per_dim"] == 1.25
    assert lines["smmnist-copy_last"]["bits_per_dim"] == ""
    # best-of-N per timestep is never worse than per sequence (a check that the columns are not swapped)
    assert float(lines["smmnist-vq"]["psnr_best_step"]) >= float(lines["smmnist-vq"]["psnr_best_seq"])
    assert float(lines["smmnist-vq"]["lpips_best_step"]) <= float(lines["smmnist-vq"]["lpips_best_seq"])


def test_a_run_without_intervals_has_empty_interval_cells(root):
    out = run_stage(root, "driving")  # one cluster: evaluate writes ci95 null
    line = read_tsv(out / "leaderboard.tsv")[0]
    assert line["psnr_best_seq"] != "" and line["psnr_best_seq_lo"] == "" and line["psnr_best_seq_hi"] == ""
    assert json.loads((out / "rows.json").read_text())["rows"][0]["metrics"]["psnr"]["best_seq"]["ci95"] is None


# ----------------------------------------------------------------------------- the DAG

def test_dvc_stage_depends_on_every_module_it_imports():
    """The leaderboard stage depends on its code's file, which holds every genvid module the stage has loaded
    once imported (the static scan, genvid.codegraph.stage_code, against what Python loads)."""
    from genvid.codegraph import module_file, stage_code

    code = ("import sys, stages.leaderboard; "
            "print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in ('genvid', 'stages'))))")
    modules = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=venv_env(), check=True,
                             capture_output=True, text=True).stdout.split()
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["leaderboard"]
    assert stage["foreach"] == "${benchmarks}"
    deps = stage["do"]["deps"]
    assert "deps/stages/leaderboard.json" in deps
    hashed = set(stage_code("leaderboard"))
    assert len(modules) > 10
    for module in modules:
        assert module_file(module).relative_to(ROOT) in hashed, module
    assert "reports/${key}/runs" in deps
    assert stage["do"]["params"] == ["repro", "runs", "benchmarks.${key}.protocol"]
    outs = [next(iter(o)) for o in stage["do"]["outs"]]
    assert outs == [f"reports/${{key}}/leaderboard/{name}" for name in ("rows.json", "leaderboard.tsv", "leaderboard.json")]
    assert "metrics" not in stage["do"]  # dvc metrics are the runs' metrics.json (tests/test_evaluation.py)
    assert all(not next(iter(o.values()))["cache"] for o in stage["do"]["outs"])


def test_controllability_columns_come_from_scores_json(root):
    """Issue 24: a run scored on counterfactual clips gets fidelity, sensitivity and direction with
    their intervals; a run without them (no simulator) leaves the cells empty."""
    report = run_paths("driving-copy_last", "driving", root).report_dir
    scores = json.loads((report / "scores.json").read_text())
    scores["controllability"] = {
        "skipped": None, "clips": 8, "sequences": ["left", "right"], "num_samples": 1, "conditioned": True,
        "fidelity": {"lpips": {"mean": 0.25, "ci95": [0.2, 0.3]}, "ssim": {"mean": 0.5, "ci95": None},
                     "psnr": {"mean": 20.0, "ci95": None}},
        "sensitivity": {"mean": 0.125, "ci95": [0.0625, 0.25]}, "sensitivity_first": {"mean": 0.5, "ci95": [0.25, 0.75]},
        "direction": {"mean": 0.75, "ci95": [0.5, 1.0], "true_frames": 1.0, "left": "left", "right": "right"}}
    (report / "scores.json").write_text(json.dumps(scores))
    out = run_stage(root, "driving")
    line = next(l for l in read_tsv(out / "leaderboard.tsv") if l["name"] == "driving-copy_last")
    assert [line[c] for c in ("cf_lpips", "cf_lpips_lo", "cf_lpips_hi", "sensitivity", "sensitivity_lo",
                              "sensitivity_hi", "sensitivity_first", "sensitivity_first_lo", "sensitivity_first_hi",
                              "direction", "action_conditioned")] == [
        "0.25", "0.2", "0.3", "0.125", "0.0625", "0.25", "0.5", "0.25", "0.75", "0.75", "yes"]
    board = json.loads((out / "leaderboard.json").read_text())["driving-copy_last"]
    assert (board["cf_lpips"], board["sensitivity"], board["direction"]) == (0.25, 0.125, 0.75)
    smmnist = next(l for l in read_tsv(run_stage(root, "smmnist") / "leaderboard.tsv") if l["name"] == "smmnist-vq")
    assert smmnist["sensitivity"] == "" and smmnist["action_conditioned"] == ""


def test_motion_columns_come_from_scores_json_on_a_labelled_benchmark_only(root, capsys):
    """Issue 22 item 4: a run whose scores.json has motion accuracy (a labelled benchmark) gets its
    mean-of-N, best-of-N and real-futures columns with intervals; a benchmark without keeps its columns."""
    before = (run_stage(root, "driving") / "leaderboard.tsv").read_text()
    report = run_paths("smmnist-vq", "smmnist", root).report_dir
    scores = json.loads((report / "scores.json").read_text())
    scores["motion"] = {"skipped": None, "classes": [str(i) for i in range(10)], "clips": 6, "samples": 3,
                        "mean_of_n": {"mean": 0.25, "ci95": [0.125, 0.5]}, "best_of_n": {"mean": 0.5, "ci95": None},
                        "real": {"mean": 0.75, "ci95": [0.5, 1.0]}, "confusion": [[0] * 10] * 10, "rule": "r",
                        "extrapolated": [{"name": "velocity", "order": 1, "mean": 0.375, "ci95": [0.25, 0.5]},
                                         {"name": "acceleration", "order": 2, "mean": 0.5, "ci95": None}]}
    (report / "scores.json").write_text(json.dumps(scores))
    out = run_stage(root, "smmnist")
    rows = {r["run"]: r for r in json.loads((out / "rows.json").read_text())["rows"] if "run" in r}
    assert rows["smmnist-vq"]["metrics"]["motion"]["extrapolated"] == [  # the reference futures, in their order
        {"name": "velocity", "order": 1, "mean": 0.375, "ci95": [0.25, 0.5]},
        {"name": "acceleration", "order": 2, "mean": 0.5, "ci95": None}]
    lines = read_tsv(out / "leaderboard.tsv")
    vq = next(line for line in lines if line["name"] == "smmnist-vq")
    assert [vq[c] for c in L.MOTION_COLUMNS] == ["0.25", "0.125", "0.5", "0.5", "", "", "0.75", "0.5", "1"]
    assert all(line[c] == "" for line in lines if line["name"] != "smmnist-vq" for c in L.MOTION_COLUMNS)
    board = json.loads((out / "leaderboard.json").read_text())
    assert (board["smmnist-vq"]["motion_mean_of_n"], board["smmnist-vq"]["motion_real"]) == (0.25, 0.75)
    assert "motion_mean_of_n" not in board["smmnist-copy_last"]
    assert (run_stage(root, "driving") / "leaderboard.tsv").read_text() == before
    assert not any(c in before.splitlines()[0].split("\t") for c in L.MOTION_COLUMNS)
    scores["motion"]["extrapolated"] = {"velocity": 0.375}
    (report / "scores.json").write_text(json.dumps(scores))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        run_stage(root, "smmnist")
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and "'motion.extrapolated' must be a list of mappings or null" in err[0]


def long_lpips(curve: list[float]) -> np.ndarray:
    """Per-frame LPIPS [LONG_CLIPS, LONG_SAMPLES, LONG_HORIZON] whose mean over clips and samples is ``curve``
    (the two samples of a clip straddle it, the clips agree)."""
    c = np.asarray(curve)[None, None, :]
    return np.broadcast_to(np.concatenate([c - 0.01, c + 0.01], axis=1), (LONG_CLIPS, LONG_SAMPLES, LONG_HORIZON)).copy()


def test_long_horizon_columns_and_curves_on_a_benchmark_with_one_only(root):
    """Issue 23 item 2: the long horizon's headline columns, per-timestep curves (rows.json) and the first
    predicted frame at which a run's mean-of-N LPIPS exceeds copy-last's, read by hand; a benchmark
    without a long horizon keeps its bytes."""
    driving = file_bytes(run_stage(root, "driving"))
    copy_curve, vq_curve = [0.3] * LONG_HORIZON, [0.1, 0.2, 0.29, 0.31, 0.25, 0.4]  # above 0.3 first at t = 4
    fake_run(root, "smmnist-copy_last", "smmnist", 1, train_metrics={"parameters": 0}, long_lpips=long_lpips(copy_curve))
    fake_run(root, "smmnist-vq", "smmnist", 2, train_metrics={"parameters": 4321, "bits_per_dim": 1.25},
             long_lpips=long_lpips(vq_curve))
    out = run_stage(root, "smmnist")
    lines = {line["name"]: line for line in read_tsv(out / "leaderboard.tsv") if line["kind"] == "measured"}
    assert set(L.LONG_COLUMNS) <= set(lines["smmnist-vq"])
    assert lines["smmnist-vq"]["long_lpips_worse_than_baseline_from"] == "4"
    assert lines["smmnist-copy_last"]["long_lpips_worse_than_baseline_from"] == ""  # the baseline itself
    assert lines["smmnist-vq"]["long_fvd"] != "" and lines["smmnist-vq"]["long_fvd_sd"] == ""  # one repeat: no sd
    rows = json.loads((out / "rows.json").read_text())
    assert {k: rows["long_horizon"][k] for k in L.LONG_SETTINGS} == {
        "context_frames": CONTEXT, "horizon": LONG_HORIZON, "num_samples": LONG_SAMPLES, "clips": LONG_CLIPS,
        "fvd_repeats": 1}
    assert rows["long_horizon"]["baseline"] == "smmnist-copy_last"
    vq = next(r for r in rows["rows"] if r.get("run") == "smmnist-vq")["metrics"]["long_horizon"]
    assert vq["per_timestep"]["lpips"]["mean"] == pytest.approx(vq_curve)
    assert vq["per_timestep"]["lpips"]["best_step"] == pytest.approx([v - 0.01 for v in vq_curve])
    assert vq["lpips_worse_than_baseline_from"] == 4 and vq["fvd"]["sd"] is None and vq["fvd"]["repeats"] == 1
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["smmnist-vq"]["long_lpips"] == pytest.approx(np.mean(vq_curve) - 0.01)  # best of N per sequence
    assert "long_fvd" in board["smmnist-vq"]
    assert file_bytes(run_stage(root, "driving")) == driving  # no long horizon there: nothing new
    assert not set(L.LONG_COLUMNS) & set(read_tsv(out.parent.parent / "driving/leaderboard/leaderboard.tsv")[0])
    assert L.worse_than_baseline_from([0.1, 0.2], [0.3, 0.3]) is None  # never within the horizon


def test_a_run_without_long_horizon_scores_beside_runs_with_them_is_flagged(root):
    fake_run(root, "smmnist-copy_last", "smmnist", 1, train_metrics={"parameters": 0},
             long_lpips=long_lpips([0.3] * LONG_HORIZON))
    rows = {r["run"]: r for r in L.build_rows(root / "params.yaml", "smmnist", root)["rows"] if r["kind"] == L.MEASURED}
    assert rows["smmnist-copy_last"]["protocol_ok"] and not rows["smmnist-vq"]["protocol_ok"]
    assert "no long-horizon scores" in rows["smmnist-vq"]["protocol_deviation"]
    scores = run_paths("smmnist-copy_last", "smmnist", root).report_dir / "scores.json"
    data = json.loads(scores.read_text())
    del data["long_horizon"]  # protocol.json still has it: a stale evaluation
    write_json(scores, data)
    with pytest.raises(GenvidError, match=r"scores\.json: key 'long_horizon' missing"):
        L.build_rows(root / "params.yaml", "smmnist", root)
