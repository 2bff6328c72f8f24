"""Stage collect: record one benchmark's video to its HDF5 frames file (docs/design.md §3)."""
from __future__ import annotations

from tqdm import tqdm

from genvid import footprint
from genvid import params as P
from genvid.cli import benchmark_parser
from genvid.data.benchmark import generator, is_generated
from genvid.data.frames import write_frames
from genvid.data.sources import SOURCE_VERSIONS, episode_seed, generate_episode
from genvid.data.video_dir import VIDEO_SOURCE
from genvid.data.video_dir import collect as collect_videos
from genvid.stage import cli_main
from genvid.layout import benchmark_paths


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = benchmark_parser(__doc__).parse_args(argv)
    bench = P.benchmark(P.read_params(args.params), args.benchmark, args.params)
    cfg = bench.collect
    out = benchmark_paths(args.benchmark, args.root).frames
    footprint.check(footprint.collect_needs(bench, args.benchmark), args.params, out)  # before any work
    if cfg.source == VIDEO_SOURCE:  # a user's own videos under videos/ (genvid.data.video_dir); no actions
        # clips.clip_len only checks each video holds one clip (stage split would refuse it, naming no file)
        total, n_ep = collect_videos(cfg, args.root, out, bench.clips.clip_len, f"benchmarks.{args.benchmark}",
                                     lambda it: tqdm(it, desc=f"collect {args.benchmark} ({cfg.source})", unit="video"))
        print(f"collect: wrote {total} frames ({n_ep} videos from {cfg.path}) to {out}")
        return
    if is_generated(cfg):  # SM-MNIST, Dynamics-like: only the test set is recorded; training sequences are generated
        generator(cfg.source).write_test_set(out, cfg.test_sequences, cfg.sequence_length, cfg.seed)
        print(f"collect: wrote {cfg.test_sequences} test sequences of {cfg.sequence_length} frames to {out}")
        return
    n_ep, n_frames = cfg.episodes, cfg.frames_per_episode
    episodes = (
        generate_episode(cfg.source, episode_seed(cfg.seed, i), n_frames, cfg.resolution, cfg.interval,
                         cfg.steer_noise)
        for i in tqdm(range(n_ep), desc=f"collect {args.benchmark} ({cfg.source})", unit="episode")
    )
    attrs = {"source": cfg.source, "resolution": cfg.resolution, "interval": float(cfg.interval),
             "seed": cfg.seed, "episodes": n_ep, "simulator_version": SOURCE_VERSIONS[cfg.source],
             **({"steer_noise": float(cfg.steer_noise)} if cfg.steer_noise else {})}
    write_frames(out, episodes, n_ep * n_frames, cfg.resolution, attrs)
    print(f"collect: wrote {n_ep * n_frames} frames ({n_ep} episodes) to {out}")


if __name__ == "__main__":
    main()
