"""Stage evaluate: score the sampled futures against the test clips (SPEC §7).

Per predicted frame: MSE, PSNR, SSIM, LPIPS for the full pipeline and the top-only /
bottom-only diagnostics (best-of-N and mean-of-N), the VQ-VAE reconstruction and the
copy-last-frame baseline; FVD (I3D) on whole clips, and FVD* against the reconstructions.
Writes reports/metrics.json (dvc metrics) and reports/eval/<metric>.tsv (dvc plots).
"""
from __future__ import annotations

import argparse

from genvid import evaluation as E
from genvid import params as P
from genvid.determinism import configure_torch
from genvid.errors import cli_main
from genvid.metrics.weights import load_i3d, load_lpips


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=P.PARAMS_FILE)
    parser.add_argument("--samples", default="data/samples/samples.h5")
    parser.add_argument("--lpips", default="models/metrics/lpips_alexnet.pt")
    parser.add_argument("--i3d", default="models/metrics/i3d_kinetics400.pt")
    parser.add_argument("--prior-top", default="reports/prior_top_metrics.json")
    parser.add_argument("--prior-bottom", default="reports/prior_bottom_metrics.json")
    parser.add_argument("--vqvae-metrics", default=None, help="optional: reports/vqvae_metrics.json, copied for context")
    parser.add_argument("--out", default="reports/metrics.json")
    parser.add_argument("--plots-dir", default="reports/eval")
    parser.add_argument("--batch-size", type=int, default=4, help="clips per read (and I3D videos per pass)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")

    # Every input is checked before any scoring, so bad input costs nothing and writes nothing.
    raw = P.read_params(args.params)
    clips = P.validate_section(raw, "clips", args.params)
    info = E.read_samples_info(args.samples, clips["clip_len"])
    cfg = E.eval_params(raw, args.params, info)
    prior = {"top": E.read_prior_metrics(args.prior_top), "bottom": E.read_prior_metrics(args.prior_bottom)}
    vqvae = E.read_vqvae_context(args.vqvae_metrics) if args.vqvae_metrics else None
    configure_torch()
    lpips = load_lpips(args.lpips)
    i3d = load_i3d(args.i3d)

    metrics, tables = E.evaluate_samples(info, lpips, E.i3d_features(i3d, args.batch_size), cfg["fvd_samples"],
                                         batch_clips=args.batch_size, progress=not args.no_progress)
    metrics["prior"] = prior
    if vqvae is not None:
        metrics["vqvae"] = vqvae
    E.write_outputs(metrics, tables, args.out, args.plots_dir)
    if metrics["fvd"]["skipped"]:
        print(f"evaluate: FVD skipped: {metrics['fvd']['skipped']}")
    print(E.summary_line(metrics))


if __name__ == "__main__":
    main()
