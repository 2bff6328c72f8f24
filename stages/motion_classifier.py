"""Stage motion_classifier: the semantic check of a labelled benchmark (issue 22 item 4,
genvid.metrics.motion): a small Conv3D trained on the real futures of generated training
sequences, measured on the validation sequences and the real test futures (the ceiling every
run's motion accuracy is read against), and on the test clips' futures redrawn as if the object had
continued its context motion at constant velocity or acceleration (what extrapolating so far buys:
genvid.metrics.motion.EXTRAPOLATIONS). A benchmark without motion labels, or without the
``motion_classifier`` section, gets the file that says so.

Writes data/<benchmark>/motion_classifier.pt (evaluate reads it) and
reports/<benchmark>/motion_classifier.json (accuracies and the loss curve).
"""
from __future__ import annotations

from genvid import footprint
from genvid import params as P
from genvid.cli import benchmark_parser
from genvid.data.benchmark import LABELLED_SOURCES, check_inputs, protocol_clips
from genvid.errors import GenvidError
from genvid.io import write_json
from genvid.layout import benchmark_paths
from genvid.metrics import motion as M
from genvid.stage import cli_main


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    bench = P.benchmark(P.read_params(args.params), args.benchmark, args.params)
    paths = benchmark_paths(args.benchmark, args.root)
    info, _ = check_inputs(bench, args.benchmark, paths.frames, paths.split, params=args.params)
    cfg, collect, proto = bench.motion_classifier, bench.collect, bench.protocol
    reason = None
    if collect.source not in LABELLED_SOURCES:
        reason = f"source '{collect.source}' has no motion labels"
    elif cfg is None:
        reason = f"benchmarks.{args.benchmark} sets no {P.MOTION} section"
    if reason is not None:
        write_json(paths.motion_report, {"benchmark": args.benchmark, "available": False, "reason": reason})
        M.save(paths.motion_classifier, M.unavailable(args.benchmark, reason))
        print(f"motion_classifier {args.benchmark}: none ({reason}) -> {paths.motion_classifier}")
        return
    if cfg.sequences > collect.train_sequences:
        raise GenvidError(f"{args.params}: benchmarks.{args.benchmark}.{P.MOTION}.sequences {cfg.sequences} exceeds "
                          f"collect.train_sequences {collect.train_sequences} (it trains on training sequences)")
    footprint.check(footprint.motion_needs(bench, args.benchmark), args.params, paths.motion_classifier)
    from genvid.data.dynamics import read_labels  # the labelled source's frames file

    labels, classes = read_labels(paths.frames)
    starts, episode, _ = protocol_clips(proto, paths.frames, paths.split)
    c, h = proto.context_frames, proto.horizon
    test_x, test_y = M.test_futures(paths.frames, starts, c, h), labels[episode].astype("int64")
    train_x, train_y = M.generated_futures(collect, 0, cfg.sequences, c, h)
    val_x, val_y = M.generated_futures(collect, collect.train_sequences, min(collect.val_sequences, 500), c, h)
    model, curve = M.train(train_x, train_y, len(classes), cfg, print if not args.no_progress else (lambda s: None))
    acc = {"train": M.accuracy(model, train_x, train_y), "val": M.accuracy(model, val_x, val_y),
           "test": M.accuracy(model, test_x, test_y)}
    references = M.reference_predictions(model, collect, paths.frames, starts, c, h)
    extrapolated = None if references is None else {
        name: float((references[name] == test_y).mean()) for name in M.EXTRAPOLATIONS}
    counts = {"train": len(train_y), "val": len(val_y), "test": len(test_y)}
    frame_shape = (info.height, info.width, info.channels)
    write_json(paths.motion_report, {"benchmark": args.benchmark, "available": True, "reason": None,
                                     "classes": list(classes), "accuracy": acc, "futures": counts,
                                     "chance": 1.0 / len(classes), "extrapolated": extrapolated, "frames": h,
                                     "curve": curve,
                                     "config": M.asdict(cfg)})
    M.save(paths.motion_classifier, M.file_content(args.benchmark, model, classes, labels, acc, cfg, c,
                                                   frame_shape, curve, references))
    refs = "" if extrapolated is None else "; " + ", ".join(f"{k} {v:.3f}" for k, v in extrapolated.items())
    print(f"motion_classifier {args.benchmark}: accuracy train {acc['train']:.3f}, val {acc['val']:.3f}, "
          f"real test futures {acc['test']:.3f} (the ceiling; chance {1 / len(classes):.3f}{refs}) -> "
          f"{paths.motion_classifier}")


if __name__ == "__main__":
    main()
