"""Stage sample: the futures of every test clip of a run's benchmark, from its context frames only
(and, for a conditioned model, the clip's recorded per-frame inputs, e.g. the actions); then, where the
benchmark has them, the futures of its counterfactual clips and of its long-horizon protocol's clips.

Killed part-way, it resumes: each predict call's futures are kept under checkpoints/<run>/sample/ as it
finishes (genvid.sampling.BatchCache, named by everything they depend on), read back by the rerun, and
removed once the samples file is written."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from tqdm import tqdm

from genvid import params as P
from genvid.cli import run_parser
from genvid.codegraph import code_digest
from genvid.data.benchmark import protocol_clips
from genvid.data.counterfactuals import Counterfactuals, read_counterfactuals
from genvid.data.frames import CONDITIONING, conditioning
from genvid.data.h5 import read_h5
from genvid.data.samples import ClipsWriter, Cond, CounterfactualPredictions, write_samples
from genvid.determinism import configure_torch
from genvid.device import autocast as precision_autocast
from genvid.errors import GenvidError
from genvid.stage import cli_main, int_at_least
from genvid.layout import benchmark_paths, run_paths
from genvid.context import check_data, run_context
from genvid.models.predictor import clips_per_call
from genvid.models.registry import get
from genvid.models.store import check_run_record
from genvid.io import fingerprint
from genvid.sampling import BatchCache, protocol_batches
from genvid.train.sampler import COUNTERFACTUAL_STREAM, LONG_HORIZON_STREAM, derived_seed




@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = run_parser(__doc__)
    parser.add_argument("--batch-clips", type=int_at_least(0), default=0, help="clips per predict call (0: from params)")
    args = parser.parse_args(argv)
    ctx, raw = run_context(args.params, args.run, args.root)
    configure_torch()
    seed = P.top_level(raw, "sample", args.params).seed
    proto, spec = ctx.bench.protocol, get(ctx.run.model, f"runs.{ctx.run.name}.model")
    info = check_data(ctx)
    check_run_record(ctx, frame=(info.height, info.width, info.channels))  # models/<run>: this run's, today's sizes
    starts, episode, cluster = protocol_clips(ctx.bench.protocol, ctx.frames, ctx.split)
    long = ctx.bench.long_horizon
    long_clips = None if long is None else protocol_clips(long, ctx.frames, ctx.split)
    cf = read_counterfactuals(benchmark_paths(ctx.run.benchmark, args.root).counterfactuals)
    if cf.available and (cf.context_frames, cf.horizon) != (proto.context_frames, proto.horizon):
        raise GenvidError(f"{benchmark_paths(ctx.run.benchmark, args.root).counterfactuals}: made for "
                          f"{cf.context_frames} -> {cf.horizon} frames, the protocol is {proto.context_frames} -> "
                          f"{proto.horizon} (rerun stage counterfactuals@{ctx.run.benchmark})")
    predictor = spec.predictor(ctx)
    check = getattr(predictor, "check_protocol", None)
    if check is not None:  # fail before writing anything
        for p in [q for q in (proto, long) if q is not None]:
            check(p.context_frames, p.horizon, (info.height, info.width, info.channels), str(ctx.frames))
    c, s, n = proto.context_frames, proto.num_samples, len(starts)
    per_call = args.batch_clips or clips_per_call(ctx.run.model_params, s)
    single_window = getattr(predictor, "single_window", lambda context, horizon: True)
    extras = {name: dataclasses.replace(e, samples=e.samples or s) for name, e in spec.extras.items()
              if single_window(c, proto.horizon)}
    # params device.precision: bf16 autocast of the model (the metrics are always float)
    autocast = precision_autocast(ctx.device, ctx.precision)
    out = run_paths(ctx.run.name, ctx.run.benchmark, args.root).samples
    long_per_call = None if long is None else args.batch_clips or clips_per_call(ctx.run.model_params, long.num_samples)
    cache = BatchCache(ctx.workdir / "sample", fingerprint(
        {"model_params": ctx.run.model_params, "protocol": dataclasses.asdict(proto), "seed": seed, "per_call": per_call,
         "long": None if long is None else [dataclasses.asdict(long), long_per_call], "device": ctx.device,
         "precision": ctx.precision, "code": code_digest("sample", spec)},
        [*sorted(f for f in ctx.model_dir.rglob("*") if f.is_file()), ctx.frames]))
    if cache.count("protocol") or cache.count("long"):
        print(f"sample {ctx.run.name}: resuming; {cache.count('protocol')} test-clip and {cache.count('long')} "
              f"long-horizon calls were drawn before", flush=True)
    attrs = {"run": ctx.run.name, "model": ctx.run.model, "benchmark": ctx.run.benchmark, "seed": seed}
    cond_info = None if spec.conditioning is None else Cond(spec.conditioning, CONDITIONING[spec.conditioning])
    with write_samples(out, n, (info.height, info.width, info.channels), c, proto.horizon, s, attrs,
                       extras, cond_info) as writer, read_h5(ctx.frames, "frames file") as f:
        frames = f["frames"]
        recorded = None if cond_info is None else conditioning(f, ctx.frames, cond_info.name)
        draw(writer, predictor, frames, recorded, (starts, episode, cluster), proto, per_call,
             lambda first: derived_seed(seed, first), extras, f"sample {ctx.run.name}", autocast, cache, "protocol")
        if cf.available:
            with autocast:
                writer.counterfactual(counterfactual_futures(predictor, cf, seed, cond_info is not None,
                                                             max(1, per_call * s // cf.num_samples)))
        if long is not None:
            draw(writer.long_horizon(len(long_clips[0]), long.context_frames, long.horizon, long.num_samples),
                 predictor, frames, recorded, long_clips, long, long_per_call,
                 lambda first: derived_seed(seed, LONG_HORIZON_STREAM, first), {}, f"long horizon {ctx.run.name}",
                 autocast, cache, "long")
    cache.clear()  # the samples file is written: the kept calls have served
    told = f"; {cf.clips} counterfactual clips x {len(cf.sequences)} actions" if cf.available else ""
    if long is not None:
        told += (f"; long horizon: {len(long_clips[0])} clips x {long.num_samples} samples, "
                 f"{long.context_frames} -> {long.horizon} frames")
    print(f"sample {ctx.run.name}: {n} test clips x {s} samples, {c} context frames{told} -> {out}")


def draw(writer: ClipsWriter, predictor, frames, recorded, clips: tuple[np.ndarray, np.ndarray, np.ndarray],
         proto: P.ProtocolConfig, per_call: int, seed_of, extras: dict, desc: str, autocast,
         cache: BatchCache | None = None, tag: str = "protocol") -> None:
    """Every future of the test clips ``clips`` (start, episode, cluster) of protocol ``proto``, drawn by the
    protocol's one loop (genvid.sampling), into ``writer``; with ``extras``, the family's diagnostic series."""
    starts, episode, cluster = clips
    for b in protocol_batches(predictor, frames, recorded, starts, proto.context_frames, proto.horizon,
                              proto.num_samples, per_call, seed_of, diagnostics=bool(extras), autocast=autocast,
                              desc=desc, cache=cache, tag=tag):
        writer.write(b.rows, b.real, b.futures, b.series, b.cond,
                     episode=episode[b.rows], start=starts[b.rows], cluster=cluster[b.rows])


def counterfactual_futures(predictor, cf: Counterfactuals, seed: int, conditioned: bool,
                           per_call: int) -> CounterfactualPredictions:
    """The futures of each counterfactual clip under each held action sequence, ``per_call`` clips
    at a time. Each action's batch is drawn from a generator in the same state (common random
    numbers), so a clip's futures differ only where the model reads the action; a model that reads
    none predicts once."""
    out = np.zeros((cf.clips, len(cf.sequences), cf.num_samples, *cf.frames.shape[2:]), np.uint8)
    for first in tqdm(range(0, cf.clips, per_call), desc="counterfactuals", unit="batch"):
        rows = slice(first, min(first + per_call, cf.clips))
        context = torch.from_numpy(cf.context[rows])  # context frames only

        def draw(k: int | None) -> np.ndarray:
            generator = torch.Generator().manual_seed(derived_seed(seed, COUNTERFACTUAL_STREAM, first))
            given = {} if k is None else {"cond": torch.from_numpy(cf.cond[rows, k])}
            return predictor.predict(context, cf.horizon, cf.num_samples, generator, **given).numpy()

        if conditioned:
            for k in range(len(cf.sequences)):
                out[rows, k] = draw(k)
        else:
            out[rows] = draw(None)[:, None]
    return CounterfactualPredictions(out, cf.sequences, conditioned)


if __name__ == "__main__":
    main()
