"""Where every artefact lives, per benchmark and per run (dvc.yaml uses the same paths; a test checks)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from genvid.errors import GenvidError

# A name that becomes a folder or file name (a benchmark, a run, an ablation variant), a DVC stage key
# (train@<run>) and a shell word of a stage's command (issue 47: "a/b" once wrote nested folders).
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
PLAIN_RULE = "letters, digits, '_', '-' and '.', starting with a letter or digit"


def plain_name(name: object, what: str) -> str:
    """``name`` if it is a plain name, else one error line naming ``what`` (a params key, with its file)."""
    if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name):
        raise GenvidError(f"{what}: {name!r} is not a plain name ({PLAIN_RULE}): it becomes a folder name")
    return name


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
    data = Path(root) / "data" / plain_name(benchmark, "benchmark")
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
    plain_name(run, "run"), plain_name(benchmark, "benchmark")
    return RunPaths(r / "models" / run, r / "reports" / benchmark / "runs" / run,
                    r / "data" / benchmark / "samples" / f"{run}.h5", r / "checkpoints" / run)


def ablation_dir(run: str, benchmark: str, root: str | Path = ".") -> Path:
    """reports/<benchmark>/ablations/<run>/: ablation.json and each variant's curves (stage ablate)."""
    plain_name(run, "run"), plain_name(benchmark, "benchmark")
    return Path(root) / "reports" / benchmark / "ablations" / run


def declared_path(root: str | Path = ".") -> Path:
    """reports/figures/declared.json: what the registry's models declare to the report (stage figures; schema:
    genvid.data.declared)."""
    return Path(root) / "reports" / "figures" / "declared.json"


def figures_path(root: str | Path = ".") -> Path:
    """reports/figures/figures.h5: the frames only a model can make, for the report (stage figures;
    schema: genvid.data.figures)."""
    return Path(root) / "reports" / "figures" / "figures.h5"


METRIC_WEIGHTS = {"lpips": Path("models/metrics/lpips_alexnet.pt"), "i3d": Path("models/metrics/i3d_kinetics400.pt")}


def noisy_vq_dir(run: str, root: str | Path = ".") -> Path:
    """reports/noisy_vq/<run>/: study.json and each (sigma, seed)'s curves (stage noisy_vq; schema:
    genvid.data.noisy_vq). One folder for every benchmark's studies: the report stage depends on it."""
    plain_name(run, "run")
    return Path(root) / "reports" / "noisy_vq" / run
