"""Stage sample: the futures of every test clip of a run's benchmark, from its context frames only."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from tqdm import tqdm

from genvid import params as P
from genvid.cli import run_parser
from genvid.data.frames import read_frames_info
from genvid.data.h5 import read_h5
from genvid.data.samples import write_samples
from genvid.determinism import configure_torch
from genvid.data.split import clip_starts, validate_split_file
from genvid.errors import GenvidError, cli_main
from genvid.io import read_json
from genvid.layout import run_paths
from genvid.models.registry import get, run_context
from genvid.train.sampler import derived_seed


def test_clips(ctx) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, episode, cluster) of the protocol's test clips; clusters are blocks of
    ``block_clips`` consecutive clips of one episode (genvid.metrics.stats)."""
    proto = ctx.bench.protocol
    split = validate_split_file(read_json(ctx.split), str(ctx.split))
    starts = clip_starts(split["splits"]["test"]["ranges"], proto.clip_len, proto.test_stride)
    if proto.max_clips:
        starts = starts[:proto.max_clips]
    if len(starts) == 0:
        raise GenvidError(f"{ctx.split}: the test split holds no clip of {proto.clip_len} frames "
                          f"(context {proto.context_frames} + horizon {proto.horizon})")
    info = read_frames_info(ctx.frames)
    if int(starts[-1]) + proto.clip_len > info.num_frames:
        raise GenvidError(f"{ctx.split}: test clip at frame {int(starts[-1])} runs past the end of "
                          f"{ctx.frames} ({info.num_frames} frames); rerun the split stage")
    episode = info.episode[starts].astype(np.int64)
    rank = np.zeros(len(starts), dtype=np.int64)
    for i in range(1, len(starts)):
        rank[i] = rank[i - 1] + 1 if episode[i] == episode[i - 1] else 0
    _, cluster = np.unique(np.stack([episode, rank // proto.block_clips], 1), axis=0, return_inverse=True)
    return np.asarray(starts, dtype=np.int64), episode, cluster.reshape(-1).astype(np.int64)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = run_parser(__doc__)
    parser.add_argument("--batch-clips", type=int, default=0, help="clips per predict call (0: from params)")
    args = parser.parse_args(argv)
    ctx, raw = run_context(args.params, args.run, args.root)
    configure_torch()
    seed = P.top_level(raw, "sample", args.params).seed
    proto, spec = ctx.bench.protocol, get(ctx.run.model, f"runs.{ctx.run.name}.model")
    starts, episode, cluster = test_clips(ctx)
    info = read_frames_info(ctx.frames)
    predictor = spec.predictor(ctx)
    check = getattr(predictor, "check_protocol", None)
    if check is not None:  # fail before writing anything
        check(proto.context_frames, proto.horizon, (info.height, info.width, info.channels), str(ctx.frames))
    c, s, n = proto.context_frames, proto.num_samples, len(starts)
    per_call = args.batch_clips or max(1, int(ctx.run.model_params.get("sampling", {}).get("batch_size", s)) // s)
    single_window = getattr(predictor, "single_window", lambda context, horizon: True)
    extras = {name: dataclasses.replace(e, samples=e.samples or s) for name, e in spec.extras.items()
              if single_window(c, proto.horizon)}
    # params device.precision: bf16 autocast of the model on cuda (the metrics are always float)
    autocast = torch.autocast(ctx.device if ctx.device == "cuda" else "cpu", dtype=torch.bfloat16,
                              enabled=ctx.precision == "bf16")
    out = run_paths(ctx.run.name, ctx.run.benchmark, args.root).samples
    attrs = {"run": ctx.run.name, "model": ctx.run.model, "benchmark": ctx.run.benchmark, "seed": seed}
    with write_samples(out, n, (info.height, info.width, info.channels), c, proto.horizon, s, attrs,
                       extras) as writer, read_h5(ctx.frames, "frames file") as f:
        frames = f["frames"]
        for first in tqdm(range(0, n, per_call), desc=f"sample {ctx.run.name}", unit="batch"):
            rows = slice(first, min(first + per_call, n))
            real = np.stack([frames[int(a):int(a) + proto.clip_len] for a in starts[rows]])
            context = torch.from_numpy(real[:, :c])  # the only input of predict: no later frame, no index
            generator = torch.Generator().manual_seed(derived_seed(seed, first))
            with autocast:
                if extras:  # the same futures as predict(context), plus series that see the whole clip
                    futures, series = predictor.predict_with_diagnostics(torch.from_numpy(real), c, proto.horizon,
                                                                         s, generator)
                else:
                    futures, series = predictor.predict(context, proto.horizon, s, generator), {}
            writer.write(rows, real, futures.numpy(), {k: v.numpy() for k, v in series.items()},
                         episode=episode[rows], start=starts[rows], cluster=cluster[rows])
    print(f"sample {ctx.run.name}: {n} test clips x {s} samples, {c} context frames -> {out}")


if __name__ == "__main__":
    main()
