"""The one training loop (loop.fit: AdamW, LR schedule, clipping, exact resume) and a run's
training with it (run.train_run: a registered family's components, genvid.models.family)."""
from genvid.train.checkpoint import CHECKPOINT_NAME, load_weights
from genvid.train.config import OptimizerConfig, TrainConfig, lr_factor
from genvid.train.curves import curves_tsv, write_curves_tsv
from genvid.train.loop import Objective, TrainResult, fit, validate

__all__ = ["CHECKPOINT_NAME", "Objective", "OptimizerConfig", "TrainConfig", "TrainResult", "curves_tsv", "fit",
           "load_weights", "lr_factor", "validate", "write_curves_tsv"]
