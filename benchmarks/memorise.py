"""Benchmark: can the model learn at all? A run's model trained on a few generated training sequences, then on more.

    python benchmarks/memorise.py --run dynamics-feature_flow --clips 10,200,2000 --steps 300,1000,1000 \\
        --every 100,250,250 > benchmarks/results/memorise-dynamics-feature_flow.txt
    python benchmarks/memorise.py --clips 2000 --steps 600 --every 200 --set models.object_weight=30  # an option

Issue 48 asks, of a family that never approaches copy-last, to look for the bug before blaming the budget.
This is that check. The run's network (its sizes, its own ``loss`` and ``generate``) trains on the first N
sequences of the benchmark's generated training stream, the ones the train stage starts its epoch with
(genvid.data.clips.GeneratedClips). Every ``--every`` steps, the futures it predicts from each clip's context
are scored in two sets:

- **trained**: up to ``--score-clips`` of the N sequences it trains on;
- **held out**: the first ``--score-clips`` sequences of the validation range, which it never sees. They
  are never the protocol's test clips.

Per set it prints the open-loop mean squared error of the horizon's frames, in [0, 1] pixels, beside
copy-last's, and where the benchmark has a motion classifier (dynamics) that classifier's accuracy on the
futures, beside its accuracy on the real futures (the ceiling) and on copy-last's. A network that cannot
fit a handful of clips has a bug or cannot express the task. One that fits them but not the held-out clips
needs more data, steps or capacity, not a fix.

Not the train stage: a minimal loop over the same ``loss``. It uses genvid's AdamW with the run's learning
rate, betas and weight decay per optimiser, at a constant learning rate: no warm-up, schedule, clipping or
validation. Minibatches are drawn without replacement from a seeded permutation, epoch by epoch, and each
optimiser steps on its own loss in the model's order. One future per clip comes from a seeded generator, in
eval mode, as the sample stage draws them. Steps, not minutes: run it alone to compare across runs. A family
whose model trains after other components (feature flow's context warp, where it is on) trains its model here
alone: those stay as built, untrained (the header names them).
Needs the benchmark's motion classifier for the accuracy columns (``dvc repro motion_classifier@<benchmark>``);
without it those columns say "-".
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid.determinism import params_path_from_argv, pin_environment, threads_from_params  # noqa: E402

pin_environment(threads_from_params(params_path_from_argv(sys.argv[1:]) if __name__ == "__main__"
                                    else ROOT / "params.yaml"))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise SystemExit(f"memorise.py: --{what} {text!r} is not a comma-separated list of integers") from None
    if not values or min(values) < 1:
        raise SystemExit(f"memorise.py: --{what} {text!r}: every value must be >= 1")
    return values


def per_size(values: list[int], sizes: list[int], what: str) -> list[int]:
    """One value for every training-set size: a single value is shared, else one each."""
    if len(values) == 1:
        return values * len(sizes)
    if len(values) != len(sizes):
        raise SystemExit(f"memorise.py: --{what} gives {len(values)} values for {len(sizes)} sizes of --clips")
    return values


def with_sets(raw: dict, run: str, sets: list[str]) -> dict:
    """params with ``--set`` models.<key>=<v> / train.<key>=<v> merged into run ``run``'s overrides (learning.py's
    parsing: one line naming the item that is not of that form)."""
    if str(Path(__file__).resolve().parent) not in sys.path:  # loaded by path (the tests), not run as a script
        sys.path.insert(0, str(Path(__file__).resolve().parent))
    from learning import merge, parse_sets

    try:
        extra = parse_sets(sets)
    except SystemExit as err:
        raise SystemExit(f"memorise.py: {str(err).removeprefix('error: ')}") from None
    raw = copy.deepcopy(raw)  # the caller's params stay as they were
    entry = raw["runs"][run]
    entry["overrides"] = merge(entry.get("overrides") or {}, extra)
    return raw


def optimisers(model: torch.nn.Module, train: dict) -> dict[str, torch.optim.Optimizer]:
    """{name: genvid AdamW} per the model's optimiser groups (one "model" group without them), each with the
    run's lr (``optimizers.<name>.lr`` over ``lr``), betas and weight decay."""
    from genvid.numerics import AdamW

    groups = model.optimizer_groups() if hasattr(model, "optimizer_groups") else {"model": list(model.parameters())}
    own = train.get("optimizers") or {}
    out = {}
    for name, params in groups.items():
        cfg = {**train, **(own.get(name) or {})}
        out[name] = AdamW(params, lr=float(cfg["lr"]), betas=tuple(cfg.get("betas", (0.9, 0.999))),
                          weight_decay=float(cfg.get("weight_decay", 0.0)))
    return out


def batches(n: int, batch: int, seed: int):
    """Index batches without replacement, a fresh seeded permutation each epoch (a batch may span two)."""
    rng = np.random.default_rng(seed)
    order: list[int] = []
    while True:
        while len(order) < batch:
            order += rng.permutation(n).tolist()
        yield order[:batch]
        order = order[batch:]


def futures_of(model: torch.nn.Module, clips: torch.Tensor, context: int, horizon: int, seed: int) -> torch.Tensor:
    """One predicted future per clip [N, horizon, C, H, W] in [0, 1], eval mode, from a seeded generator."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    out = [model.generate(clips[i:i + 8, :context], horizon, 1, generator)[:, 0] for i in range(0, len(clips), 8)]
    model.train()
    return torch.cat(out).clamp(0, 1)


def as_uint8(x: torch.Tensor) -> np.ndarray:
    """[N, T, C, H, W] in [0, 1] -> uint8 [N, T, H, W, C], the predictors' rounding (the samples file's)."""
    from genvid.models.predictor import to_uint8

    return to_uint8(x).numpy()


class Scorer:
    """The open-loop MSE and motion accuracy of one clip set, with copy-last's and the ceiling."""

    def __init__(self, name: str, clips: torch.Tensor, labels: np.ndarray, context: int, horizon: int, classifier):
        self.name, self.clips, self.labels, self.classifier = name, clips, labels, classifier
        self.context, self.horizon = context, horizon
        truth = clips[:, context:context + horizon]
        held = clips[:, context - 1:context].expand_as(truth)
        self.copy_mse = float(((held - truth) ** 2).mean())
        self.ceiling = self.accuracy(truth)
        self.copy_acc = self.accuracy(held)

    def accuracy(self, futures: torch.Tensor) -> float | None:
        if self.classifier is None:
            return None
        from genvid.metrics import motion

        return motion.accuracy(self.classifier, as_uint8(futures), self.labels)

    def row(self, model: torch.nn.Module, seed: int) -> tuple[float, float | None]:
        pred = futures_of(model, self.clips, self.context, self.horizon, seed)
        mse = float(((pred - self.clips[:, self.context:self.context + self.horizon]) ** 2).mean())
        return mse, self.accuracy(pred)


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="dynamics-feature_flow", help="a run of params.yaml on a generated benchmark")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--root", default=str(ROOT), help="where the benchmark's motion classifier is")
    parser.add_argument("--clips", default="10,200", help="training-set sizes: the first N training sequences")
    parser.add_argument("--steps", default="300", help="training steps, one value or one per size")
    parser.add_argument("--every", default="100", help="score every this many steps, one value or one per size")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--score-clips", type=int, default=40, help="clips scored per set")
    parser.add_argument("--seed", type=int, default=0, help="weights, minibatches and the model's training noise")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="models.<key>=<v> or train.<key>=<v>, added to the run's overrides (learning.py's --set)")
    args = parser.parse_args(argv)
    sizes = _ints(args.clips, "clips")
    steps, every = per_size(_ints(args.steps, "steps"), sizes, "steps"), per_size(_ints(args.every, "every"), sizes, "every")
    if args.batch < 1 or args.score_clips < 1:
        raise SystemExit("memorise.py: --batch and --score-clips must be >= 1")

    from genvid import params as P
    from genvid.data.benchmark import is_generated
    from genvid.data.clips import GeneratedClips
    from genvid.errors import GenvidError
    from genvid.layout import benchmark_paths
    from genvid.machine import cpu_generation
    from genvid.metrics import motion
    from genvid.models.family import train_sections
    from genvid.models.registry import get

    try:
        raw = P.read_params(args.params)
        run = P.run(raw, args.run, args.params)
        if args.set:
            raw = with_sets(raw, args.run, args.set)
            run = P.run(raw, args.run, args.params)
        bench = P.benchmark(raw, run.benchmark, args.params)
        spec = get(run.model)
    except GenvidError as err:
        raise SystemExit(f"memorise.py: {err}") from None
    if not is_generated(bench.collect):
        raise SystemExit(f"memorise.py: run {args.run}: benchmark {run.benchmark!r} is recorded, not generated: "
                         "it has no training stream to take the first sequences of")
    if spec.network is None or spec.components[-1:] != ("model",):
        raise SystemExit(f"memorise.py: run {args.run}: model {run.model!r} is not one network trained on pixels")
    train_params = train_sections(spec, run)["model"][1]  # the model's own block
    untrained = spec.components[:-1]
    if spec.conditioning is not None:
        raise SystemExit(f"memorise.py: run {args.run}: model {run.model!r} reads per-frame "
                         f"{spec.conditioning}, which generated sequences do not have")
    if max(sizes) > bench.collect.train_sequences:
        raise SystemExit(f"memorise.py: --clips {max(sizes)} is more than the {bench.collect.train_sequences} "
                         f"sequences of benchmarks.{run.benchmark}.collect.train_sequences")
    context, horizon = bench.protocol.context_frames, bench.protocol.horizon
    train_len = int(train_params.get("clip_len") or bench.clips.clip_len)  # the train stage's clips
    length = max(train_len, context + horizon)
    classifier_path = benchmark_paths(run.benchmark, Path(args.root)).motion_classifier
    classifier = None
    if classifier_path.exists():
        loaded = motion.load(classifier_path, run.benchmark)
        classifier = loaded["model"] if loaded["available"] else None

    def clip_set(first: int, size: int) -> tuple[torch.Tensor, np.ndarray]:
        data = GeneratedClips(bench.collect, first, size, length, None)
        clips = torch.stack([data[i] for i in range(size)])
        return clips, np.array([int(data.sequence(i).labels[0]) for i in range(size)], dtype=np.int64)

    held, held_labels = clip_set(bench.collect.train_sequences, min(args.score_clips, bench.collect.val_sequences))
    channels, resolution = held.shape[2], held.shape[3]
    print(f"# {args.run}{''.join(f' --set {item}' for item in args.set)}: the run's network trained on the first N training sequences ({train_len} frames; "
          f"scored {context} -> {horizon}), batch {args.batch}, seed {args.seed}; open-loop MSE in [0, 1] pixels and "
          f"motion accuracy of one future per clip (benchmarks/memorise.py)")
    print(f"# {cpu_generation()}, torch {torch.__version__}, {torch.get_num_threads()} threads"
          + (f"; what the family trains before the model, where the run's options use it, stays untrained here: "
             f"{', '.join(untrained)}" if untrained else ""))
    print(f"{'N':>5} {'step':>5} {'minutes':>7}  {'clips':<9} {'scored':>6} {'mse':>8} {'copy-last':>9} "
          f"{'motion':>6} {'copy-last':>9} {'ceiling':>7}")
    for size, total, interval in zip(sizes, steps, every):
        trained, labels = clip_set(0, size)
        sets = [Scorer("trained", trained[:args.score_clips], labels[:args.score_clips], context, horizon, classifier),
                Scorer("held-out", held, held_labels, context, horizon, classifier)]
        torch.manual_seed(args.seed)
        model = spec.network(run.model_params, channels, resolution, context)
        opts = optimisers(model, train_params)
        draw = batches(size, args.batch, args.seed)
        model.train()
        seconds = 0.0
        for step in range(1, total + 1):
            start = time.perf_counter()
            losses, _ = model.loss(trained[next(draw)][:, :train_len], step)
            losses = losses if isinstance(losses, dict) else {"model": losses}
            for name, opt in opts.items():
                opt.zero_grad(set_to_none=True)
                losses[name].backward(retain_graph=name != list(opts)[-1])
                opt.step()
            seconds += time.perf_counter() - start
            if step % interval == 0 or step == total:
                for scorer in sets:
                    mse, acc = scorer.row(model, args.seed + 1)
                    print(f"{size:>5} {step:>5} {seconds / 60:>7.1f}  {scorer.name:<9} {len(scorer.clips):>6} "
                          f"{mse:>8.5f} {scorer.copy_mse:>9.5f} {_acc(acc):>6} {_acc(scorer.copy_acc):>9} "
                          f"{_acc(scorer.ceiling):>7}", flush=True)


if __name__ == "__main__":
    main()
