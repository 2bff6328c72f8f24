"""Stage evaluate: score one run's samples file on the benchmark's protocol (docs/design.md §7).

Writes reports/<benchmark>/runs/<run>/: metrics.json (dvc metrics: flat headline numbers,
psnr/ssim/lpips best-of-N per sequence, fvd mean, and bits_per_dim from the run's
train_metrics.json where the model has a likelihood), scores.json (every series, rule and
interval, the controllability of the counterfactual clips where the benchmark has them:
genvid.controllability, the motion accuracy of the futures where it has motion labels:
genvid.metrics.motion, and the long-horizon protocol's scores where it has one), protocol.json (the
settings, for the report) and <metric>.tsv (per-timestep curves, dvc plots).
"""
from __future__ import annotations

from genvid import controllability as C
from genvid import evaluation as E
from genvid import params as P
from genvid.cli import run_parser
from genvid.data.counterfactuals import read_counterfactuals
from genvid.data.samples import read_counterfactual, read_long_horizon, read_samples_info
from genvid.determinism import configure_torch
from genvid.errors import GenvidError
from genvid.stage import cli_main, int_at_least
from genvid.layout import METRIC_WEIGHTS, benchmark_paths, run_paths
from genvid.metrics import motion as M
from genvid.metrics.weights import load_i3d, load_lpips


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = run_parser(__doc__)
    parser.add_argument("--batch-size", type=int_at_least(1), default=4, help="clips per read (and I3D videos per pass)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    raw = P.read_params(args.params)
    run = P.run(raw, args.run, args.params)
    cfg = P.top_level(raw, "evaluate", args.params)
    long_cfg = P.benchmark(raw, run.benchmark, args.params).long_horizon
    paths = run_paths(run.name, run.benchmark, args.root)
    info = read_samples_info(paths.samples)  # every input checked before any scoring
    if info.attrs.get("run") != run.name:
        raise GenvidError(f"{paths.samples}: the samples of run {info.attrs.get('run')!r}, not {run.name!r} "
                          f"(rerun sample@{run.name})")
    long_info = read_long_horizon(paths.samples)
    E.check_long_horizon(long_info, long_cfg, paths.samples, f"benchmarks.{run.benchmark}.long_horizon", run.name)
    bits_per_dim = E.read_bits_per_dim(paths.report_dir / "train_metrics.json", run.name)
    device = P.top_level(raw, "device", args.params).device  # the metric networks run there
    configure_torch()
    lpips = load_lpips(args.root + "/" + str(METRIC_WEIGHTS["lpips"])).to(device)
    i3d = load_i3d(args.root + "/" + str(METRIC_WEIGHTS["i3d"])).to(device)
    bench_paths = benchmark_paths(run.benchmark, args.root)
    reference = E.load_reference(bench_paths.fvd_reference)
    counterfactuals = read_counterfactuals(bench_paths.counterfactuals)
    C.check_counterfactuals(counterfactuals, info, bench_paths.counterfactuals)
    classifier = M.load(bench_paths.motion_classifier, run.benchmark)
    M.check(classifier, info, bench_paths.motion_classifier)
    long = None if long_cfg is None else E.LongHorizon(long_info, long_cfg.fvd_repeats,
                                                       E.load_reference(bench_paths.fvd_reference, long_horizon=True))
    features = E.i3d_features(i3d, args.batch_size)
    metrics, scores, proto, tables = E.evaluate(info, lpips, features, cfg, args.batch_size, not args.no_progress,
                                                reference, bits_per_dim, long)
    scores["controllability"] = C.score_controllability(counterfactuals, read_counterfactual(paths.samples), lpips,
                                                        features, cfg, str(paths.samples))
    metrics.update(C.headline(scores["controllability"]))
    scores["motion"] = M.score(classifier, info, cfg, bench_paths.motion_classifier, args.batch_size)
    metrics.update(M.headline(scores["motion"]))
    E.write_outputs(paths.report_dir, metrics, scores, proto, tables)
    if scores["fvd"]["skipped"]:
        print(f"evaluate {run.name}: FVD skipped: {scores['fvd']['skipped']}")
    print(E.summary_line(run.name, metrics) + C.summary(scores["controllability"]) + M.summary(scores["motion"]))


if __name__ == "__main__":
    main()
