"""Stage counterfactuals: a benchmark's test clips replayed by its simulator under other held actions
(issue 24; genvid.data.counterfactuals). A benchmark without a simulator to replay, or without the
section, gets the file that says so, with no clips."""
from __future__ import annotations

from tqdm import tqdm

from genvid import footprint
from genvid import params as P
from genvid.cli import benchmark_parser
from genvid.data.benchmark import check_inputs, protocol_clips
from genvid.data.counterfactuals import unavailable_reason, write_counterfactuals
from genvid.stage import cli_main
from genvid.layout import benchmark_paths


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    bench = P.benchmark(P.read_params(args.params), args.benchmark, args.params)
    paths = benchmark_paths(args.benchmark, args.root)
    footprint.check(footprint.counterfactual_needs(bench, args.benchmark), args.params, paths.counterfactuals)
    check_inputs(bench, args.benchmark, paths.frames, paths.split, params=args.params)
    proto = bench.protocol
    starts, episode, cluster = protocol_clips(proto, paths.frames, paths.split)
    cfg = bench.counterfactuals
    reason = unavailable_reason(str(bench.collect.source))

    def progress(it):
        return tqdm(it, desc=f"counterfactuals {args.benchmark}", unit="clip", disable=args.no_progress)

    cf = write_counterfactuals(paths.counterfactuals, cfg, bench.collect, paths.frames, starts, episode, cluster,
                               proto.context_frames, proto.horizon, reason if cfg is not None else None, progress)
    told = (f"{cf.clips} test clips x {len(cf.sequences)} held actions ({', '.join(cf.sequences)})"
            if cf.available else f"none ({cf.reason})")
    print(f"counterfactuals {args.benchmark}: {told} -> {paths.counterfactuals}")


if __name__ == "__main__":
    main()
