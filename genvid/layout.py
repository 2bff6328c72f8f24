"""Where every artefact lives, per benchmark and per run (dvc.yaml uses the same paths; a test checks)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BenchmarkPaths:
    frames: Path
    split: Path
    stats: Path
    fvd_reference: Path  # I3D features of the real test clips (stage fvd_reference)
    leaderboard: Path  # folder: leaderboard.json (metrics), leaderboard.tsv, rows.json
    counterfactuals: Path  # the simulator's test clips replayed under other actions (stage counterfactuals)
    motion_classifier: Path  # the motion classifier of a labelled benchmark, or why none (stage motion_classifier)
    motion_report: Path  # its accuracies on the training, validation and real test futures (the ceiling)


def benchmark_paths(benchmark: str, root: str | Path = ".") -> BenchmarkPaths:
    data = Path(root) / "data" / benchmark
    return BenchmarkPaths(data / "frames.h5", data / "split.json", data / "stats.json", data / "fvd_reference.pt",
                          Path(root) / "reports" / benchmark / "leaderboard", data / "counterfactuals.h5",
                          data / "motion_classifier.pt", Path(root) / "reports" / benchmark / "motion_classifier.json")


@dataclass(frozen=True)
class RunPaths:
    model_dir: Path  # trained weights (DVC-tracked folder)
    report_dir: Path  # train_metrics.json, curves/, metrics.json, scores.json, protocol.json, <metric>.tsv
    samples: Path
    workdir: Path  # resumable checkpoints (git-ignored)


def run_paths(run: str, benchmark: str, root: str | Path = ".") -> RunPaths:
    r = Path(root)
    return RunPaths(r / "models" / run, r / "reports" / benchmark / "runs" / run,
                    r / "data" / benchmark / "samples" / f"{run}.h5", r / "checkpoints" / run)


def ablation_dir(run: str, benchmark: str, root: str | Path = ".") -> Path:
    """reports/<benchmark>/ablations/<run>/: ablation.json and each variant's curves (stage ablate)."""
    return Path(root) / "reports" / benchmark / "ablations" / run


def figures_path(root: str | Path = ".") -> Path:
    """reports/figures/figures.h5: the frames only a model can make, for the report (stage figures;
    schema: genvid.data.figures)."""
    return Path(root) / "reports" / "figures" / "figures.h5"


METRIC_WEIGHTS = {"lpips": Path("models/metrics/lpips_alexnet.pt"), "i3d": Path("models/metrics/i3d_kinetics400.pt")}


def noisy_vq_dir(run: str, root: str | Path = ".") -> Path:
    """reports/noisy_vq/<run>/: study.json and each (sigma, seed)'s curves (stage noisy_vq; schema:
    genvid.data.noisy_vq). One folder for every benchmark's studies: the report stage depends on it."""
    return Path(root) / "reports" / "noisy_vq" / run
