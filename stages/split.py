"""Stage split: chronological train/val/test frame ranges (seed 000 §4.1.2); no frames copied."""
from __future__ import annotations

from dataclasses import asdict

from genvid import params as P
from genvid.cli import benchmark_parser
from genvid.data.benchmark import check_frames, generated_split, is_generated
from genvid.data.split import clip_starts, split_ranges
from genvid.errors import ParamError
from genvid.stage import cli_main
from genvid.io import write_json
from genvid.layout import benchmark_paths


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = benchmark_parser(__doc__).parse_args(argv)
    bench = P.benchmark(P.read_params(args.params), args.benchmark, args.params)
    paths = benchmark_paths(args.benchmark, args.root)
    clips = bench.clips
    # Every clip length a stage cuts must fit in one range: training clips and protocol test clips.
    longest = max(clips.clip_len, bench.protocol.clip_len)
    info = check_frames(bench, args.benchmark, paths.frames, args.params)
    if is_generated(bench.collect):
        result = generated_split(info.episode)
    elif bench.split is None:
        raise ParamError(f"{args.params}: benchmarks.{args.benchmark}.split is missing (a recorded source needs it)")
    else:
        result = split_ranges(info.episode, asdict(bench.split), longest, source=str(paths.frames))
        result["fractions"] = asdict(bench.split)
    for name, entry in result["splits"].items():
        stride = clips.train_stride if name == "train" else clips.eval_stride
        entry["stride"] = stride
        entry["clips"] = len(clip_starts(entry["ranges"], clips.clip_len, stride))
    write_json(paths.split, result)
    summary = ", ".join(f"{k} {v['frames']} frames / {v['clips']} clips" for k, v in result["splits"].items())
    print(f"split {args.benchmark}: {summary}")


if __name__ == "__main__":
    main()
