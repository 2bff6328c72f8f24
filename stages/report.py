"""Stage report: the thesis-style reports/report.html (self-contained) and reports/report.pdf (SPEC §8)."""
from __future__ import annotations

import argparse
from pathlib import Path

from genvid.errors import cli_main
from genvid.report.build import Options, build_report
from genvid.report.inputs import ReportPaths


@cli_main
def main(argv: list[str] | None = None) -> None:
    d = ReportPaths.under(".")
    parser = argparse.ArgumentParser(description=__doc__)
    add = parser.add_argument
    add("--params", default=str(d.params))
    add("--frames", default=str(d.frames))
    add("--split", default=str(d.split))
    add("--stats", default=str(d.stats))
    add("--vqvae", default=str(d.vqvae))
    add("--vqvae-curves", default=str(d.vqvae_curves), help="folder with train.tsv and val.tsv")
    add("--vqvae-metrics", default=str(d.vqvae_metrics))
    add("--latents", default=str(d.latents))
    add("--prior-top-curves", default=str(d.prior_top_curves))
    add("--prior-bottom-curves", default=str(d.prior_bottom_curves))
    add("--prior-top-metrics", default=str(d.prior_top_metrics))
    add("--prior-bottom-metrics", default=str(d.prior_bottom_metrics))
    add("--samples", default=str(d.samples))
    add("--metrics", default=str(d.metrics))
    add("--eval-dir", default=str(d.eval_dir), help="folder with the per-timestep <metric>.tsv files")
    add("--lock", default=str(d.lock), help="dvc.lock for the appendix (optional; not a dependency)")
    add("--profiles", default=str(d.profiles), help="profiles folder, to name the profile in use")
    add("--out-html", default="reports/report.html")
    add("--out-pdf", default="reports/report.pdf")
    args = parser.parse_args(argv)

    paths = ReportPaths(**{name: Path(getattr(args, name)) for name in ReportPaths.__dataclass_fields__})
    build_report(paths, args.out_html, args.out_pdf, Options())
    print(f"report: wrote {args.out_html} and {args.out_pdf}")


if __name__ == "__main__":
    main()
