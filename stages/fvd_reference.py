"""Stage fvd_reference: the I3D features of one benchmark's real test clips (SPEC §7).

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
    proto = bench.protocol
    check_inputs(bench, args.benchmark, paths.frames, paths.split, params=args.params)
    starts, _, _ = protocol_clips(proto, paths.frames, paths.split)
    skipped = E.fvd_unavailable(len(starts), proto.clip_len)
    reference = None
    if skipped is None:
        configure_torch()
        device = P.top_level(raw, "device", args.params).device
        i3d = load_i3d(args.root + "/" + str(METRIC_WEIGHTS["i3d"])).to(device)
        reference = E.fvd_reference(paths.frames, starts, proto.clip_len, E.i3d_features(i3d, args.batch_size),
                                    args.batch_size, not args.no_progress)
    E.save_reference(paths.fvd_reference, reference, skipped)
    print(f"fvd_reference {args.benchmark}: {skipped or f'{len(starts)} real test clips embedded'} "
          f"-> {paths.fvd_reference}")


if __name__ == "__main__":
    main()
