"""Benchmark: what does a network need to learn Dynamics' motion in a CPU's minutes? A probe, not a family.

    python benchmarks/motion_probe.py --mode context --scale 2 --steps 3000 --every 300
    python benchmarks/motion_probe.py --mode rollout --scale 1 --steps 900 --every 150 --batch 8
    python benchmarks/motion_probe.py --mode context ... > benchmarks/results/motion-probe-dynamics-<machine>.txt

Issue 48 asks Dynamics for a learned model with motion accuracy >= 0.3; feature flow stays near chance at every
budget the default profile can give it (docs/learning.md, benchmarks/memorise.py). This script asks which
structure learns that motion within minutes, with two small warp predictors that are not registered models and
never enter the DAG. Each predicts every future frame as a frame of the clip read where a displacement field
points (genvid.models.feature_flow.flow.warp_pixels, bilinear), and the displacement is all it learns:

- ``context``: the displacements of all ``horizon`` future frames at once, from the whole context: the last
  context frame beside the ``context - 1`` differences between successive context frames. Every future frame is
  the last context frame, warped.
- ``rollout``: one frame at a time, as feature flow predicts: frame t is frame t-1 warped, from frame t-1 beside
  the last ``--differences`` differences between successive frames, the model's own frames once past the context.
  It trains on its open-loop rollout of the horizon.

Both read their inputs through the same stack, the one feature flow's context warp uses
(genvid.models.feature_flow.warp.DisplacementStack): the frames average-pooled by ``--scale``, a 3×3 convolution,
dilated 3×3 convolutions (one output sees about 70 pixels of the pooled frame), LeakyReLU, a 3×3 head that starts
at zero (the untrained probe copies the last frame), its output upsampled back by ``--scale``. The context probe is
that warp, trained alone. Loss: the squared error of the horizon's frames; genvid's AdamW without weight decay, a constant
learning rate, minibatches from a seeded permutation of the first ``--clips`` generated training sequences
(the train stage's, benchmarks/memorise.py's batches).

The context probe takes the warp's other forms too: ``--motion acceleration`` or ``layered`` (an object layer moved
rigidly over the warp) and ``--loss absolute`` (the mean absolute error).

Scored every ``--every`` steps on held-out sequences of the validation range (never the protocol's test clips):
the open-loop squared error beside copy-last's and the benchmark's motion classifier's accuracy, beside its
accuracy on the same clips' real futures (the ceiling), copy-last's, and their futures redrawn with the object's
context motion extrapolated at constant velocity and at constant acceleration (genvid.metrics.motion's reference
levels, here on the validation clips); with ``--fvd``, also the FVD of those clips (context and future, quantised
as a samples file holds them, I3D as the evaluate stage runs it) beside copy-last's on the same clips: a number of
these clips only, not the protocol's. Needs the DAG's classifier: ``dvc repro motion_classifier@dynamics``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # the scripts are not a package: memorise.py lies beside this one
from memorise import Scorer, as_uint8, batches  # noqa: E402  (first: it pins the stages' kernels before torch loads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from genvid.models.feature_flow.flow import warp_pixels  # noqa: E402
from genvid.models.feature_flow.warp import LOSSES, MOTIONS, ContextWarp, DisplacementStack, differences  # noqa: E402


def make_probe(mode: str, channels: int, context: int, horizon: int, count: int, width: int,
               scale: int, motion: str = "free", levels: int = 1, loss: str = "squared",
               matte_weight: float = 0.0) -> ContextWarp | DisplacementStack:
    """The context probe is feature flow's context warp (``motion``: its parametrisation); the rollout probe its
    stack, reading one frame and ``count`` differences, drawing one displacement."""
    if mode == "context":
        return ContextWarp(channels, context, horizon, width, scale, motion, levels, loss, matte_weight)
    return DisplacementStack(channels * (1 + count), 1, width, scale)


def predict(probe: ContextWarp | DisplacementStack, mode: str, context: torch.Tensor, horizon: int,
            count: int) -> torch.Tensor:
    """The future [B, horizon, C, H, W] from ``context`` [B, Tc, C, H, W] (module docstring)."""
    if mode == "context":
        return probe(context, horizon)
    frames = list(context.unbind(1))
    for _ in range(horizon):
        frames.append(warp_pixels(frames[-1], probe(torch.cat([frames[-1], *differences(frames, count)], dim=1))))
    return torch.stack(frames[context.shape[1]:], dim=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="dynamics", help="a generated benchmark with a motion classifier")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--root", default=str(ROOT), help="where the benchmark's motion classifier is")
    parser.add_argument("--mode", choices=("context", "rollout"), default="context")
    parser.add_argument("--scale", type=int, default=2, help="the probe reads the frames pooled by this factor")
    parser.add_argument("--motion", choices=MOTIONS, default="free",
                        help="context: one displacement per future frame, or a velocity and an acceleration per pixel")
    parser.add_argument("--loss", choices=LOSSES, default="squared", help="context: the warp's training loss")
    parser.add_argument("--levels", type=int, default=1, help="context: the loss over this many pooled scales")
    parser.add_argument("--matte-weight", type=float, default=0.0,
                        help="context, layered: λ · mean(α) added to the loss (the warp's matte_weight)")
    parser.add_argument("--differences", type=int, default=7, help="rollout: frame differences read per step")
    parser.add_argument("--width", type=int, default=24)
    parser.add_argument("--clips", type=int, default=0, help="the first N training sequences (0: every one)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=300)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                        help="the learning rate over the steps, as the train loop's (cosine: down to a tenth)")
    parser.add_argument("--score-clips", type=int, default=80, help="held-out validation sequences scored")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fvd", action="store_true",
                        help="also the FVD of the scored clips (context and future, I3D as evaluate) beside copy-last's")
    args = parser.parse_args(argv)
    for name in ("scale", "differences", "width", "steps", "every", "batch", "score_clips"):
        if getattr(args, name) < 1:
            raise SystemExit(f"motion_probe.py: --{name.replace('_', '-')} must be >= 1")
    if args.matte_weight < 0 or (args.matte_weight and (args.mode, args.motion) != ("context", "layered")):
        raise SystemExit("motion_probe.py: --matte-weight must be >= 0, and 0 but for --mode context --motion layered")

    from genvid import params as P
    from genvid.data.benchmark import generator, is_generated, sequence_frames
    from genvid.data.clips import GeneratedClips
    from genvid.errors import GenvidError
    from genvid.layout import METRIC_WEIGHTS, benchmark_paths
    from genvid.machine import cpu_generation
    from genvid.metrics import motion
    from genvid.numerics import AdamW
    from genvid.train.config import TrainConfig, lr_factor

    try:
        bench = P.benchmark(P.read_params(args.params), args.benchmark, args.params)
    except GenvidError as err:
        raise SystemExit(f"motion_probe.py: {err}") from None
    collect = bench.collect
    if not is_generated(collect) or not hasattr(generator(collect.source), "extrapolated_sequence"):
        raise SystemExit(f"motion_probe.py: benchmark {args.benchmark!r} has no generator that redraws its futures")
    context, horizon = bench.protocol.context_frames, bench.protocol.horizon
    size = args.clips or collect.train_sequences
    if size > collect.train_sequences:
        raise SystemExit(f"motion_probe.py: --clips {size} is more than the {collect.train_sequences} sequences of "
                         f"benchmarks.{args.benchmark}.collect.train_sequences")
    scored = min(args.score_clips, collect.val_sequences)
    if 64 % args.scale or 64 // args.scale < 8:
        raise SystemExit(f"motion_probe.py: --scale {args.scale} must divide the frame into at least 8 pixels")
    path = benchmark_paths(args.benchmark, Path(args.root)).motion_classifier
    if not path.exists():
        raise SystemExit(f"motion_probe.py: {path} is missing (dvc repro motion_classifier@{args.benchmark})")
    classifier = motion.load(path, args.benchmark)
    if not classifier["available"]:
        raise SystemExit(f"motion_probe.py: {path}: no motion classifier ({classifier['reason']})")
    model = classifier["model"]
    weights = Path(args.root) / METRIC_WEIGHTS["i3d"]
    if args.fvd and not weights.exists():
        raise SystemExit(f"motion_probe.py: {weights} is missing (dvc repro metric_weights)")

    def clip_set(first: int, count: int) -> tuple[torch.Tensor, np.ndarray]:
        data = GeneratedClips(collect, first, count, context + horizon, None)
        return (torch.stack([data[i] for i in range(count)]),
                np.array([int(data.sequence(i).labels[0]) for i in range(count)], dtype=np.int64))

    train, _ = clip_set(0, size)
    held, labels = clip_set(collect.train_sequences, scored)
    scorer = Scorer("held-out", held, labels, context, horizon, model)  # copy-last's error, the ceiling, copy-last's
    truth = held[:, context:]
    make = generator(collect.source).extrapolated_sequence
    levels = {"real futures (the ceiling)": scorer.ceiling, "copy-last": scorer.copy_acc}
    for name, order in (("constant velocity", 1), ("constant acceleration", 2)):
        redrawn = np.stack([sequence_frames(make(collect.seed, collect.train_sequences + i, context + horizon,
                                                 context, order, "train"))[context:] for i in range(scored)])
        levels[f"context motion extrapolated at {name}"] = motion.accuracy(model, redrawn, labels)

    torch.manual_seed(args.seed)
    probe = make_probe(args.mode, train.shape[2], context, horizon, args.differences, args.width, args.scale,
                       args.motion, args.levels, args.loss, args.matte_weight)
    opt = AdamW(probe.parameters(), lr=args.lr, weight_decay=0.0)
    schedule = TrainConfig(steps=args.steps, batch_size=args.batch, lr=args.lr, schedule=args.schedule)
    print(f"# {args.benchmark}: a {args.mode} warp probe (benchmarks/motion_probe.py)"
          + (f", {args.motion} motion, {args.loss} loss over {args.levels} scale(s)" if args.mode == "context" else "")
          + (f", matte weight {args.matte_weight}" if args.matte_weight else "") + f", features at 1/{args.scale} of the "
          f"frame, width {args.width}" + (f", {args.differences} differences" if args.mode == "rollout" else "")
          + f"; the first {size} training sequences, batch {args.batch}, lr {args.lr} ({args.schedule}), seed {args.seed}; "
          f"{context} -> {horizon}, scored on {scored} held-out validation sequences, one future each")
    print(f"# {cpu_generation()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{sum(p.numel() for p in probe.parameters())} parameters")
    for name, value in levels.items():
        print(f"# motion accuracy of {name}: {value:.3f}")
    fvd_of = None
    if args.fvd:
        from genvid.metrics.fvd import frechet_distance_features, i3d_logits
        from genvid.metrics.weights import load_i3d

        i3d = load_i3d(weights)
        with torch.no_grad():
            real = i3d_logits(i3d, quantised(held), 4)

        def fvd_of(future: torch.Tensor) -> float:  # the scored clips' context before ``future``, quantised as a file
            with torch.no_grad():
                return frechet_distance_features(real, i3d_logits(i3d, quantised(torch.cat([held[:, :context], future], 1)), 4))

        print(f"# FVD of copy-last on these clips: {fvd_of(held[:, context - 1:context].expand_as(truth)):.1f}")
    print(f"{'step':>5} {'minutes':>7} {'mse':>8} {'copy-last':>9} {'motion':>6}" + (f" {'fvd':>6}" if args.fvd else ""))
    draw, seconds = batches(size, args.batch, args.seed), 0.0
    probe.train()
    for step in range(1, args.steps + 1):
        start = time.perf_counter()
        clips = train[next(draw)]
        if args.mode == "context":  # the warp's own loss
            loss = probe.loss(clips)[0]
        else:
            loss = ((predict(probe, args.mode, clips[:, :context], horizon, args.differences) - clips[:, context:]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for group in opt.param_groups:
            group["lr"] = args.lr * lr_factor(step - 1, schedule)
        opt.step()
        seconds += time.perf_counter() - start
        if step % args.every == 0 or step == args.steps:
            probe.eval()
            with torch.no_grad():
                pred = torch.cat([predict(probe, args.mode, held[i:i + 16, :context], horizon, args.differences)
                                  for i in range(0, scored, 16)]).clamp(0, 1)
            probe.train()
            mse = float(((pred - truth) ** 2).mean())
            print(f"{step:>5} {seconds / 60:>7.1f} {mse:>8.5f} {scorer.copy_mse:>9.5f} "
                  f"{motion.accuracy(model, as_uint8(pred), labels):>6.3f}"
                  + (f" {fvd_of(pred):>6.1f}" if fvd_of else ""), flush=True)


def quantised(clips: torch.Tensor) -> torch.Tensor:
    """Clips [B, T, C, H, W] in [0, 1] as a samples file holds them (uint8), as evaluate reads them back."""
    from genvid.evaluation import unit_rgb

    return unit_rgb(as_uint8(clips))


if __name__ == "__main__":
    main()
