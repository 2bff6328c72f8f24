"""The noisy-VQ study's contracts, defined once and torch-free: its params entry (``noisy_vq.<run>``,
``study_entry``) and its file (reports/noisy_vq/<run>/study.json, ``check_study``). The writer (stage
noisy_vq, genvid.models.vq.noisy_study) and the reader (the report) import these names.

    run, benchmark, task          the studied run, its benchmark, the probe's task (one line)
    sigmas, seeds                 the grid, in params order
    fit_clips, held_out_clips     the probe's set sizes
    rows[]                        one per (sigma, seed): ROW_KEYS, and per tier (TIERS) TIER_KEYS
    rows[].clips                  per held-out clip, in the held-out set's order (the same clips in every row):
                                  CLIP_KEYS, and per tier CLIP_TIER_KEYS; the report's verdicts bootstrap them
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genvid.config import parse_config, rule
from genvid.errors import GenvidError, ParamError

STUDY_FILE = "study.json"
TIERS = ("top", "bottom")
ROW_KEYS = ("sigma", "seed", "psnr", "ssim", "probe_majority")
TIER_KEYS = ("usage", "perplexity", "codes_used", "order", "shift_psnr_drop", "probe_accuracy", "probe_ridge")
CLIP_KEYS = ("cluster", "psnr")  # the clip's bootstrap cluster (an episode), its reconstruction PSNR (dB)
CLIP_TIER_KEYS = ("shift_psnr_drop", "probe_correct")  # its PSNR drop with the tier's indices moved; 1 where the probe is right
# The report's panels against sigma (tier measures): (key, short label, higher is better)
MEASURES = (("perplexity", "code perplexity", True), ("usage", "share of codes used", True),
            ("order", "codebook order ρ", True), ("shift_psnr_drop", "PSNR drop, indices ±1 (dB)", False),
            ("probe_accuracy", "probe accuracy (index map)", True))


@dataclass(frozen=True)
class NoisyVQConfig:
    """``noisy_vq.<run>`` of params.yaml, but for its ``overrides`` (of the run's models/train sections)."""

    benchmark: str  # the run's, restated for dvc.yaml (checked)
    model: str
    sigmas: tuple[float, ...]  # standard deviations of the index noise
    seeds: tuple[int, ...]  # train seeds of the tokenizer
    fit_clips: int = field(metadata=rule(min=4))
    held_out_clips: int = field(metadata=rule(min=1))

    def validate(self) -> str | None:
        for name, values in (("sigmas", self.sigmas), ("seeds", self.seeds)):
            if not values or len(set(values)) != len(values) or min(values) < 0:
                return f"{name} must be a non-empty list of distinct numbers >= 0, got {list(values)}"
        return None


def study_entry(raw: dict, run: Any, path: str | Path) -> tuple[NoisyVQConfig, dict]:
    """``noisy_vq.<run>`` of params, parsed and checked against the run (a genvid.params.Run); its
    overrides (of the run's ``models``/``train`` sections) as given."""
    where = f"noisy_vq.{run.name}"
    section = raw.get("noisy_vq") if isinstance(raw, dict) else None
    entry = section.get(run.name) if isinstance(section, dict) else None
    if not isinstance(entry, dict):
        raise ParamError(f"{path}: section '{where}' is missing or not a mapping")
    entry = dict(entry)
    overrides = entry.pop("overrides", None) or {}
    cfg = parse_config(NoisyVQConfig, entry, where, str(path))
    for key, value in (("benchmark", run.benchmark), ("model", run.model)):
        if getattr(cfg, key) != value:
            raise ParamError(f"{path}: {where}.{key} must be the run's {key} '{value}', got {getattr(cfg, key)!r}")
    if not isinstance(overrides, dict) or set(overrides) - {"models", "train"}:
        raise ParamError(f"{path}: {where}.overrides may hold only 'models' and 'train' mappings")
    return cfg, overrides


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def check_study(data: Any, source: str | Path, run: str | None = None) -> dict:
    """A study.json as stage noisy_vq writes it (of ``run`` when given); one line naming what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise GenvidError(f"{source}: not a noisy-VQ study file (no 'rows'; stage noisy_vq writes it)")
    if run is not None and data.get("run") != run:
        raise GenvidError(f"{source}: the study of run {data.get('run')!r}, not of {run!r}")
    if not data["rows"]:
        raise GenvidError(f"{source}: 'rows' is empty")
    for i, row in enumerate(data["rows"]):
        where = f"rows[{i}]"
        for key in ROW_KEYS:
            if not _finite(row.get(key) if isinstance(row, dict) else None):
                raise GenvidError(f"{source}: {where}.{key} must be a finite number")
        for tier in TIERS:
            values = row.get(tier)
            for key in TIER_KEYS:
                if not _finite(values.get(key) if isinstance(values, dict) else None):
                    raise GenvidError(f"{source}: {where}.{tier}.{key} must be a finite number")
            pca = values.get("pca")
            if not isinstance(pca, list) or not all(isinstance(p, list) and len(p) == 2 and all(map(_finite, p))
                                                    for p in pca):
                raise GenvidError(f"{source}: {where}.{tier}.pca must be a list of [x, y] pairs")
        _check_clips(row, where, source, len(_clip_list(data["rows"][0], "psnr") or []))
    return data


def _clip_list(row: Any, key: str, tier: str | None = None) -> Any:
    clips = row.get("clips") if isinstance(row, dict) else None
    holder = clips.get(tier) if tier and isinstance(clips, dict) else clips
    return holder.get(key) if isinstance(holder, dict) else None


def _check_clips(row: dict, where: str, source: str | Path, n: int) -> None:
    """rows[i].clips: every per-clip list of the same length n >= 1 as the first row's, finite numbers."""
    for key, tier in [(k, None) for k in CLIP_KEYS] + [(k, t) for t in TIERS for k in CLIP_TIER_KEYS]:
        values = _clip_list(row, key, tier)
        name = f"{where}.clips.{tier + '.' if tier else ''}{key}"
        if not isinstance(values, list) or not values or not all(map(_finite, values)):
            raise GenvidError(f"{source}: {name} must be a non-empty list of finite numbers (one per held-out clip; "
                              "rerun stage noisy_vq)")
        if len(values) != n:
            raise GenvidError(f"{source}: {name} has {len(values)} clips, the first row {n}")
