"""Stage figures: what only the models can give the report: the frames they draw (reports/figures/figures.h5)
and what they declare (reports/figures/declared.json).

Draws, with the run's own family (genvid.models.figures), the level decodings of params
``report.main_run`` (a family that declares them: the VQ family, seed 000 Fig. 6.1) and the
futures of ``report.temperature_run`` at each of ``report.temperatures``; the report stage reads
the file (genvid.data.figures) and runs no model. Every registered model's declarations (its label,
citation, design-choice rows, claims and ablation table: genvid.data.declared) go to declared.json, so the
report renders them without importing model code.
"""
from __future__ import annotations

from pathlib import Path

from genvid.cli import stage_parser
from genvid.data.declared import write_declared
from genvid.data.figures import write_figures
from genvid.determinism import configure_torch
from genvid.layout import declared_path, figures_path
from genvid.models.figures import draw_figures
from genvid.models.registry import MODELS
from genvid.stage import cli_main


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--root", default=".", help="folder the artefact paths are relative to")
    args = parser.parse_args(argv)
    configure_torch()
    out = figures_path(Path(args.root))
    figures = draw_figures(args.params, args.root)
    write_figures(out, figures)
    print(f"figures: wrote {out} (levels: {figures.levels is not None}, "
          f"temperatures: {figures.temperatures is not None})")
    write_declared(declared_path(Path(args.root)), {name: spec.declared() for name, spec in MODELS.items()})
    print(f"figures: wrote {declared_path(Path(args.root))} ({len(MODELS)} models' declarations)")


if __name__ == "__main__":
    main()
