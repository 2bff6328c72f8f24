"""params.yaml: every section validates through the one mechanism; errors are one line naming the key."""
import dataclasses

import pytest
import yaml

from genvid import params as P
from genvid.config import parse_config, rule
from genvid.errors import ParamError
from genvid.data.benchmark import GENERATED_SOURCES
from genvid.data.video_dir import VIDEO_SOURCE

SOURCES = ", ".join(("procedural", "carracing", *GENERATED_SOURCES, VIDEO_SOURCE))  # in the order params names them


def write(tmp_path, data):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def raw(repo_root):
    return P.read_params(repo_root / "params.yaml")


def test_default_params_validate(raw):
    for name in P.benchmark_names(raw):
        bench = P.benchmark(raw, name)
        assert bench.protocol.context_frames >= 1
    for name in P.run_names(raw):
        run = P.run(raw, name)
        assert run.benchmark in raw["benchmarks"]
    for name in P.TOP_LEVEL:
        if name in raw:
            P.top_level(raw, name)
    assert P.top_level(raw, "repro").threads >= 1


@pytest.mark.parametrize("key,value,message", [
    ("resolution", 50, "params.yaml: benchmarks.driving.collect.resolution must be a multiple of 16, got 50"),
    ("resolution", -16, "benchmarks.driving.collect.resolution must be >= 16, got -16"),
    ("source", "carla9", f"benchmarks.driving.collect.source must be one of {SOURCES}, got 'carla9'"),
    ("episodes", 0, "benchmarks.driving.collect.episodes must be >= 1, got 0"),
    ("episodes", 2.5, "benchmarks.driving.collect.episodes must be an integer, got 2.5"),
    ("interval", 0, "benchmarks.driving.collect.interval must be > 0, got 0"),
    ("seed", True, "benchmarks.driving.collect.seed must be an integer, got True"),
    ("steer_noise", -0.1, "benchmarks.driving.collect.steer_noise must be >= 0"),
    ("steer_noise", 0.9, "benchmarks.driving.collect.steer_noise must be <= 0.5"),
])
def test_collect_errors_name_the_key(tmp_path, raw, key, value, message):
    raw["benchmarks"]["driving"]["collect"][key] = value
    with pytest.raises(ParamError) as err:
        P.benchmark(P.read_params(write(tmp_path, raw)), "driving", "params.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_steer_noise_is_the_procedural_simulators_only(raw):
    raw["benchmarks"]["driving"]["collect"].update(source="carracing", steer_noise=0.05)
    with pytest.raises(ParamError, match=r"benchmarks.driving.collect.steer_noise is the procedural simulator's"):
        P.benchmark(raw, "driving")


def test_split_fractions_must_sum_to_one(raw):
    raw["benchmarks"]["driving"]["split"] = {"train": 0.8, "val": 0.1, "test": 0.2}
    with pytest.raises(ParamError, match=r"benchmarks.driving.split.train \+ val \+ test must sum to 1, got 1.1"):
        P.benchmark(raw, "driving")


def test_unknown_and_missing_keys(raw):
    raw["benchmarks"]["driving"]["clips"]["clip_length"] = 16
    with pytest.raises(ParamError, match="benchmarks.driving.clips.clip_length is not a known parameter"):
        P.benchmark(raw, "driving")
    del raw["benchmarks"]["driving"]["clips"]["clip_length"], raw["benchmarks"]["driving"]["clips"]["eval_stride"]
    with pytest.raises(ParamError, match="benchmarks.driving.clips.eval_stride is missing"):
        P.benchmark(raw, "driving")
    with pytest.raises(ParamError, match="section 'benchmarks.nope' is missing"):
        P.benchmark(raw, "nope")


@pytest.mark.parametrize("key,value,message", [
    ("context_frames", 5, "benchmarks.driving.long_horizon.context_frames must equal "
                          "benchmarks.driving.protocol.context_frames (8), got 5"),
    ("horizon", 8, "benchmarks.driving.long_horizon.horizon must be > benchmarks.driving.protocol.horizon (8), got 8"),
    ("fvd_repeats", 0, "benchmarks.driving.long_horizon.fvd_repeats must be >= 1, got 0"),
    ("fvd_repeats", None, "benchmarks.driving.long_horizon.fvd_repeats is missing"),
    ("num_samples", "2", "benchmarks.driving.long_horizon.num_samples must be an integer, got '2'"),
    ("window", 3, "benchmarks.driving.long_horizon.window is not a known parameter"),
])
def test_long_horizon_errors_name_the_key(raw, key, value, message):
    """Issue 23 item 2: the optional long-horizon protocol, the protocol's fields plus FVD repeats."""
    long = raw["benchmarks"]["driving"]["long_horizon"]
    if value is None:
        del long[key]
    else:
        long[key] = value
    with pytest.raises(ParamError) as err:
        P.benchmark(raw, "driving")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_long_horizon_is_optional(raw):
    long = P.benchmark(raw, "driving").long_horizon
    assert (long.context_frames, long.horizon, long.clip_len) == (8, 32, 40) and long.fvd_repeats >= 1
    assert P.benchmark(raw, "smmnist").long_horizon is None
    raw["benchmarks"]["smmnist"]["long_horizon"] = "oops"
    with pytest.raises(ParamError, match="section 'benchmarks.smmnist.long_horizon' is missing or not a mapping"):
        P.benchmark(raw, "smmnist")


def test_runs_name_their_problems(raw):
    raw["runs"]["x"] = {"benchmark": "moon", "model": "vq"}
    with pytest.raises(ParamError, match="runs.x.benchmark 'moon' is not in benchmarks"):
        P.run(raw, "x")
    raw["runs"]["x"] = {"benchmark": "driving", "model": "vq", "extra": 1}
    with pytest.raises(ParamError, match="runs.x.extra is not a known key"):
        P.run(raw, "x")
    raw["runs"]["x"] = {"benchmark": "driving", "model": "vq", "overrides": {"sample": {}}}
    with pytest.raises(ParamError, match="runs.x.overrides may hold only 'models' and 'train'"):
        P.run(raw, "x")


@dataclasses.dataclass(frozen=True)
class Inner:
    k: int = dataclasses.field(metadata=rule(min=1, max=4))


@dataclasses.dataclass(frozen=True)
class Example:
    size: int = dataclasses.field(metadata=rule(min=1))
    rate: float = dataclasses.field(metadata=rule(min=0.0, exclusive_min=True))
    kind: str = dataclasses.field(default="a", metadata=rule(choices=("a", "b")))
    shape: tuple[int, ...] = (1, 2)
    pair: tuple[float, float] = (0.5, 0.5)
    limit: float | None = None
    flag: bool = False
    inner: Inner = Inner(2)

    def validate(self):
        return "size must be even, got 3" if self.size == 3 else None


@pytest.mark.parametrize("values,message", [
    ({"rate": 1.0}, "x.size is missing"),
    ({"size": 1, "rate": 0}, "x.rate must be > 0, got 0"),
    ({"size": 1, "rate": "1e-3"}, "x.rate must be a finite number, got '1e-3' (YAML reads 1e-3 as a string"),
    ({"size": 1, "rate": 1, "kind": "c"}, "x.kind must be one of a, b, got 'c'"),
    ({"size": 1, "rate": 1, "shape": [1, "a"]}, "x.shape[1] must be an integer, got 'a'"),
    ({"size": 1, "rate": 1, "pair": [1.0]}, "x.pair must be a list of 2 values, got [1.0]"),
    ({"size": 1, "rate": 1, "flag": 1}, "x.flag must be true or false, got 1"),
    ({"size": 1, "rate": 1, "inner": {"k": 9}}, "x.inner.k must be <= 4, got 9"),
    ({"size": 3, "rate": 1}, "x.size must be even, got 3"),
    ({"size": 1, "rate": 1, "sise": 1}, "x.sise is not a known parameter"),
])
def test_the_one_config_mechanism(values, message):
    with pytest.raises(ParamError) as err:
        parse_config(Example, values, "x", "p.yaml")
    assert str(err.value).startswith("p.yaml: ") and message in str(err.value)


def test_config_converts_lists_and_keeps_none():
    cfg = parse_config(Example, {"size": 2, "rate": 1, "shape": [3, 4], "limit": None, "inner": {"k": 1}}, "x")
    assert cfg.shape == (3, 4) and cfg.rate == 1.0 and isinstance(cfg.rate, float) and cfg.limit is None
    assert cfg.inner == Inner(1)
