"""Stage report: the thesis-style reports/report.html (self-contained) and reports/report.pdf (docs/design.md §8).

Chapters 1-5 describe the run named by params.yaml ``report.main_run`` (any run);
chapter 6 compares every run of every benchmark (leaderboards, per-timestep curves, sample
strips). Reads every artefact at the paths of genvid.layout below --root. Also writes the
untracked companion reports/timings.html (each stage's wall time), which is not a DVC output.
"""
from __future__ import annotations

from pathlib import Path

from genvid.cli import stage_parser
from genvid.stage import cli_main
from genvid.report.build import Options, build_report
from genvid.report.inputs import ReportPaths
from genvid.report.readers import preflight


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--root", default=".", help="folder the artefact paths are relative to")
    parser.add_argument("--out-html", default=None, help="default: <root>/reports/report.html")
    parser.add_argument("--out-pdf", default=None, help="default: <root>/reports/report.pdf")
    args = parser.parse_args(argv)
    root = Path(args.root)
    out_html = Path(args.out_html) if args.out_html else root / "reports" / "report.html"
    out_pdf = Path(args.out_pdf) if args.out_pdf else root / "reports" / "report.pdf"
    paths = ReportPaths.under(root, args.params)
    preflight(paths)
    companion = build_report(paths, out_html, out_pdf, Options())
    print(f"report: wrote {out_html} and {out_pdf} (wall times: {companion}, untracked)")


if __name__ == "__main__":
    main()
