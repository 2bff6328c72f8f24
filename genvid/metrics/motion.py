"""The semantic check of a labelled benchmark (issue 22 item 4; seed 003 §5.2.2): a small Conv3D
motion classifier, trained on real futures, applied to each run's predicted futures.

- **What it sees.** A future: the protocol's ``horizon`` frames after the context (8 on
  ``dynamics``), uint8 RGB. Each clip is average-pooled 2×2 in space, scaled to [0, 1] and its
  mean over time subtracted, so the static background cancels and what is left is what moves
  (a frozen future, copy-last's, becomes all zeros).
- **Network** (seed 003 §5.2.2's Conv3D pattern, tiny): three 3×3×3 convolutions, stride 2 in
  space and 1 in time (width w, 2w, 2w; batch norm, ReLU), the maximum over space at each timestep, then a
  fully connected layer on the concatenation of every timestep's features (the thesis's "a fully
  connected layer takes a concatenation of all remaining timesteps").
- **Training** (stage motion_classifier): on the futures of the first
  ``motion_classifier.sequences`` generated training sequences (class = the generator's label),
  Adam (``genvid.numerics.AdamW`` without weight decay: torch's Adam with a root that is the same on
  every CPU), cross-entropy, ``steps`` minibatches of ``batch_size`` drawn epoch by epoch from a seeded
  permutation, each under a seeded one of the 8 symmetries of the square (every motion class is
  invariant under them: 8 times the futures); then batch norm's statistics are recomputed over
  every unaugmented training future (the running averages of the last augmented minibatches
  misplace them: accuracy fell by a fifth); on the CPU whatever ``device`` says (tiny, and the same bytes everywhere torch's
  kernels are). Its accuracy is measured on the training futures, the validation sequences and
  the benchmark's real test futures: the last is the **ceiling** a perfect predictor would reach.
- **Scoring a run** (stage evaluate): every sample of every test clip is classified. Per clip,
  *mean-of-N* is the share of its N samples classified as its true class and *best-of-N* is 1
  when any sample is ("any sample right"); the real future is classified too (the ceiling on
  these clips). Means over clips with 95 % cluster-bootstrap intervals over the samples file's
  clusters (genvid.metrics.stats, as every other score of evaluate).
- **Reference levels** (``EXTRAPOLATIONS``): the stage also classifies each test clip's future
  redrawn by the generator as if the object had continued its context motion exactly, at constant
  velocity and at constant acceleration (genvid.data.dynamics.extrapolated_sequence); evaluate scores
  them on the run's clips beside the ceiling (``motion.extrapolated``), so a run's accuracy can be read
  as "extrapolates better or worse than a perfect straight line".

The classifier file (``data/<benchmark>/motion_classifier.pt``) exists for every benchmark; a
benchmark without motion labels, or without the ``motion_classifier`` section, gets one that says
why there is none (``available`` false), and evaluate then scores no motion.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from genvid.errors import GenvidError
from genvid.io import load_torch, save_torch
from genvid.metrics import stats
from genvid.numerics import AdamW

FORMAT = "genvid-motion-classifier-1"
HEADLINE = "motion_acc"  # metrics.json key: mean-of-N accuracy (scores.json has every number)


class MotionClassifier(nn.Module):
    """Conv3D features, max over space, a linear layer over the concatenated timesteps."""

    def __init__(self, classes: int, frames: int, channels: int = 3, width: int = 16):
        super().__init__()
        self.classes, self.frames, self.channels, self.width = classes, frames, channels, width
        w = width
        self.features = nn.Sequential(
            nn.Conv3d(channels, w, 3, stride=(1, 2, 2), padding=1), nn.BatchNorm3d(w), nn.ReLU(),
            nn.Conv3d(w, 2 * w, 3, stride=(1, 2, 2), padding=1), nn.BatchNorm3d(2 * w), nn.ReLU(),
            nn.Conv3d(2 * w, 2 * w, 3, stride=(1, 2, 2), padding=1), nn.BatchNorm3d(2 * w), nn.ReLU())
        self.head = nn.Linear(2 * w * frames, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, C, T, H, W] (``prepare``'s) -> logits [B, classes]."""
        return self.head(self.features(x).amax(dim=(3, 4)).flatten(1))


def prepare(futures: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 [B, T, H, W, C] -> float32 [B, C, T, H/2, W/2]: pooled 2x2, in [0, 1], minus the mean over time."""
    x = torch.as_tensor(np.ascontiguousarray(futures)).permute(0, 4, 1, 2, 3).float().div_(255.0)
    x = nn.functional.avg_pool3d(x, (1, 2, 2))
    return x - x.mean(dim=2, keepdim=True)


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 symmetries of the square applied to clips [B, C, T, H, W] (k: 0 = identity): every
    motion class is invariant under them, so training sees 8 times the futures."""
    if k & 4:
        x = x.transpose(3, 4)
    return torch.rot90(x, k & 3, dims=(3, 4)) if k & 3 else x


def predict(model: MotionClassifier, futures: np.ndarray, batch: int = 64) -> np.ndarray:
    """Predicted class of each future, uint8 [B, T, H, W, C] -> int64 [B]."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, futures.shape[0], batch):
            out.append(model(prepare(futures[i:i + batch])).argmax(dim=1))
    return torch.cat(out).numpy().astype(np.int64) if out else np.zeros(0, np.int64)


def accuracy(model: MotionClassifier, futures: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predict(model, futures) == np.asarray(labels, dtype=np.int64)))


def train(futures: np.ndarray, labels: np.ndarray, classes: int, cfg, log: Callable[[str], None] = lambda s: None
          ) -> tuple[MotionClassifier, list[dict[str, float]]]:
    """The classifier trained on ``futures`` uint8 [N, T, H, W, C] with ``labels`` [N] (cfg: a
    genvid.params.MotionClassifierConfig); seeded, deterministic. Returns it and the loss curve."""
    from genvid.determinism import configure_torch

    configure_torch()
    torch.manual_seed(cfg.seed)
    n, frames, channels = futures.shape[0], futures.shape[1], futures.shape[-1]
    model = MotionClassifier(classes, frames, channels, cfg.width)
    x, y = prepare(futures), torch.as_tensor(np.asarray(labels, dtype=np.int64))
    opt = AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)  # Adam, with the vendor-independent root
    gen = torch.Generator().manual_seed(cfg.seed)
    order, pos, curve, running = torch.randperm(n, generator=gen), 0, [], []
    model.train()
    for step in range(1, cfg.steps + 1):
        if pos + cfg.batch_size > n:  # a new epoch: a new permutation (the tail of the last one dropped)
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos:pos + cfg.batch_size]
        pos += cfg.batch_size
        loss = nn.functional.cross_entropy(model(dihedral(x[idx], int(torch.randint(8, (), generator=gen)))), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running.append(loss.item())
        if step % 25 == 0 or step == cfg.steps:
            curve.append({"step": step, "loss": float(np.mean(running))})
            log(f"motion classifier: step {step}/{cfg.steps}, loss {curve[-1]['loss']:.4f}")
            running = []
    precise_batch_norm(model, x)
    return model, curve


def precise_batch_norm(model: MotionClassifier, x: torch.Tensor, batch: int = 256) -> None:
    """Batch norm's statistics recomputed over every (unaugmented) training future, an equal-weight
    average over batches: the running averages of the last augmented minibatches misplace them."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            model(x[i:i + batch])
    for m in norms:
        m.momentum = 0.1
    model.eval()


def generated_futures(collect, first: int, count: int, context: int, horizon: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(futures uint8 [count, horizon, H, W, C], labels int64 [count]) of generated training-stream
    sequences ``first .. first + count - 1`` (genvid.data.benchmark.generator), ``context + horizon`` frames each."""
    from genvid.data.benchmark import generator, sequence_frames

    make = generator(collect.source).generate_sequence
    seqs = [make(collect.seed, i, context + horizon, "train") for i in range(first, first + count)]
    return (np.stack([sequence_frames(s)[context:] for s in seqs]),
            np.array([int(s.labels[0]) for s in seqs], dtype=np.int64))


def test_futures(frames: str | Path, starts: np.ndarray, context: int, horizon: int) -> np.ndarray:
    """uint8 [N, horizon, H, W, C]: the real futures of the protocol's test clips at ``starts``."""
    from genvid.data.h5 import read_h5

    with read_h5(frames, "HDF5 frames file") as f:
        return np.stack([f["frames"][int(a) + context:int(a) + context + horizon] for a in starts])


# The reference futures (genvid.data.dynamics.extrapolated_sequence): each test clip's future redrawn
# as if the object had continued its context motion, by a polynomial of this order in its true centre
# and orientation. What the classifier makes of them says how much motion accuracy extrapolating so
# far can buy: a model must predict better than the order it beats.
EXTRAPOLATIONS = {"hold": 0, "velocity": 1, "acceleration": 2}


def extrapolated_futures(collect, frames: str | Path, starts: np.ndarray, context: int, horizon: int,
                         order: int) -> np.ndarray | None:
    """uint8 [N, horizon, H, W, C]: the futures of the test clips at ``starts`` of the frames file,
    redrawn by the generator with the context motion extrapolated to ``order``; None where the source's
    generator cannot redraw them."""
    from genvid.data.benchmark import generator, sequence_frames
    from genvid.data.h5 import read_h5

    make = getattr(generator(collect.source), "extrapolated_sequence", None)
    if make is None:
        return None
    with read_h5(frames, "HDF5 frames file") as f:
        episode, step = f["episode"][:], f["step"][:]
    out = []
    for a in starts:
        e, s = int(episode[int(a)]), int(step[int(a)])
        seq = make(collect.seed, e, s + context + horizon, s + context, order, "test")
        out.append(sequence_frames(seq)[s + context:])
    return np.stack(out)


def reference_predictions(model: MotionClassifier, collect, frames: str | Path, starts: np.ndarray,
                          context: int, horizon: int) -> dict[str, Any] | None:
    """{"starts": int64 [N], name: the class predicted for each clip's reference future, per
    EXTRAPOLATIONS}, or None where the benchmark's generator cannot redraw its futures."""
    out: dict[str, Any] = {"starts": np.asarray(starts, dtype=np.int64)}
    for name, order in EXTRAPOLATIONS.items():
        futures = extrapolated_futures(collect, frames, starts, context, horizon, order)
        if futures is None:
            return None
        out[name] = predict(model, futures)
    return out


# ----------------------------------------------------------------------------- the classifier file

def unavailable(benchmark: str, reason: str) -> dict[str, Any]:
    return {"format": FORMAT, "benchmark": benchmark, "available": False, "reason": reason}


def save(path: str | Path, content: dict[str, Any]) -> None:
    save_torch(path, content)


def file_content(benchmark: str, model: MotionClassifier, classes: tuple[str, ...], test_labels: np.ndarray,
                 accuracies: dict[str, float], cfg, context_frames: int, frame_shape: tuple[int, int, int],
                 curve: list[dict[str, float]], references: dict[str, Any] | None = None) -> dict[str, Any]:
    refs = None if references is None else {k: torch.as_tensor(np.asarray(v, dtype=np.int64))
                                            for k, v in references.items()}
    return {"format": FORMAT, "benchmark": benchmark, "available": True, "reason": None,
            "state_dict": model.state_dict(), "classes": list(classes), "frames": model.frames,
            "context_frames": context_frames, "frame_shape": list(frame_shape), "width": model.width,
            "test_labels": torch.as_tensor(np.asarray(test_labels, dtype=np.int64)),
            "accuracy": dict(accuracies), "config": asdict(cfg), "curve": curve, "references": refs}


def load(path: str | Path, benchmark: str) -> dict[str, Any]:
    """The classifier file of ``benchmark``, checked; one line naming the file on any problem."""
    data = load_torch(path, "motion classifier file")
    keys = ("format", "benchmark", "available")
    if not isinstance(data, dict) or any(k not in data for k in keys) or data["format"] != FORMAT:
        raise GenvidError(f"{path}: not a motion classifier file (stage motion_classifier writes it)")
    if data["benchmark"] != benchmark:
        raise GenvidError(f"{path}: the motion classifier of benchmark {data['benchmark']!r}, not {benchmark!r} "
                          f"(rerun motion_classifier@{benchmark})")
    if not data["available"]:
        return data
    try:
        model = MotionClassifier(len(data["classes"]), int(data["frames"]), int(data["frame_shape"][2]),
                                 int(data["width"]))
        model.load_state_dict(data["state_dict"])
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as err:
        raise GenvidError(f"{path}: motion classifier weights do not load ({str(err).splitlines()[0][:120]})") from None
    model.eval()
    return {**data, "model": model}


# ----------------------------------------------------------------------------- scoring a run

def _mean_ci(values: np.ndarray, clusters: np.ndarray, cfg) -> dict[str, Any]:
    out: dict[str, Any] = {"mean": float(values.mean()), "ci95": None}
    if len(np.unique(clusters)) >= 2:
        lo, hi = stats.cluster_bootstrap(values, clusters, cfg.bootstrap, cfg.seed)
        out["ci95"] = [float(lo), float(hi)]
    return out


def score_counts(predicted: np.ndarray, real: np.ndarray, truth: np.ndarray, clusters: np.ndarray, cfg,
                 classes: list[str]) -> dict[str, Any]:
    """scores.json's ``motion`` from predicted classes [N, S] of the samples, [N] of the real futures
    and the true classes [N] (module docstring); cfg: genvid.params.EvaluateConfig."""
    right = predicted == truth[:, None]
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (np.repeat(truth, predicted.shape[1]), predicted.reshape(-1)), 1)
    return {"skipped": None, "classes": classes, "clips": int(predicted.shape[0]), "samples": int(predicted.shape[1]),
            "mean_of_n": _mean_ci(right.mean(axis=1), clusters, cfg),
            "best_of_n": _mean_ci(right.any(axis=1).astype(np.float64), clusters, cfg),
            "real": _mean_ci((real == truth).astype(np.float64), clusters, cfg),
            "confusion": confusion.tolist(),
            "rule": ("per clip: mean-of-N = the share of its N samples classified as its class, best-of-N = 1 if "
                     "any is; real = its true future; means over clips, 95 % cluster bootstrap")}


def check(classifier: dict[str, Any], info, path: str | Path) -> np.ndarray | None:
    """The true class of each clip of a samples file (genvid.data.samples.SamplesInfo ``info``) from a
    loaded classifier file, checked against it before any scoring; None where there is no classifier."""
    from genvid.data.samples import read_index

    if not classifier["available"]:
        return None
    shape = (info.height, info.width, info.channels)
    if info.horizon != classifier["frames"] or list(shape) != list(classifier["frame_shape"]):
        raise GenvidError(f"{path}: the motion classifier reads futures of {classifier['frames']} frames of "
                          f"{tuple(classifier['frame_shape'])}, but {info.path} holds {info.horizon} of {shape} "
                          f"(rerun motion_classifier, sample)")
    labels = classifier["test_labels"].numpy()
    episode = read_index(info.path)["episode"]
    if episode.min() < 0 or episode.max() >= len(labels):
        raise GenvidError(f"{info.path}: test clip of sequence {int(episode.max())}, but the motion classifier "
                          f"{path} knows the labels of {len(labels)} (rerun motion_classifier)")
    return labels[episode].astype(np.int64)


def score(classifier: dict[str, Any], info, cfg, path: str | Path, batch_clips: int = 4) -> dict[str, Any]:
    """The motion scores of a samples file (genvid.data.samples.SamplesInfo ``info``) with a loaded
    classifier file, or {"skipped": reason} where the benchmark has no classifier."""
    from genvid.data.samples import read_clips, read_index

    truth = check(classifier, info, path)
    if truth is None:
        return {"skipped": classifier["reason"]}
    model, c = classifier["model"], info.context_frames
    predicted, real = [], []
    for i in range(0, info.clips, batch_clips):
        rows = slice(i, min(i + batch_clips, info.clips))
        samples = read_clips(info.path, "predictions", rows)  # [b, S, horizon, H, W, C]
        b, s = samples.shape[:2]
        predicted.append(predict(model, samples.reshape(b * s, *samples.shape[2:])).reshape(b, s))
        real.append(predict(model, read_clips(info.path, "real", rows)[:, c:]))
    index = read_index(info.path)
    out = score_counts(np.concatenate(predicted), np.concatenate(real), truth, index["cluster"], cfg,
                       list(classifier["classes"]))
    out["extrapolated"] = reference_scores(classifier.get("references"), index["start"], truth, index["cluster"],
                                           cfg, path)
    return out


def reference_scores(references: dict[str, Any] | None, starts: np.ndarray, truth: np.ndarray,
                     clusters: np.ndarray, cfg, path: str | Path) -> list[dict[str, Any]] | None:
    """scores.json's ``motion.extrapolated``: in EXTRAPOLATIONS' order, {"name", "order", "mean", "ci95"}:
    the accuracy of the reference futures of the clips at ``starts`` (true classes ``truth``) with its
    interval; None without them."""
    if not references:
        return None
    known = {int(a): i for i, a in enumerate(np.asarray(references["starts"]).tolist())}
    missing = [int(a) for a in starts if int(a) not in known]
    if missing:
        raise GenvidError(f"{path}: no reference future for the test clip at frame {missing[0]} (rerun "
                          "motion_classifier)")
    rows = np.array([known[int(a)] for a in starts], dtype=np.int64)
    return [{"name": name, "order": order,
             **_mean_ci((np.asarray(references[name])[rows] == truth).astype(np.float64), clusters, cfg)}
            for name, order in EXTRAPOLATIONS.items()]


def headline(motion: dict[str, Any]) -> dict[str, float]:
    """metrics.json's key: the mean-of-N accuracy, absent where the benchmark has no labels."""
    if motion.get("skipped") is not None or "mean_of_n" not in motion:
        return {}
    return {HEADLINE: stats.headline_number(HEADLINE, motion["mean_of_n"]["mean"])}


def summary(motion: dict[str, Any]) -> str:
    if motion.get("skipped") is not None:
        return ""
    return (f"; motion accuracy mean-of-N {motion['mean_of_n']['mean']:.3f}, best-of-N "
            f"{motion['best_of_n']['mean']:.3f} (real futures {motion['real']['mean']:.3f})")
