"""Stage normalize: per-channel mean/std over the training split only (seed 000 eq. 4.1)."""
from __future__ import annotations

from genvid import params as P
from genvid.cli import benchmark_parser
from genvid.data.benchmark import check_inputs, generated_stats, is_generated
from genvid.data.stats import channel_stats
from genvid.stage import cli_main
from genvid.io import write_json
from genvid.layout import benchmark_paths


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = benchmark_parser(__doc__).parse_args(argv)
    bench = P.benchmark(P.read_params(args.params), args.benchmark, args.params)
    paths = benchmark_paths(args.benchmark, args.root)
    _, split = check_inputs(bench, args.benchmark, paths.frames, paths.split, params=args.params)
    if is_generated(bench.collect):  # over generated training sequences, never the test set
        stats = generated_stats(bench.collect)
    else:
        chunk = bench.normalize.chunk_frames if bench.normalize else 256
        stats = channel_stats(paths.frames, split["splits"]["train"]["ranges"], chunk)
    write_json(paths.stats, stats)
    print(f"normalize {args.benchmark}: mean {[round(v, 4) for v in stats['mean']]} "
          f"std {[round(v, 4) for v in stats['std']]}")


if __name__ == "__main__":
    main()
