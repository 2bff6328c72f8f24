"""Load ``params.yaml`` and validate the sections a stage reads (genvid.config: one line naming the key).

Layout (docs/design.md §4): ``repro``, ``device``, ``benchmarks.<name>`` (collect, split, clips, normalize,
protocol, optional long_horizon), ``models.<model>`` (sizes), ``train.<model>`` (optimisation),
``runs.<run>`` (a benchmark x a registered model with optional ``overrides`` of its models/train
sections), ``sample``, ``evaluate``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genvid.config import parse_config, rule
from genvid.errors import GenvidError, ParamError
from genvid.io import load_yaml
from genvid.layout import plain_name

PARAMS_FILE = "params.yaml"


# ----------------------------------------------------------------------------- section configs

@dataclass(frozen=True)
class ReproConfig:
    threads: int = field(metadata=rule(min=1))


@dataclass(frozen=True)
class DeviceConfig:
    device: str = field(default="cpu", metadata=rule(choices=("cpu", "cuda")))
    precision: str = field(default="fp32", metadata=rule(choices=("fp32", "bf16")))
    channels_last: bool = False  # 4D/5D weights NHWC/NDHWC (genvid.device)
    compile: bool = False  # torch.compile the models' repeated blocks in training (genvid.device)


@dataclass(frozen=True)
class CollectConfig:
    source: str = field(metadata=rule(choices=("procedural", "carracing", "smmnist")))
    seed: int = field(metadata=rule(min=0))
    resolution: int = field(metadata=rule(min=16, max=1024, multiple_of=16))
    episodes: int = field(metadata=rule(min=1))
    frames_per_episode: int = field(metadata=rule(min=1))
    interval: float = field(metadata=rule(min=0.0, exclusive_min=True))
    # the procedural autopilot's exploration: the sd of a slowly varying noise added to its steering
    # (genvid.data.simulator, issue 48); 0 drives as the plain autopilot
    steer_noise: float = field(default=0.0, metadata=rule(min=0.0, max=0.5))

    def validate(self) -> str | None:
        if self.steer_noise > 0 and self.source != "procedural":
            return f"steer_noise is the procedural simulator's; source {self.source!r} has none (set it to 0)"
        return None


@dataclass(frozen=True)
class SplitConfig:
    train: float = field(metadata=rule(min=0.0, max=1.0, exclusive_min=True))
    val: float = field(metadata=rule(min=0.0, max=1.0, exclusive_min=True))
    test: float = field(metadata=rule(min=0.0, max=1.0, exclusive_min=True))

    def validate(self) -> str | None:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-9:
            return f"train + val + test must sum to 1, got {total:g}"
        return None


@dataclass(frozen=True)
class ClipsConfig:
    clip_len: int = field(metadata=rule(min=2))
    train_stride: int = field(metadata=rule(min=1))
    eval_stride: int = field(metadata=rule(min=1))


@dataclass(frozen=True)
class NormalizeConfig:
    chunk_frames: int = field(metadata=rule(min=1))


@dataclass(frozen=True)
class ProtocolConfig:
    """docs/design.md §7: every predictor of a benchmark sees ``context_frames`` and predicts ``horizon``."""

    context_frames: int = field(metadata=rule(min=1))
    horizon: int = field(metadata=rule(min=1))
    num_samples: int = field(metadata=rule(min=1))
    test_stride: int = field(metadata=rule(min=1))
    block_clips: int = field(metadata=rule(min=1))
    max_clips: int = field(metadata=rule(min=0))

    @property
    def clip_len(self) -> int:
        return self.context_frames + self.horizon


@dataclass(frozen=True)
class LongHorizonConfig(ProtocolConfig):
    """``benchmarks.<b>.long_horizon`` (issue 23 item 2): a second protocol of the same models from the same
    context, predicting further, so the leaderboard shows how each degrades with time. Its own test clips
    (of ``clip_len`` frames), N, clusters and FVD repeats; the context must be the main protocol's."""

    fvd_repeats: int = field(metadata=rule(min=1))


@dataclass(frozen=True)
class MotionClassifierConfig:
    """``benchmarks.<b>.motion_classifier`` (issue 22 item 4; genvid.metrics.motion): the small Conv3D that
    classifies the motion of a future (the protocol's horizon frames), trained on the futures of the first
    ``sequences`` generated training sequences."""

    sequences: int = field(metadata=rule(min=10))
    steps: int = field(metadata=rule(min=1))
    batch_size: int = field(metadata=rule(min=1))
    lr: float = field(metadata=rule(min=0.0, exclusive_min=True))
    width: int = field(metadata=rule(min=1))  # channels of the first Conv3D (then 2x)
    seed: int = field(metadata=rule(min=0))


@dataclass(frozen=True)
class BenchmarkConfig:
    collect: Any  # CollectConfig, genvid.data.benchmark.SMMNISTCollectConfig or genvid.data.video_dir's (by collect.source)
    clips: ClipsConfig
    protocol: ProtocolConfig
    split: SplitConfig | None = None  # recorded sources only (a generated one has no chronology)
    normalize: NormalizeConfig | None = None  # recorded sources only
    # genvid.data.counterfactuals.CounterfactualConfig: the simulator's test clips replayed under other
    # actions (optional; a procedural source only)
    counterfactuals: Any = None
    motion_classifier: MotionClassifierConfig | None = None  # optional; a labelled source only (dynamics)
    long_horizon: LongHorizonConfig | None = None  # optional: the long-horizon protocol (issue 23 item 2)


@dataclass(frozen=True)
class SampleConfig:
    seed: int = field(metadata=rule(min=0))


@dataclass(frozen=True)
class EvaluateConfig:
    fvd_repeats: int = field(metadata=rule(min=1))
    bootstrap: int = field(metadata=rule(min=100))
    seed: int = field(metadata=rule(min=0))
    counterfactual_fvd: bool = False  # FVD of the counterfactual futures too (I3D: seconds per video on a CPU)


@dataclass(frozen=True)
class ReportConfig:
    """docs/design.md §8: the run whose model the thesis chapters describe (any run), and the run whose
    samples the report redraws at several sampling temperatures (seed 001's RFN; optional: no
    figure when it is unset or not a run of params.yaml)."""

    main_run: str
    temperature_run: str | None = None
    temperatures: tuple[float, ...] = field(default=(0.3, 0.6, 1.0))
    temperature_clips: int = field(default=2, metadata=rule(min=1))  # test clips redrawn at each temperature
    temperature_frames: int | None = field(default=10, metadata=rule(min=1))  # predicted frames drawn (None: horizon)
    temperature_seed: int = field(default=0, metadata=rule(min=0))

    def validate(self) -> str | None:
        if not self.temperatures or any(t <= 0 for t in self.temperatures):
            return f"temperatures must be a non-empty list of numbers > 0, got {list(self.temperatures)}"
        return None


@dataclass(frozen=True)
class LikelihoodConfig:
    """Bits per dimension of models with a pixel likelihood (seed 001 §9.3, Table 9.5: K = 20)."""

    iwae_samples: int = field(metadata=rule(min=1))
    clips: int = field(metadata=rule(min=1))  # test clips the bound averages over
    batch_size: int = field(metadata=rule(min=1))
    seed: int = field(metadata=rule(min=0))


@dataclass(frozen=True)
class ResourcesConfig:
    """What a cluster scheduler grants one stage's job (``resources.<stage>``, workflow/profiles/slurm)."""

    cpus: int = field(metadata=rule(min=1))
    mem_mb: int = field(metadata=rule(min=1))
    runtime: int = field(metadata=rule(min=1))  # minutes
    gpus: int = field(default=0, metadata=rule(min=0))


@dataclass(frozen=True)
class DistributedConfig:
    """Processes per training run (genvid.train.distributed): 1 = one plain process; N > 1 = the train
    stage re-executes itself under ``torchrun --nproc_per_node N`` (GENVID_NPROC overrides nproc)."""

    nproc: int = field(default=1, metadata=rule(min=1))
    backend: str = field(default="auto", metadata=rule(choices=("auto", "gloo", "nccl")))


TOP_LEVEL = {"repro": ReproConfig, "device": DeviceConfig, "sample": SampleConfig, "evaluate": EvaluateConfig,
             "report": ReportConfig, "likelihood": LikelihoodConfig, "distributed": DistributedConfig}


# ----------------------------------------------------------------------------- reading

def read_params(path: str | Path = PARAMS_FILE) -> dict:
    path = Path(path)
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GenvidError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        raise GenvidError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise GenvidError(f"{path}: expected a mapping of sections at the top level")
    return data


def section(params: dict, dotted: str, path: str | Path = PARAMS_FILE) -> dict:
    """``params["a"]["b"]`` for "a.b" as a dict, or one line naming the missing section."""
    node: Any = params
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        raise ParamError(f"{path}: section '{dotted}' is missing or not a mapping")
    return node


def top_level(params: dict, name: str, path: str | Path = PARAMS_FILE):
    """A validated top-level section: repro, device, sample or evaluate."""
    return parse_config(TOP_LEVEL[name], section(params, name, path), name, str(path))


COUNTERFACTUALS = "counterfactuals"  # optional section of a benchmark (issue 24)
MOTION = "motion_classifier"  # optional section of a labelled benchmark (issue 22 item 4)
LONG_HORIZON = "long_horizon"  # optional section of any benchmark (issue 23 item 2)
SECTIONS = {"split": SplitConfig, "clips": ClipsConfig, "normalize": NormalizeConfig, "protocol": ProtocolConfig}


def benchmark(params: dict, name: str, path: str | Path = PARAMS_FILE) -> BenchmarkConfig:
    """``benchmarks.<name>``: its collect section is read by the class of its source."""
    from genvid.data.benchmark import GENERATED_SOURCES, LABELLED_SOURCES, SMMNISTCollectConfig
    from genvid.data.counterfactuals import CounterfactualConfig, unavailable_reason
    from genvid.data.video_dir import VIDEO_SOURCE, VideoDirCollectConfig

    where = f"benchmarks.{name}"
    checked_name(name, where, path)  # before the lookup: a dotted name is no section path
    values = section(params, where, path)
    unknown = sorted(set(values) - {"collect", *SECTIONS, COUNTERFACTUALS, MOTION, LONG_HORIZON})
    if unknown:
        raise ParamError(f"{path}: {where}.{unknown[0]} is not a known section "
                         f"(known: collect, {', '.join(SECTIONS)}, {COUNTERFACTUALS}, {MOTION}, {LONG_HORIZON})")
    collect = section(params, f"{where}.collect", path)
    sources = (*CollectConfig.__dataclass_fields__["source"].metadata["rule"].choices, *GENERATED_SOURCES, VIDEO_SOURCE)
    if collect.get("source") not in sources:  # it decides which keys collect has: name it first
        raise ParamError(f"{path}: {where}.collect.source must be one of {', '.join(dict.fromkeys(sources))}, "
                         f"got {collect.get('source')!r}")
    generated = collect.get("source") in GENERATED_SOURCES
    # collect first: its source decides which sections the benchmark needs (a bad source is named as such)
    cls = SMMNISTCollectConfig if generated else VideoDirCollectConfig if collect["source"] == VIDEO_SOURCE else CollectConfig
    parsed_collect = parse_config(cls, collect, f"{where}.collect", str(path))
    needed = [key for key in SECTIONS if key in values or not (generated and key in ("split", "normalize"))]
    parsed = {key: parse_config(SECTIONS[key], section(params, f"{where}.{key}", path), f"{where}.{key}",
                                str(path)) for key in needed}
    if COUNTERFACTUALS in values:
        reason = unavailable_reason(str(collect.get("source")))
        if reason is not None:
            raise ParamError(f"{path}: {where}.{COUNTERFACTUALS}: {reason}; remove the section")
        parsed[COUNTERFACTUALS] = parse_config(CounterfactualConfig, section(params, f"{where}.{COUNTERFACTUALS}", path),
                                               f"{where}.{COUNTERFACTUALS}", str(path))
    if MOTION in values:
        if collect.get("source") not in LABELLED_SOURCES:
            raise ParamError(f"{path}: {where}.{MOTION}: source '{collect.get('source')}' has no motion labels "
                             f"(labelled: {', '.join(LABELLED_SOURCES)}); remove the section")
        parsed[MOTION] = parse_config(MotionClassifierConfig, section(params, f"{where}.{MOTION}", path),
                                      f"{where}.{MOTION}", str(path))
    parsed[LONG_HORIZON] = long_horizon(params, name, parsed["protocol"], path)
    return BenchmarkConfig(parsed_collect, **parsed)


def long_horizon(params: dict, name: str, protocol: ProtocolConfig,
                 path: str | Path = PARAMS_FILE) -> LongHorizonConfig | None:
    """``benchmarks.<name>.long_horizon`` checked against the benchmark's ``protocol``, or None where the
    benchmark has none."""
    where = f"benchmarks.{name}.{LONG_HORIZON}"
    if LONG_HORIZON not in section(params, f"benchmarks.{name}", path):
        return None
    cfg = parse_config(LongHorizonConfig, section(params, where, path), where, str(path))
    if cfg.context_frames != protocol.context_frames:  # the same models, conditioned the same way
        raise ParamError(f"{path}: {where}.context_frames must equal benchmarks.{name}.protocol.context_frames "
                         f"({protocol.context_frames}), got {cfg.context_frames}")
    if cfg.horizon <= protocol.horizon:
        raise ParamError(f"{path}: {where}.horizon must be > benchmarks.{name}.protocol.horizon "
                         f"({protocol.horizon}), got {cfg.horizon}")
    return cfg


def nonempty(params: dict, dotted: str, path: str | Path = PARAMS_FILE, what: str = "entry") -> dict:
    """``section`` that must hold at least one ``what`` (issue 47: an empty map once gave an empty result)."""
    node = section(params, dotted, path)
    if not node:
        raise ParamError(f"{path}: section '{dotted}' is empty: it needs at least one {what}")
    return node


def benchmark_names(params: dict, path: str | Path = PARAMS_FILE) -> list[str]:
    return list(nonempty(params, "benchmarks", path, "benchmark"))


@dataclass(frozen=True)
class Run:
    """A run: a benchmark x a registered model, with the model's sections after overrides."""

    name: str
    benchmark: str
    model: str
    model_params: dict  # models.<model>, overrides applied
    train_params: dict  # train.<model>, overrides applied


def run(params: dict, name: str, path: str | Path = PARAMS_FILE) -> Run:
    checked_name(name, f"runs.{name}", path)  # before the lookup: a dotted name is no section path
    entry = section(params, f"runs.{name}", path)
    unknown = sorted(set(entry) - {"benchmark", "model", "overrides"})
    if unknown:
        raise ParamError(f"{path}: runs.{name}.{unknown[0]} is not a known key (known: benchmark, model, overrides)")
    for key in ("benchmark", "model"):
        if not isinstance(entry.get(key), str):
            raise ParamError(f"{path}: runs.{name}.{key} must be a name, got {entry.get(key)!r}")
    bench, model = entry["benchmark"], entry["model"]
    if bench not in section(params, "benchmarks", path):
        raise ParamError(f"{path}: runs.{name}.benchmark '{bench}' is not in benchmarks (no section "
                         f"benchmarks.{bench}; known: {', '.join(benchmark_names(params, path))})")
    overrides = entry.get("overrides") or {}
    if not isinstance(overrides, dict) or set(overrides) - {"models", "train"}:
        raise ParamError(f"{path}: runs.{name}.overrides may hold only 'models' and 'train' mappings")
    model_params = merge(section(params, f"models.{model}", path), overrides.get("models") or {},
                         f"runs.{name}.overrides.models", path)
    train_params = merge(section(params, f"train.{model}", path), overrides.get("train") or {},
                         f"runs.{name}.overrides.train", path)
    return Run(name, bench, model, model_params, train_params)


def checked_name(name: object, key: str, path: str | Path = PARAMS_FILE) -> str:
    """A params key that becomes a folder name (a benchmark, a run, a variant): plain, or one ParamError line
    naming the file and the key (genvid.layout.plain_name's rule)."""
    try:
        return plain_name(name, f"{path}: {key}")
    except GenvidError as err:
        raise ParamError(str(err)) from None


def run_names(params: dict, path: str | Path = PARAMS_FILE) -> list[str]:
    return list(nonempty(params, "runs", path, "run"))


def merge(base: dict, overrides: dict, where: str, path: str | Path = PARAMS_FILE) -> dict:
    """Deep merge; an override key absent from ``base`` is an error (a typo, not a new param)."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if key not in merged:
            raise ParamError(f"{path}: {where}.{key} does not exist in the section it overrides")
        if isinstance(value, dict) and isinstance(merged[key], dict):
            merged[key] = merge(merged[key], value, f"{where}.{key}", path)
        else:
            merged[key] = value
    return merged
