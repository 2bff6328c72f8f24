"""Issue 48 item 5: each benchmark's section opens with the learned runs against the baseline, and the
abstract says it in one sentence (genvid.report.text.versus_baseline and beats_sentence, tables.versus_table)."""
from __future__ import annotations

from genvid.report import tables, text


def row(run, psnr, ssim, lpips, fvd, baseline=False):
    def s(mean, half):
        return {"best_seq": {"mean": mean, "ci95": [mean - half, mean + half]}}
    return {"run": run, "model": "m", "baseline": baseline, "kind": "measured",
            "metrics": {"psnr": s(psnr, 0.5), "ssim": s(ssim, 0.01), "lpips": s(lpips, 0.01),
                        "fvd": {"mean": fvd, "sd": None, "repeats": 1}}}


ROWS = [row("b-copy_last", 20.0, 0.56, 0.15, 666.0, baseline=True),
        row("b-good", 21.2, 0.565, 0.30, 600.0),  # PSNR apart, SSIM within the intervals, FVD no interval
        row("b-bad", 19.0, 0.40, 0.50, 900.0)]


def test_each_metric_against_the_baseline_by_hand():
    good, bad = text.versus_baseline(ROWS)
    assert good["run"] == "b-good" and bad["run"] == "b-bad"
    p = good["metrics"]["psnr"]
    assert abs(p["delta"] - 1.2) < 1e-9 and p["better"] and p["apart"]  # [20.7, 21.7] vs [19.5, 20.5]
    s = good["metrics"]["ssim"]
    assert s["better"] and s["apart"] is False  # [0.555, 0.575] vs [0.55, 0.57]
    assert not good["metrics"]["lpips"]["better"]  # lower is better
    assert good["metrics"]["fvd"]["better"] and good["metrics"]["fvd"]["apart"] is None  # no interval
    assert not any(c["better"] for c in bad["metrics"].values())
    assert text.versus_baseline([r for r in ROWS if not r["baseline"]]) == []


def test_a_reference_that_learns_nothing_is_never_a_learned_run():
    """A run without parameters besides the baseline (rows.json ``learned: false``: the context median) beats
    copy-last here on every metric, yet the opening table and the abstract leave it out: it learned nothing."""
    median = {**row("b-context_median", 30.0, 0.9, 0.05, 100.0), "learned": False}
    assert [e["run"] for e in text.versus_baseline([*ROWS, median])] == ["b-good", "b-bad"]
    assert text.references([*ROWS, median]) == [ROWS[0], median] and text.references([ROWS[1], median]) == []
    assert text.beats_sentence("b", [*ROWS, median]) == text.beats_sentence("b", ROWS)[:-1] + (
        "; no learned run beats b-context_median, which learns nothing either, on any of them.")
    assert "no learned run beats" in text.beats_sentence("b", [ROWS[0], ROWS[2], median])
    weak = {**row("b-context_median", 21.0, 0.6, 0.40, 700.0), "learned": False}  # b-good beats it on LPIPS and FVD
    vs = {e["run"]: e["metrics"] for e in text.versus_reference([*ROWS, weak], weak)}
    assert set(vs) == {"b-good", "b-bad"} and abs(vs["b-good"]["psnr"]["delta"] - 0.2) < 1e-9
    assert [m for m, c in vs["b-good"].items() if c["better"]] == ["psnr", "lpips", "fvd"]
    assert text.beats_sentence("b", [*ROWS, weak]).endswith(
        "; b-context_median, which learns nothing either, is beaten by a learned run on PSNR, LPIPS, FVD.")
    facts = str(text.baseline_facts("b", [*ROWS, weak]))
    assert facts.endswith("Against <code>b-context_median</code>, which learns nothing either, a learned run is "
                          "better on PSNR, LPIPS, FVD.")
    versus = tables.versus_table([*ROWS, weak], {"b-good": "600 × 8"})
    assert [[str(c) for c in r[:3]] for r in versus["rows"]] == [
        ["<code>b-good</code>", "600 × 8", "<code>b-copy_last</code> (baseline)"],
        ["", "", "<code>b-context_median</code>"],
        ["<code>b-bad</code>", "", "<code>b-copy_last</code> (baseline)"],
        ["", "", "<code>b-context_median</code>"]]
    assert str(versus["rows"][1][6]) == "-100 (better)"  # FVD 600 against the reference's 700

    def board_row(r: dict) -> dict:  # every rule of each image metric, as the leaderboard table reads rows.json
        metrics = {m: {rule: r["metrics"][m]["best_seq"] for rule in tables.RULES} for m in ("psnr", "ssim", "lpips")}
        return {**r, "metrics": {**r["metrics"], **metrics}, "protocol_ok": True,
                "parameters": 0 if r.get("learned") is False or r["baseline"] else 5}

    table = tables.leaderboard_measured([board_row(r) for r in (ROWS[0], median, ROWS[1])])
    names = [str(cells[0]) for cells in table["rows"] if cells[0]]
    assert names == ["<code>b-copy_last</code> (baseline)", "<code>b-context_median</code> (reference: learns nothing)",
                     "<code>b-good</code>"]


def test_the_table_and_the_abstract_sentence():
    table = tables.versus_table(ROWS, {"b-good": "600 × 8"})
    assert table["header"][:3] == ["Run", "Steps × batch", "Against"] and len(table["rows"]) == 2
    assert table["rows"][0][1] == "600 × 8" and table["rows"][1][1] == ""
    assert "+1.20 (better, intervals apart)" in str(table["rows"][0][3])
    assert "(better, within the intervals)" in str(table["rows"][0][4])
    assert str(table["rows"][0][6]) == "-66 (better)"
    assert text.beats_sentence("b", ROWS) == "On b, b-good beats copying the last context frame on PSNR, SSIM, FVD."
    assert "no learned run beats" in text.beats_sentence("b", [ROWS[0], ROWS[2]])


def test_trained_steps_come_from_the_curves(tmp_path):
    for name, last in (("vqvae", 250), ("prior_top", 100)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.tsv").write_text(f"step\tloss\n10\t1.0\n{last}\t0.5\n")
    assert tables.trained_steps(tmp_path, {"vqvae": {"batch_size": 4}, "prior_top": {"batch_size": 16},
                                           "prior_bottom": {"batch_size": 16}}) == "prior_top 100 × 16, vqvae 250 × 4"
    one = tmp_path / "one" / "model"
    one.mkdir(parents=True)
    (one / "train.tsv").write_text("step\tloss\n600\t0.1\n")
    assert tables.trained_steps(tmp_path / "one", {"batch_size": 8}) == "600 × 8"
    assert tables.trained_steps(tmp_path / "missing", {}) == ""


def test_an_fvd_interval_makes_fvd_apart_or_within_like_the_other_metrics():
    rows = [dict(r, metrics=dict(r["metrics"])) for r in ROWS]
    rows[0]["metrics"]["fvd"] = {"mean": 666.0, "sd": None, "repeats": 1, "ci95": [600.0, 720.0]}
    rows[1]["metrics"]["fvd"] = {"mean": 600.0, "sd": None, "repeats": 1, "ci95": [560.0, 650.0]}  # overlaps
    rows[2]["metrics"]["fvd"] = {"mean": 900.0, "sd": None, "repeats": 1, "ci95": [800.0, 990.0]}  # apart
    good, bad = text.versus_baseline(rows)
    assert good["metrics"]["fvd"]["better"] and good["metrics"]["fvd"]["apart"] is False
    assert not bad["metrics"]["fvd"]["better"] and bad["metrics"]["fvd"]["apart"] is True
    assert str(tables.versus_table(rows)["rows"][0][6]) == "-66 (better, within the intervals)"


def test_fvd_rank_facts_say_which_runs_fvd_cannot_separate():
    def r(run, rank):
        return {"run": run, "fvd_rank": rank, "evaluated": {"clips": 16}}

    tied = text.fvd_rank_facts("s", [r("s-a", 1), r("s-b", 1), r("s-c", 1)])
    assert str(tied) == ("On <code>s</code>, an FVD over its 16 test clips separates none of its 3 runs: every pair "
                         "of 95 % intervals overlaps, so the FVD column orders them without ranking them.")
    mixed = str(text.fvd_rank_facts("s", [r("s-a", 1), r("s-b", 1), r("s-c", 3)]))
    assert "rank 1: <code>s-a</code>, <code>s-b</code>; rank 3: <code>s-c</code>" in mixed
    assert mixed.endswith("FVD cannot separate <code>s-a</code>, <code>s-b</code>, which share the first rank.")
    assert "cannot separate" not in str(text.fvd_rank_facts("s", [r("s-a", 1), r("s-b", 2)]))
    assert text.fvd_rank_facts("s", [r("s-a", None), r("s-b", None)]) is None  # no intervals: nothing to say


def test_the_fvd_cell_shows_the_interval_and_the_repeats_sd():
    assert str(tables.fvd_cell({"mean": 134.41, "sd": None, "ci95": [120.0, 150.5]})) == \
        '134.41 <span class="ci">[120.00, 150.50]</span>'
    assert str(tables.fvd_cell({"mean": 134.41, "sd": 2.0, "ci95": None})) == '134.41 <span class="ci">± 2.00 sd</span>'
    assert str(tables.fvd_cell({"mean": 134.41, "sd": None})) == "134.41"


def test_published_gaps_pair_each_run_with_the_published_rows_of_its_model_by_hand():
    measured = [{"run": "s-svg", "model": "svg_lp", "metrics": {
                    "ssim": {"best_seq": {"mean": 0.45, "ci95": [0.4, 0.5]}}, "lpips": {"best_seq": {"mean": 0.36}},
                    "fvd": {"mean": 548.0, "sd": None}}},
                {"run": "s-rfn", "model": "rfn", "metrics": {"fvd": {"mean": 500.0}, "bits_per_dim": 3.27}},
                {"run": "s-cl", "model": "copy_last", "metrics": {"fvd": {"mean": 272.0}}}]
    published = [{"model": "SVG-LP", "family": "svg_lp", "metrics": {
                      "fvd": {"value": 90.81, "pm": None, "bound": "="}, "ssim": {"value": 0.668, "pm": 0.04, "bound": "="}}},
                 {"model": "VRNN 1 level", "family": None, "metrics": {"fvd": {"value": 63.81, "pm": None, "bound": "="}}},
                 {"model": "RFN", "family": "rfn", "metrics": {"bits_per_dim": {"value": 0.841, "pm": 0.019, "bound": "<="}}}]
    table = tables.published_gaps(measured, published)
    cells = [[str(c) for c in row] for row in table["rows"]]
    assert [c[0] for c in cells] == ["<code>s-svg</code>", "<code>s-svg</code>", "<code>s-rfn</code>"]
    assert cells[0][1].startswith("P1 SVG-LP") and cells[2][1].startswith("P3 RFN")  # P2 re-implemented by no run
    assert cells[0][2:] == ["FVD ↓", "548.00", "90.81", "+457.19 (worse)"]
    assert cells[1][2:] == ["SSIM ↑", "0.450", "0.668 ± 0.040", "-0.218 (worse)"]
    assert cells[2][2:] == ["Bits/dim ↓", "3.270", "≤ 0.841 ± 0.019", "+2.429 (worse)"]
    assert tables.published_gaps(measured[2:], published) is None


def test_every_published_family_is_a_registered_model():
    from genvid import published
    from genvid.models import registry

    assert {r.family for r in published.PUBLISHED} - {None} <= set(registry.MODELS)
