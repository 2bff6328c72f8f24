"""One training loop for every genvid model: AdamW, LR schedule, clipping, exact resume."""
from genvid.train.checkpoint import CHECKPOINT_NAME, load_weights
from genvid.train.config import TrainConfig, lr_factor
from genvid.train.curves import curves_tsv, write_curves_tsv
from genvid.train.loop import Objective, TrainResult, fit, validate

__all__ = ["CHECKPOINT_NAME", "Objective", "TrainConfig", "TrainResult", "curves_tsv", "fit",
           "load_weights", "lr_factor", "validate", "write_curves_tsv"]
