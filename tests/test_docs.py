"""The documentation (issue 45 item 4): a short README that links every page under docs/, links that
resolve, and measured figures rendered from committed files (benchmarks/docs_tables.py), never typed."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

DOCS = ROOT / "docs"
README = ROOT / "README.md"
SCRIPT = ROOT / "benchmarks" / "docs_tables.py"
PAGES = ("pipeline", "profiles", "protocol", "models", "benchmarks", "gpu", "cluster", "reproducibility", "drive",
         "own-videos", "development", "results", "design", "learning")
NEEDLE = b"../" + b"shared"  # a path outside the repository (spelt in two pieces so that this file does not hold it)
# and the outside notes and theses by their own names (the design page and the docs hold what the code cites)
OUTSIDE = (NEEDLE, b"/work/" + b"shared", b"notes/" + b"families.md", b"/seeds/" + b"README")


def _docs_tables():
    spec = importlib.util.spec_from_file_location("docs_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- generated results page

def test_the_committed_results_page_is_its_render():
    out = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, f"docs/results.md is not its render: run python benchmarks/docs_tables.py\n{out.stderr}"
    assert "is its render" in out.stdout


def test_the_committed_dvc_metrics_table_is_the_committed_metrics_and_fits_200_columns():
    """Issue 45 item 5: benchmarks/results/dvc-metrics-show-default.txt is `dvc metrics show` of the default
    profile's committed metrics.json files (one row each, their values), at most 200 columns wide."""
    table = (ROOT / "benchmarks" / "results" / "dvc-metrics-show-default.txt").read_text().splitlines()
    assert max(map(len, table)) <= 200, max(map(len, table))
    header, rows = table[0].split(), [line.split() for line in table[1:] if line.strip()]
    committed = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("reports/*/runs/*/metrics.json"))
    assert sorted(r[0] for r in rows) == committed
    for row in rows:
        metrics = json.loads((ROOT / row[0]).read_text())
        shown = {k: float(v) for k, v in zip(header[1:], row[1:]) if v != "-"}
        assert shown == pytest.approx(metrics, abs=6e-6), row[0]  # DVC prints at most 5 decimals


def test_the_render_imports_neither_torch_nor_genvid():
    code = (f"import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('docs_tables', {str(SCRIPT)!r})\n"
            f"m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            f"m.render(m.ROOT)\n"
            f"bad = sorted(n for n in sys.modules if n.split('.')[0] in ('torch', 'numpy', 'genvid'))\n"
            f"assert not bad, bad\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def _copy_inputs(dst: Path) -> Path:
    """The files docs_tables.py reads, and the page, under a scratch root."""
    patterns = ("reports/*/leaderboard/rows.json", "reports/*/ablations/*/ablation.json",
                "reports/noisy_vq/*/study.json", "reports/*/runs/*/train_metrics.json", "benchmarks/results/*.txt",
                "docs/results.md")
    for pattern in patterns:
        for src in ROOT.glob(pattern):
            target = dst / src.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dst


def test_a_changed_leaderboard_value_changes_the_render_and_fails_the_check(tmp_path):
    tables = _docs_tables()
    root = _copy_inputs(tmp_path)
    before = tables.render(root)
    assert before == tables.render(ROOT), "the render must depend on the files alone, not on where they are"
    assert tables.main(["--check", "--root", str(root)]) == 0

    rows_path = root / "reports" / "driving" / "leaderboard" / "rows.json"
    rows = json.loads(rows_path.read_text())
    measured = next(r for r in rows["rows"] if r["kind"] == "measured")
    measured["metrics"]["fvd"]["mean"] += 1000.0
    rows_path.write_text(json.dumps(rows))

    after = tables.render(root)
    assert after != before
    assert tables.main(["--check", "--root", str(root)]) == 1
    assert tables.main(["--root", str(root)]) == 0  # rewrite the page
    assert tables.main(["--check", "--root", str(root)]) == 0
    assert (root / "docs" / "results.md").read_text() != (ROOT / "docs" / "results.md").read_text()


def test_measured_and_published_rows_are_in_separate_tables_naming_their_file():
    page = (DOCS / "results.md").read_text()
    for board in sorted(ROOT.glob("reports/*/leaderboard/rows.json")):
        rel = board.relative_to(ROOT).as_posix()
        assert f"From `{rel}`." in page, f"results.md does not name {rel}"
        data = json.loads(board.read_text())
        section = page.split(f"### {data['benchmark']}\n", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
        tables = [t for t in re.split(r"\n\s*\n", section) if t.lstrip().startswith("|")]
        for row in data["rows"]:
            name = f"`{row['run']}`" if row["kind"] == "measured" else row["model"]
            holders = [t for t in tables if any(line.startswith(f"| {name}") for line in t.splitlines())]
            assert holders, f"{rel}: no table holds {name}"
            first = holders[0].splitlines()[0]
            assert first.startswith("| published model") == (row["kind"] == "published"), \
                f"{rel}: {name} ({row['kind']}) sits in a table of the other kind"
    for result in sorted(ROOT.glob("benchmarks/results/*.txt")):
        assert f"`{result.relative_to(ROOT).as_posix()}`" in page, f"results.md does not show {result.name}"


def test_the_cold_dag_runs_read_side_by_side_against_the_budget(tmp_path):
    """One row per dag_minutes.py summary: minutes from its seconds, the budget's verdict from the wall time,
    the commit a forced run's note names; a file without a wall time or in another format is handled."""
    tables = _docs_tables()
    head = "# the default DAG, cold (dvc repro -f, no checkpoints), on Some CPU (family 1, 2 CPUs)\n"
    table = "\nkind               stages  seconds  minutes  largest\ntrain                  17     1230     20.5  a 600\n"
    (tmp_path / "dag-cold-a.txt").write_text(
        "# a forced cold run (dvc repro -f) in a fresh clone of 0123abc, alone\n" + head
        + "stages: 78, their own time 2430 s (40.5 min)\n"
        + "wall time of the whole run: 2700 s (45.0 min); start-up and DVC: 270 s (3.5 s a stage)\n" + table)
    (tmp_path / "dag-cold-b.txt").write_text(head + "stages: 78, their own time 2400 s (40.0 min)\n"
                                             + "wall time of the whole run: 2701 s (45.0 min); start-up and DVC: "
                                             + "301 s (3.9 s a stage)\n" + table)
    (tmp_path / "dag-cold-c.txt").write_text(head + "stages: 3, their own time 90 s (1.5 min)\n")
    (tmp_path / "dag-cold-d.txt").write_text("some other note\n")
    lines = tables.dag_summary(sorted(tmp_path.glob("dag-cold-*.txt")))
    rows = [line for line in lines if line.startswith("| `")]
    assert rows == ["| `dag-cold-a.txt` | `0123abc` | Some CPU (family 1, 2 CPUs) | 45.0 | yes | 40.5 | 20.5 | 3.5 |",
                    "| `dag-cold-b.txt` | – | Some CPU (family 1, 2 CPUs) | 45.0 | no | 40.0 | 20.5 | 3.9 |",
                    "| `dag-cold-c.txt` | – | Some CPU (family 1, 2 CPUs) | – | – | 1.5 | – | – |"]
    assert tables.dag_summary([tmp_path / "dag-cold-d.txt"]) == []


def test_the_check_refuses_a_page_without_its_markers(tmp_path):
    tables = _docs_tables()
    root = _copy_inputs(tmp_path)
    (root / "docs" / "results.md").write_text("# Results\n")
    with pytest.raises(SystemExit, match="GENERATED markers are missing"):
        tables.main(["--check", "--root", str(root)])


def test_the_gpu_page_renders_every_committed_gpu_check_but_the_smoke_ones(tmp_path):
    """docs/gpu.md's generated part (issue 44): each benchmarks/results/gpu-<device>-<date>/ folder of
    benchmarks/gpu_check.py, newest first, its environment and one row per part; the CPU smoke mode's
    folders never appear; with none, the page says so."""
    tables = _docs_tables()
    assert tables.gpu_checks(tmp_path)[0].startswith("No GPU check is committed yet")
    results = tmp_path / "benchmarks" / "results"
    for name, device in (("gpu-nvidia-h100-2026-11-20", "NVIDIA H100"), ("gpu-nvidia-h200-2026-11-25", "NVIDIA H200"),
                         ("gpu-cpu-smoke-2026-11-26", None)):
        (results / name).mkdir(parents=True)
        (results / name / "environment.json").write_text(json.dumps(
            {"device": device, "driver": "580.1, 81559 MiB", "torch": "2.11.0", "cuda": "13.0", "cudnn": 91000,
             "python": "3.12.3", "commit": "0123456789abcdef"}))
        (results / name / "state.json").write_text(json.dumps({"parts": {
            "identity": {"status": "ok", "seconds": 61.25, "summary": "12 networks, 0 differ"},
            "bench:svg_lp": {"status": "ok", "seconds": 12.0, "summary": {"step_seconds": 0.0123456, "identical": True}},
            "smmnist": {"status": "cut", "cut": 1, "seconds": 500.0, "error": ["past the budget 1 time(s)"]}}}))
    lines = tables.gpu_checks(tmp_path)
    headings = [line for line in lines if line.startswith("### ")]
    assert headings == ["### `benchmarks/results/gpu-nvidia-h200-2026-11-25/`",
                        "### `benchmarks/results/gpu-nvidia-h100-2026-11-20/`"]
    assert ("device NVIDIA H200, driver 580.1, 81559 MiB, torch 2.11.0, cuda 13.0, cudnn 91000, python 3.12.3; "
            "commit `0123456789`") in lines
    assert "| `identity` | ok | 61.2 | 12 networks, 0 differ |" in lines
    assert "| `bench:svg_lp` | ok | 12.0 | step_seconds 0.01235, identical True |" in lines
    assert "| `smmnist` | cut | 500.0 | past the budget 1 time(s) |" in lines


# ----------------------------------------------------------------------------- README and links

def test_the_readme_is_short_and_keeps_the_two_commands():
    text = README.read_text()
    assert len(text.splitlines()) <= 250, f"README.md has {len(text.splitlines())} lines (at most 250)"
    assert "make repro" in text and "make test" in text


@pytest.mark.parametrize("page", PAGES)
def test_every_docs_page_exists_and_the_readme_links_it(page):
    assert (DOCS / f"{page}.md").is_file(), f"docs/{page}.md is missing"
    assert f"](docs/{page}.md" in README.read_text(), f"README.md does not link docs/{page}.md"


def _strip_code(text: str) -> str:
    text = re.sub(r"^(```+|~~~+).*?^\1", "", text, flags=re.S | re.M)  # fenced blocks
    text = re.sub(r"^(?: {4}|\t).*$", "", text, flags=re.M)  # indented blocks
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", text)  # code spans


def _anchors(path: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped (letters, digits, _, - and spaces kept),
    spaces to hyphens, a repeated id suffixed -1, -2, ..."""
    seen: dict[str, int] = {}
    out = set()
    for line in _strip_code_blocks_only(path.read_text()).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        text = re.sub(r"[`*]", "", match[1])
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _strip_code_blocks_only(text: str) -> str:
    return re.sub(r"^(```+|~~~+).*?^\1", "", text, flags=re.S | re.M)


def _links(path: Path) -> list[str]:
    return re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", _strip_code(path.read_text()))


DOC_FILES = [README, *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(path):
    broken = []
    for link in _links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:
            continue
        target, _, anchor = link.partition("#")
        file = path if not target else (path.parent / target).resolve()
        if not file.is_relative_to(ROOT):
            broken.append(f"{link} (outside the repository)")
        elif not file.exists():
            broken.append(f"{link} (no file {target})")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{link} (no heading #{anchor} in {file.relative_to(ROOT).as_posix()})")
    assert not broken, f"{path.relative_to(ROOT)}: broken links: {broken}"


def test_the_readme_types_no_measured_figure():
    """Figures go to docs/results.md, rendered; the README holds none (a minute, a score, a count of tests)."""
    text = _strip_code(README.read_text())
    suspicious = re.findall(r"\b\d+(?:\.\d+)?\s*(?:min\b|minutes\b|s\b|ms\b|h\b|hours\b|tests\b|%|dB\b)", text)
    suspicious += re.findall(r"\b(?:FVD|PSNR|SSIM|LPIPS)\s*(?:of\s*)?\d", text)
    assert not suspicious, f"README.md types measured figures: {suspicious}"


# ----------------------------------------------------------------------------- no paths outside the repository

def test_no_tracked_text_file_points_outside_the_repository():
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    offenders = []
    for rel in filter(None, files.decode().split("\0")):
        path = ROOT / rel
        if not path.is_file():  # deleted in the working tree, or a submodule
            continue
        data = path.read_bytes()
        if b"\0" in data:  # binary
            continue
        offenders += [f"{rel}: {n.decode()}" for n in OUTSIDE if n in data]
    assert not offenders, f"tracked files naming a path outside the repository: {offenders}"


def test_every_design_citation_names_a_section_of_the_design_page():
    """The code cites the design by section number (docs/design.md, then § and the number; issue 45): each
    number must be a heading of that page."""
    sections = set(re.findall(r"^## (§\w+) ", (DOCS / "design.md").read_text(), re.M))
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    cited: dict[str, set[str]] = {}
    for rel in files:
        path = ROOT / rel
        if path.suffix not in {".py", ".md", ".yaml", ".j2", ".txt", ".sh", ""} or not path.is_file():
            continue
        for number in re.findall(r"docs/design\.md (§\w+)", path.read_text(errors="replace")):
            cited.setdefault(number, set()).add(rel)
    assert cited, "no citation of the design page found"
    missing = {n: sorted(f) for n, f in cited.items() if n not in sections}
    assert not missing, f"citations of sections docs/design.md does not have: {missing}"
