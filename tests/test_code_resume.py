"""A checkpoint's identity includes the code that trains it (genvid.codegraph.code_digest, RunContext.code): after
a code change, DVC reruns a training stage, and it must start afresh rather than resume or load the old code's
checkpoint (silently wrong where the shapes still fit, "checkpoint does not fit the model" where they do not)."""
from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from conftest import ROOT
from genvid.codegraph import CODE_DIR, STAGE_CODE_DIR, code_digest, manifest
from genvid.io import dumps_json
from genvid.models.registry import get
from genvid.train import TrainConfig, fit
from genvid.train.run import checkpoint_identity


def _manifests(tmp_path, stage="train", model="svg_lp"):
    for folder, name in ((STAGE_CODE_DIR, stage), (CODE_DIR, model)):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / folder / f"{name}.json", tmp_path / folder / f"{name}.json")
    return tmp_path / STAGE_CODE_DIR / f"{stage}.json", tmp_path / CODE_DIR / f"{model}.json"


def test_the_code_digest_is_the_stage_and_model_manifests_and_changes_with_either(tmp_path):
    spec = get("svg_lp")
    stage_file, model_file = _manifests(tmp_path)
    expected = hashlib.sha256(b"".join(p.name.encode() + b"\0" + p.read_bytes() + b"\0"
                                       for p in (stage_file, model_file))).hexdigest()
    assert code_digest("train", spec, tmp_path) == expected
    for path in (stage_file, model_file):
        before = path.read_bytes()
        path.write_bytes(before.replace(b'"files"', b'"files" ', 1))  # one file's hash list edited
        assert code_digest("train", spec, tmp_path) != expected
        path.write_bytes(before)
    assert code_digest("train", spec, tmp_path) == expected


def test_a_manifest_stage_code_has_not_written_is_made_from_the_code_in_the_same_bytes():
    """A model registered after stage code ran (a test's, a user's new family) has no deps file: the digest is
    made from its code, and for a model that has one it is the same digest, byte for byte."""
    spec = get("svg_lp")
    with_files = code_digest("train", spec)
    assert (ROOT / CODE_DIR / "svg_lp.json").read_text() == dumps_json(manifest(spec))  # deps/ is up to date
    renamed = replace(spec, name="svg_lp_unwritten")  # no deps/models/svg_lp_unwritten.json
    assert not (ROOT / CODE_DIR / "svg_lp_unwritten.json").exists()
    made = code_digest("train", renamed)
    assert made != with_files  # the file's name is part of it
    expected = hashlib.sha256(b"".join(name.encode() + b"\0" + text + b"\0" for name, text in (
        ("train.json", (ROOT / STAGE_CODE_DIR / "train.json").read_bytes()),
        ("svg_lp_unwritten.json", dumps_json(manifest(renamed)).encode())))).hexdigest()
    assert made == expected


def test_a_checkpoint_identity_is_the_fingerprint_alone_without_code_and_differs_with_other_code():
    assert checkpoint_identity("abc", "") == "abc"  # outside the training stages: config + data, as before
    one, other = checkpoint_identity("abc", "code-1"), checkpoint_identity("abc", "code-2")
    assert len({one, other, "abc", checkpoint_identity("abd", "code-1")}) == 4
    assert one == hashlib.sha256(b"abc:code-1").hexdigest()


@pytest.mark.parametrize("stage,section", [("train", "runs"), ("ablate", "ablations"), ("noisy_vq", "noisy_vq")])
def test_every_training_stage_trains_under_its_own_code_digest(stage, section, monkeypatch, tmp_path):
    """The stage's RunContext reaches its trainings with the digest of the stage's code and the run's model's
    (on the tiny profile, which keeps an ablation and a noisy-VQ study)."""
    import importlib

    import yaml

    from genvid import params as P
    from genvid.profiles import apply, load_profile

    raw = apply(P.read_params(ROOT / "params.yaml"), load_profile("tiny", ROOT / "profiles"))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run = next(iter(raw[section]))
    mod = importlib.import_module(f"stages.{stage}")
    seen = {}

    class Reached(Exception):
        pass

    def check_data(ctx):  # the first thing each stage does with its context after building it
        seen["code"] = ctx.code
        raise Reached

    monkeypatch.setattr(mod, "check_data", check_data)
    with pytest.raises(Reached):
        mod.main(["--run", run, "--params", str(tmp_path / "params.yaml"), "--root", str(tmp_path)])
    model = raw["runs"][run]["model"]
    assert seen["code"] == code_digest(stage, get(model)) and len(seen["code"]) == 64
    assert seen["code"] != code_digest("sample", get(model))  # each stage's own code


def test_a_checkpoint_of_other_code_is_not_resumed(tmp_path, capsys):
    """The loop's own rule (another identity: start afresh, saying so) applied to two code digests: the same
    code resumes the checkpoint it left, other code ignores it and trains from step 0 to the same weights."""
    data = TensorDataset(torch.randn(16, 3, generator=torch.Generator().manual_seed(0)))
    cfg = TrainConfig.from_dict({"steps": 4, "batch_size": 4, "lr": 0.1, "ckpt_every": 2}, "train.tiny")

    def objective(net: nn.Module, batch, step: int):
        return net(batch[0]).pow(2).mean(), {}

    def train(code: str):
        torch.manual_seed(0)
        net = nn.Linear(3, 2)
        result = fit(net, objective, data, None, cfg, tmp_path, checkpoint_identity("config+data", code), desc="tiny")
        return result.resumed_from, {k: v.clone() for k, v in net.state_dict().items()}

    first, weights = train("old code")
    assert first == 0
    again, same = train("old code")
    assert again == 4 and all(torch.equal(same[k], weights[k]) for k in weights)  # resumed its finished checkpoint
    capsys.readouterr()
    fresh, retrained = train("new code")
    err = capsys.readouterr().err
    assert fresh == 0 and "ignoring" in err and "starting fresh" in err
    assert all(torch.equal(retrained[k], weights[k]) for k in weights)  # the same config + data: the same training
