"""Benchmark: a trained run's prediction-time options side by side, on validation clips (never the test clips).

    python benchmarks/sampling_options.py --run dynamics-feature_flow --clips 200 \\
        > benchmarks/results/sampling-options-dynamics-feature_flow-<machine>.txt

A family's ``models.<model>.sampling`` options change how a trained model predicts, not what it learned
(feature flow's and the steered SVG-LP's ``mask``: the copy mask's blend, as trained, or a pick per pixel; feature
flow's ``matte``: the layered context warp's matte as trained, or 0 or 1). Which
option a profile predicts with is a choice, and the protocol's test clips must not make it. This script makes it
where it belongs: the run's model as the DAG's train stage left it (``models/<run>/model.pt`` under ``--root``)
predicts the first ``--clips`` sequences of the benchmark's validation range, from their context frames, once under
every combination of its options' values that applies to the model, and each row is scored beside copy-last's on
the same clips:

- **psnr**: the mean over clips of the horizon's PSNR, one future per clip (drawn from a generator seeded by
  (``--seed``, the clip's index), as the sample stage seeds a call by its first clip), its frames rounded to uint8 as
  a samples file holds them;
- **fvd**: the protocol's FVD of those clips (context and future, I3D as the evaluate stage runs it, against the
  same clips' real context and future): a number of these clips, not the protocol's;
- **motion**: the benchmark's motion classifier's accuracy on the futures, where it has one (dynamics; else "-").

Where the run's model has a context warp (feature flow's ``context_warp``), a last row scores the warp's frames
alone, as trained. The header names the clips, the machine and the accuracy of the real futures (the classifier's ceiling).
Needs the DAG's trained run and, for FVD and motion, ``dvc repro metric_weights motion_classifier@<benchmark>``.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # the scripts are not a package: memorise.py lies beside this one
from memorise import as_uint8  # noqa: E402  (first: it pins the stages' kernels before torch loads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

BATCH = 20  # clips the context warp reads at once (it draws no noise: its frames do not depend on the batch)


def variants(sampling, cfg) -> list:
    """Every combination of the values of ``sampling``'s options (the first option's slowest), leaving out those
    that do not apply to a model of ``cfg`` (``sampling.against``)."""
    fields = dataclasses.fields(sampling)
    values = [getattr(f.metadata.get("rule"), "choices", None) or (getattr(sampling, f.name),) for f in fields]
    every = (dataclasses.replace(sampling, **{f.name: v for f, v in zip(fields, combo)})
             for combo in itertools.product(*values))
    return [options for options in every if options.against(cfg) is None]


def label(options) -> str:
    """``sampling: mask hard, matte soft``: every option's value."""
    return "sampling: " + ", ".join(f"{f.name} {getattr(options, f.name)}" for f in dataclasses.fields(options))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="dynamics-feature_flow", help="a run of params.yaml on a generated benchmark")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--root", default=str(ROOT), help="the DAG's workspace: the run's model, the metric weights")
    parser.add_argument("--clips", type=int, default=200, help="validation sequences scored (the first N)")
    parser.add_argument("--seed", type=int, default=3, help="clip i's future is drawn from a generator seeded (seed, i)")
    parser.add_argument("--no-fvd", action="store_true", help="skip the FVD column (I3D is most of the seconds)")
    args = parser.parse_args(argv)
    if args.clips < 2:
        raise SystemExit("sampling_options.py: --clips must be >= 2 (an FVD needs two videos)")

    from genvid import params as P
    from genvid.data.benchmark import is_generated
    from genvid.data.clips import GeneratedClips
    from genvid.errors import GenvidError
    from genvid.layout import METRIC_WEIGHTS, benchmark_paths, run_paths
    from genvid.machine import cpu_generation
    from genvid.metrics import motion
    from genvid.models.registry import get
    from genvid.models.store import load_model
    from genvid.train.sampler import derived_seed
    from motion_probe import quantised

    root = Path(args.root)
    try:
        raw = P.read_params(args.params)
        run = P.run(raw, args.run, args.params)
        bench = P.benchmark(raw, run.benchmark, args.params)
        get(run.model)
        model, _ = load_model(run_paths(run.name, run.benchmark, root).model_dir / "model.pt", run.model)
    except GenvidError as err:
        raise SystemExit(f"sampling_options.py: {err}") from None
    collect = bench.collect
    if not is_generated(collect):
        raise SystemExit(f"sampling_options.py: run {run.name!r}'s benchmark is not generated: it has no validation "
                         "stream to draw clips from")
    if args.clips > collect.val_sequences:
        raise SystemExit(f"sampling_options.py: --clips {args.clips} is more than the {collect.val_sequences} "
                         f"sequences of benchmarks.{run.benchmark}.collect.val_sequences")
    sampling = getattr(model, "sampling", None)
    if sampling is None or not dataclasses.is_dataclass(sampling):
        raise SystemExit(f"sampling_options.py: model {run.model!r} has no prediction-time options")
    context, horizon = bench.protocol.context_frames, bench.protocol.horizon
    data = GeneratedClips(collect, collect.train_sequences, args.clips, context + horizon, None)
    held = torch.stack([data[i] for i in range(args.clips)])
    labels = np.array([int(data.sequence(i).labels[0]) for i in range(args.clips)], dtype=np.int64)
    truth = quantised(held)[:, context:]

    path = benchmark_paths(run.benchmark, root).motion_classifier
    classifier = motion.load(path, run.benchmark) if path.exists() else {"available": False}
    classify = classifier["model"] if classifier["available"] else None
    fvd_of = None
    if not args.no_fvd:
        from genvid.metrics.fvd import frechet_distance_features, i3d_logits
        from genvid.metrics.weights import load_i3d

        weights = root / METRIC_WEIGHTS["i3d"]
        if not weights.exists():
            raise SystemExit(f"sampling_options.py: {weights} is missing (dvc repro metric_weights)")
        i3d = load_i3d(weights)
        with torch.no_grad():
            real = i3d_logits(i3d, quantised(held), 4)

        def fvd_of(future: torch.Tensor) -> float:
            with torch.no_grad():
                return frechet_distance_features(real, i3d_logits(i3d, torch.cat([quantised(held)[:, :context],
                                                                                    future], 1), 4))

    def row(name: str, future: torch.Tensor) -> str:
        """``future`` [N, horizon, C, H, W] in [0, 1], scored as a samples file would hold it."""
        future = quantised(future.clamp(0, 1))
        mse = ((future - truth) ** 2).mean(dim=(1, 2, 3, 4)).clamp(min=1e-10)
        psnr = float((10 * torch.log10(1 / mse)).mean())
        acc = "-" if classify is None else f"{motion.accuracy(classify, as_uint8(future), labels):.3f}"
        fvd = "-" if fvd_of is None else f"{fvd_of(future):.1f}"
        return f"{name:<34} {psnr:>6.2f} {fvd:>7} {acc:>6}"

    def predicted() -> torch.Tensor:
        out = []
        with torch.no_grad():
            for i in range(args.clips):
                out.append(model.generate(held[i:i + 1, :context], horizon, 1,
                                          torch.Generator().manual_seed(derived_seed(args.seed, i)))[:, 0])
        return torch.cat(out)

    print(f"# {run.name}: its trained model (models/{run.name}/model.pt) predicting the first {args.clips} "
          f"validation sequences of {run.benchmark} ({context} -> {horizon}), one future each, under each "
          f"prediction-time option of models.{run.model}.sampling; never the test clips")
    print(f"# {cpu_generation()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if classify is not None:
        print(f"# motion accuracy of the real futures (the ceiling): "
              f"{motion.accuracy(classify, as_uint8(held[:, context:]), labels):.3f}")
    print(f"{'futures':<34} {'psnr':>6} {'fvd':>7} {'motion':>6}")
    print(row("copy-last", held[:, context - 1:context].expand_as(held[:, context:])), flush=True)
    for options in variants(sampling, model.cfg):
        model.configure_sampling(options)
        print(row(label(options), predicted()), flush=True)
    model.configure_sampling(sampling)
    warped = getattr(model, "warped", None)
    if getattr(model, "warp", None) is not None and warped is not None:
        with torch.no_grad():
            copies = torch.cat([warped(held[i:i + BATCH, :context], context, context + horizon)
                                for i in range(0, args.clips, BATCH)])
        if copies.shape[1] == horizon:
            print(row("the context warp's frames", copies), flush=True)


if __name__ == "__main__":
    main()
