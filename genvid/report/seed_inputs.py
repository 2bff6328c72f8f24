"""The inputs of the Benchmarks chapter's seed 001/004 pieces, chosen by what each run measured
(genvid.data.train_metrics: bits per dimension, a latent hierarchy), not by its model's name:
sharpness of the samples, the ablations (stage ablate), the temperature sweep (stage figures) and
the noisy-VQ studies (stage noisy_vq).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genvid import params as P
from genvid.data import train_metrics as TM
from genvid.data.declared import Declared
from genvid.data.figures import TemperatureSweep, pick_rows
from genvid.data.samples import SamplesInfo, read_clips
from genvid.data.train_metrics import lookup
from genvid.data.noisy_vq import STUDY_FILE, check_study, study_entry
from genvid.errors import GenvidError, ParamError
from genvid.layout import ablation_dir, noisy_vq_dir
from genvid.report.readers import PREDICTIONS, ReportPaths, RunResult, read_object



def is_seed_run(result: RunResult) -> bool:
    """A learned model that is not seed 000's VQ family: it gets a paragraph of its own."""
    return result.train_metrics.get("parameters") != 0 and not TM.has_vq(result.train_metrics)


def gradient_energy(frames: np.ndarray) -> tuple[float, int]:
    """Sum of |vertical| and |horizontal| differences of neighbouring pixels of uint8 frames
    [..., H, W, C] (values scaled to [0, 1]), and how many differences were summed."""
    x = frames.astype(np.int16)
    dy, dx = np.abs(np.diff(x, axis=-3)), np.abs(np.diff(x, axis=-2))
    return (float(dy.sum(dtype=np.int64)) + float(dx.sum(dtype=np.int64))) / 255.0, dy.size + dx.size


def sharpness(info: SamplesInfo, chunk: int = 8) -> float | None:
    """SHARPNESS: the mean absolute spatial gradient of every predicted frame (all clips, all samples)
    over that of the true future frames of the same clips; None if the true frames are flat."""
    pred, real = [0.0, 0], [0.0, 0]
    for a in range(0, info.clips, chunk):
        rows = slice(a, min(a + chunk, info.clips))
        for acc, frames in ((pred, read_clips(info.path, PREDICTIONS, rows)),
                            (real, read_clips(info.path, "real", rows)[:, info.context_frames:])):
            total, count = gradient_energy(frames)
            acc[0] += total
            acc[1] += count
    if real[0] <= 0 or pred[1] == 0:
        return None
    return (pred[0] / pred[1]) / (real[0] / real[1])


@dataclass
class Ablation:
    """reports/<b>/ablations/<run>/ablation.json (stage ablate): the run's variants with their
    params and training metrics; the run itself is the reference row."""

    run: str
    model: str
    hierarchy: bool  # the run has a latent hierarchy (its variants' metrics are checked as such)
    path: Path
    variants: dict[str, dict]  # name -> {"models", "train", "metrics"(, "protocol")}, in the file's order
    reference: dict | None = None  # score: protocol: the run's own protocol scores (genvid.ablation)


def read_ablations(params: dict, paths: ReportPaths, benchmark: str, results: dict[str, RunResult]) -> list[Ablation]:
    """Every ``ablations.<run>`` of params.yaml whose run is a run of ``benchmark``; its variants
    must be exactly those of params.yaml (else the file is stale)."""
    section = params.get("ablations") or {}
    if not isinstance(section, dict):
        raise ParamError(f"{paths.params}: section 'ablations' must be a mapping")
    out = []
    for run, entry in section.items():
        if run not in results or results[run].benchmark != benchmark:
            continue
        path = ablation_dir(run, benchmark, paths.root) / "ablation.json"
        data = read_object(path)
        if data.get("run") != run:
            raise GenvidError(f"{path}: holds run {data.get('run')!r}, expected '{run}'")
        variants = lookup(data, "variants", path)
        expected = list((entry or {}).get("variants") or {}) if isinstance(entry, dict) else []
        if not isinstance(variants, dict) or sorted(variants) != sorted(expected):
            raise GenvidError(f"{path}: variants {sorted(variants) if isinstance(variants, dict) else variants!r} "
                              f"differ from params.yaml ablations.{run}.variants {sorted(expected)} (a stale "
                              f"ablation: rerun ablate@{run})")
        model, hierarchy = results[run].model, TM.has_hierarchy(results[run].train_metrics)
        for name, v in variants.items():
            metrics = lookup(v, "metrics", f"{path}: variants.{name}")
            if not isinstance(metrics, dict):
                raise GenvidError(f"{path}: key 'variants.{name}.metrics' must be a mapping")
            if hierarchy:
                TM.check_hierarchy(metrics, f"{path}: variants.{name}.metrics")
        reference = data.get("reference")
        if reference is not None and not all(isinstance(v, dict) and isinstance(v.get("protocol"), dict)
                                             for v in (reference, *variants.values())):
            raise GenvidError(f"{path}: a protocol-scored ablation needs 'protocol' scores for the run and every variant")
        out.append(Ablation(run, model, hierarchy, path, variants, reference))
    return out


@dataclass
class NoisyStudy:
    run: str
    benchmark: str
    path: Path
    data: dict  # genvid.data.noisy_vq's schema
    # the benchmark's runs whose model samples VQ codes (PixelSNAIL or the GAN prior), in params order:
    # seed 002's claims about priors over noisy codes (§4.6, §4.7) read their scores
    priors: list[RunResult] = field(default_factory=list)
    vqvae_steps: int | None = None  # the steps each σ's VQ-VAE trained for (the run's, or the study's override)
    prior_kinds: dict[str, str] = field(default_factory=dict)  # prior run -> its kind (Declared.code_prior)

    @property
    def sigmas(self) -> list[float]:
        return [float(s) for s in self.data["sigmas"]]

    def mean(self, key: str, sigma: float, tier: str | None = None) -> float:
        """The mean over seeds of a row key (``tier`` None) or a tier key at ``sigma``."""
        values = [(r[tier] if tier else r)[key] for r in self.data["rows"] if r["sigma"] == sigma]
        return sum(values) / len(values)


def read_studies(params: dict, paths: ReportPaths, benchmark: str, results: dict[str, RunResult],
                 declared: dict[str, Declared] | None = None) -> list[NoisyStudy]:
    """Every ``noisy_vq.<run>`` of params.yaml whose run is a run of ``benchmark``; a file made for
    another grid (sigmas, seeds) is stale: an error naming the stage to rerun."""
    out = []
    for run in P.section(params, "noisy_vq", paths.params):
        if run not in results:
            raise ParamError(f"{paths.params}: noisy_vq.{run} names no run of section 'runs'")
        cfg, overrides = study_entry(params, results[run].run, paths.params)
        if cfg.benchmark != benchmark:
            continue
        path = noisy_vq_dir(run, paths.root) / STUDY_FILE
        data = check_study(read_object(path), path, run)
        for key in ("sigmas", "seeds"):
            want = list(getattr(cfg, key))
            if [float(v) for v in data.get(key) or []] != [float(v) for v in want]:
                raise GenvidError(f"{path}: {key} {data.get(key)!r} differ from params.yaml noisy_vq.{run}.{key} "
                                  f"{want!r} (a stale study: rerun noisy_vq@{run})")
        kinds = {r.name: declared[r.model].code_prior for r in results.values()
                 if declared and r.model in declared and declared[r.model].code_prior}
        priors = [r for r in results.values() if r.benchmark == benchmark and r.name in kinds]
        steps = ((overrides.get("train") or {}).get("vqvae") or {}).get(
            "steps", (results[run].run.train_params.get("vqvae") or {}).get("steps"))
        out.append(NoisyStudy(run, benchmark, path, data, priors, steps, {r.name: kinds[r.name] for r in priors}))
    return out


def read_temperature_run(params: dict, paths: ReportPaths, results: dict[str, RunResult],
                         sweep: TemperatureSweep | None, source: Path) -> TemperatureSweep | None:
    """The figures file's temperature sweep of params ``report.temperature_run``; None when the
    param is unset or names no run (a profile may remove it). A sweep made for other params
    (run, temperatures, seed, clips, frames or the run's model params) is stale: an error."""
    cfg = P.top_level(params, "report", paths.params)
    if cfg.temperature_run is None or cfg.temperature_run not in results:
        return None
    result = results[cfg.temperature_run]
    if sweep is None or sweep.run != result.name:
        raise GenvidError(f"{source}: holds no temperature sweep of run '{result.name}' (rerun stage figures)")
    frames = min(cfg.temperature_frames or result.samples.horizon, result.samples.horizon)
    expected = {"temperatures": tuple(float(t) for t in cfg.temperatures), "seed": cfg.temperature_seed,
                "horizon": frames, "clips": len(pick_rows(result.samples.clips, cfg.temperature_clips)),
                "params": result.run.model_params}
    found = {"temperatures": sweep.temperatures, "seed": sweep.seed, "horizon": sweep.horizon,
             "clips": len(sweep.rows), "params": sweep.params}
    for key, value in expected.items():
        if found[key] != value:
            raise GenvidError(f"{source}: temperature sweep made with {key} {found[key]!r}, params.yaml gives "
                              f"{value!r} (a stale figures file: rerun stage figures)")
    return sweep
