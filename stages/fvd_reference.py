"""Stage fvd_reference: the I3D features of one benchmark's real test clips (docs/design.md §7), and of its
long-horizon protocol's clips where it has one (context + true future of each).

Every run of the benchmark is scored against this one real set, so it is embedded once, not
once per run; evaluate checks each samples file's real clips against its hash.
"""
from __future__ import annotations

from genvid import evaluation as E
from genvid import params as P
from genvid.cli import benchmark_parser
from genvid.data.benchmark import check_inputs, protocol_clips
from genvid.determinism import configure_torch
from genvid.stage import cli_main, int_at_least
from genvid.layout import METRIC_WEIGHTS, benchmark_paths
from genvid.metrics.weights import load_i3d


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--batch-size", type=int_at_least(1), default=4, help="clips per I3D pass")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    raw = P.read_params(args.params)
    bench = P.benchmark(raw, args.benchmark, args.params)
    paths = benchmark_paths(args.benchmark, args.root)
    check_inputs(bench, args.benchmark, paths.frames, paths.split, params=args.params)
    protocols = [p for p in (bench.protocol, bench.long_horizon) if p is not None]
    clips = [protocol_clips(p, paths.frames, paths.split)[0] for p in protocols]
    skipped = [E.fvd_unavailable(len(starts), p.clip_len) for p, starts in zip(protocols, clips)]
    references: list[E.Reference | None] = [None] * len(protocols)
    if any(why is None for why in skipped):
        configure_torch()
        device = P.top_level(raw, "device", args.params).device
        features = E.i3d_features(load_i3d(args.root + "/" + str(METRIC_WEIGHTS["i3d"])).to(device), args.batch_size)
        references = [None if why is not None else E.fvd_reference(paths.frames, starts, p.clip_len, features,
                                                                    args.batch_size, not args.no_progress)
                      for p, starts, why in zip(protocols, clips, skipped)]
    long = None if bench.long_horizon is None else (references[1], skipped[1])
    E.save_reference(paths.fvd_reference, references[0], skipped[0], long)
    told = [why or f"{len(starts)} real {what} clips embedded"
            for what, starts, why in zip(("test", "long-horizon"), clips, skipped)]
    print(f"fvd_reference {args.benchmark}: {'; '.join(told)} -> {paths.fvd_reference}")


if __name__ == "__main__":
    main()
