"""Stage split: chronological train/val/test frame ranges (seed 000 §4.1.2); no frames copied."""
from __future__ import annotations

from genvid import params as P
from genvid.cli import stage_parser
from genvid.data.frames import read_frames_info
from genvid.data.split import clip_starts, split_ranges
from genvid.errors import cli_main
from genvid.io import write_json


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__, "frames")
    parser.add_argument("--out", default="data/splits/split.json")
    args = parser.parse_args(argv)
    cfg = P.load(["split", "clips"], args.params)
    clips = cfg["clips"]

    info = read_frames_info(args.frames)
    result = split_ranges(info.episode, cfg["split"], clips["clip_len"], source=args.frames)
    result["fractions"] = cfg["split"]
    for name, entry in result["splits"].items():
        stride = clips["train_stride"] if name == "train" else clips["eval_stride"]
        entry["stride"] = stride
        entry["clips"] = len(clip_starts(entry["ranges"], clips["clip_len"], stride))
    write_json(args.out, result)
    summary = ", ".join(f"{k} {v['frames']} frames / {v['clips']} clips" for k, v in result["splits"].items())
    print(f"split: {summary}")


if __name__ == "__main__":
    main()
