import pytest
import yaml

from genvid import params as P
from genvid.errors import ParamError


def write(tmp_path, data):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_default_params_validate(repo_root):
    loaded = P.load(list(P.SCHEMA), repo_root / "params.yaml")
    assert loaded["collect"]["resolution"] % 16 == 0


@pytest.mark.parametrize("key,value,message", [
    ("resolution", 50, "params.yaml: collect.resolution must be a positive multiple of 16, got 50"),
    ("resolution", -16, "collect.resolution must be a positive multiple of 16, got -16"),
    ("source", "carla9", "collect.source must be one of procedural, carracing, got 'carla9'"),
    ("episodes", 0, "collect.episodes must be >= 1, got 0"),
    ("episodes", 2.5, "collect.episodes must be an integer, got 2.5"),
    ("interval", 0, "collect.interval must be > 0.0, got 0"),
    ("seed", True, "collect.seed must be an integer, got True"),
])
def test_collect_errors_name_the_key(tmp_path, repo_root, key, value, message):
    data = P.read_params(repo_root / "params.yaml")
    data["collect"][key] = value
    with pytest.raises(ParamError) as err:
        P.load(["collect"], write(tmp_path, data))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_split_fractions_must_sum_to_one(tmp_path, repo_root):
    data = P.read_params(repo_root / "params.yaml")
    data["split"] = {"train": 0.8, "val": 0.1, "test": 0.2}
    with pytest.raises(ParamError, match=r"split.train \+ split.val \+ split.test must sum to 1, got 1.1"):
        P.load(["split"], write(tmp_path, data))


def test_unknown_and_missing_keys(tmp_path, repo_root):
    data = P.read_params(repo_root / "params.yaml")
    data["clips"]["clip_length"] = 16
    with pytest.raises(ParamError, match="clips.clip_length is not a known parameter"):
        P.load(["clips"], write(tmp_path, data))
    data = P.read_params(repo_root / "params.yaml")
    del data["clips"]["eval_stride"]
    with pytest.raises(ParamError, match="clips.eval_stride is missing"):
        P.load(["clips"], write(tmp_path, data))
    with pytest.raises(ParamError, match="section 'normalize' is missing"):
        P.load(["normalize"], write(tmp_path, {"collect": {}}))
