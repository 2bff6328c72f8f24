"""Stage normalize: per-channel mean/std over the training split only (seed 000 eq. 4.1)."""
from __future__ import annotations

from genvid import params as P
from genvid.cli import stage_parser
from genvid.data.frames import read_frames_info
from genvid.data.split import validate_split_file
from genvid.data.stats import channel_stats
from genvid.errors import cli_main
from genvid.io import read_json, write_json


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__, "frames", "split")
    parser.add_argument("--out", default="data/stats/normalization.json")
    args = parser.parse_args(argv)
    cfg = P.load(["normalize"], args.params)["normalize"]

    read_frames_info(args.frames)
    split = validate_split_file(read_json(args.split), args.split)
    stats = channel_stats(args.frames, split["splits"]["train"]["ranges"], cfg["chunk_frames"])
    write_json(args.out, stats)
    print(f"normalize: mean {[round(v, 4) for v in stats['mean']]} std {[round(v, 4) for v in stats['std']]}")


if __name__ == "__main__":
    main()
