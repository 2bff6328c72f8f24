"""Stage leaderboard: one benchmark's runs (measured) and the seeds' published rows (docs/design.md §3, §7).

Writes reports/<benchmark>/leaderboard/: leaderboard.json (the headline numbers of each run;
a plain output, `dvc metrics show` lists the runs' metrics.json), rows.json (every row with intervals, protocol flags, sources and protocol
differences, and the long-horizon protocol's per-timestep curves where the benchmark has one; the
report reads it), leaderboard.tsv (one line per row, a `kind` column), and, beside that folder, the untracked reports/<benchmark>/timings.tsv (training and sampling wall
times, from logs/timings/).
"""
from __future__ import annotations

from genvid.cli import benchmark_parser
from genvid.stage import cli_main
from genvid.layout import benchmark_paths
from genvid.leaderboard import LONG_HORIZON, MEASURED, build_rows, write_leaderboard, write_timings
from genvid.timings import read_timings


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = benchmark_parser(__doc__).parse_args(argv)
    rows = build_rows(args.params, args.benchmark, args.root)
    out = benchmark_paths(args.benchmark, args.root).leaderboard
    write_leaderboard(rows, out)
    write_timings(rows, out.parent, read_timings(args.root))  # beside the folder the report depends on
    measured = [r for r in rows["rows"] if r["kind"] == MEASURED]
    for row in measured:
        m = row["metrics"]
        fvd = "n/a" if m["fvd"] is None else f"{m['fvd']['mean']:.1f}" + (
            "" if m["fvd"]["sd"] is None else f" ± {m['fvd']['sd']:.1f}")
        flag = "" if row["protocol_ok"] else f"  [protocol: {row['protocol_deviation']}]"
        print(f"leaderboard {args.benchmark}: {row['run']}: PSNR {m['psnr']['best_seq']['mean']:.2f} dB, "
              f"SSIM {m['ssim']['best_seq']['mean']:.3f}, LPIPS {m['lpips']['best_seq']['mean']:.3f}, "
              f"FVD {fvd}{long_text(row)}{flag}")
    print(f"leaderboard {args.benchmark}: {len(measured)} measured, {len(rows['rows']) - len(measured)} "
          f"published rows -> {out}")


def long_text(row: dict) -> str:
    """The long horizon's FVD and LPIPS, and the first predicted frame at which its mean LPIPS is worse than
    the baseline run's."""
    long = row["metrics"].get(LONG_HORIZON)
    if long is None:
        return ""
    fvd = "n/a" if long["fvd"] is None else f"{long['fvd']['mean']:.1f}"
    worse, base = long.get("lpips_worse_than_baseline_from"), long.get("baseline")
    told = "" if base is None or row["baseline"] else (
        f", never worse than {base}" if worse is None else f", worse than {base} from frame {worse}")
    return f"; long horizon: FVD {fvd}, LPIPS {long['lpips']['best_seq']['mean']:.3f}{told}"

if __name__ == "__main__":
    main()
