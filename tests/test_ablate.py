"""Stage ablate (seed 004 Table 4.2): a run's variants from ``ablations.<run>``, trained through the
registry's train function, each in its own checkpoint folder, their metrics in ablation.json."""
from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest
import yaml

from conftest import ROOT
from genvid import params as P
from genvid.errors import ParamError
from genvid.models import registry
from genvid.profiles import apply, load_profile
from stages import ablate
from stages.ablate import main as ablate_main
from stages.ablate import variants

RUN = "smmnist-hvrnn"


def tiny_params() -> dict:
    return apply(yaml.safe_load((ROOT / "params.yaml").read_text()), load_profile("tiny", ROOT / "profiles"))


def two_variants(params: dict) -> dict:
    """The tiny profile's ablation with a second variant that overrides models and train at once."""
    params = copy.deepcopy(params)
    params["ablations"][RUN]["variants"] = {
        "naive": {"models": {"beta_warmup_steps": 0, "dense": False}},
        "wide": {"models": {"latent_channels": [3, 2, 1]}, "train": {"steps": 2, "lr": 0.5}},
    }
    return params


def test_variants_merge_overrides_over_the_runs_params():
    raw = two_variants(tiny_params())
    run = P.run(raw, RUN, "params.yaml")
    out = variants(raw, run, "params.yaml")
    assert list(out) == ["naive", "wide"]
    naive, wide = out["naive"], out["wide"]
    assert naive.name == f"{RUN}~naive" and wide.name == f"{RUN}~wide"
    assert (naive.benchmark, naive.model) == (run.benchmark, run.model)
    # Exactly the overridden keys change; everything else is the run's.
    expected = dict(run.model_params, beta_warmup_steps=0, dense=False)
    assert naive.model_params == expected and naive.train_params == run.train_params
    assert wide.model_params == dict(run.model_params, latent_channels=[3, 2, 1])
    assert wide.train_params == dict(run.train_params, steps=2, lr=0.5)
    # The run's own params are untouched (a deep copy, not an in-place merge).
    assert run.model_params == P.run(tiny_params(), RUN, "params.yaml").model_params
    assert run.model_params["dense"] is True and run.train_params["steps"] != 2


def test_variants_take_the_runs_overrides_as_their_base():
    raw = two_variants(tiny_params())
    raw["runs"][RUN] = {"benchmark": "smmnist", "model": "hvrnn", "overrides": {"models": {"sigma": 0.3}}}
    run = P.run(raw, RUN, "params.yaml")
    naive = variants(raw, run, "params.yaml")["naive"]
    assert naive.model_params["sigma"] == 0.3 and naive.model_params["dense"] is False


def _error(raw: dict) -> str:
    run = P.run(raw, RUN, "params.yaml")
    with pytest.raises(ParamError) as err:
        variants(raw, run, "params.yaml")
    message = str(err.value)
    assert "\n" not in message and message.startswith("params.yaml: ")
    return message


def test_unknown_key_is_one_line_naming_it():
    raw = tiny_params()
    raw["ablations"][RUN]["seeds"] = [1, 2]
    assert f"ablations.{RUN}.seeds is not a known key" in _error(raw)


def test_score_must_be_training_or_protocol():
    raw = tiny_params()
    raw["ablations"][RUN]["score"] = "fid"
    assert f"ablations.{RUN}.score must be one of training, protocol, got 'fid'" in _error(raw)


@pytest.mark.parametrize("key, value", [("model", "vrnn"), ("benchmark", "driving")])
def test_model_or_benchmark_other_than_the_runs_is_refused(key, value):
    raw = tiny_params()
    raw["ablations"][RUN][key] = value
    message = _error(raw)
    assert f"ablations.{RUN}.{key} must be the run's {key}" in message and repr(value) in message


def test_missing_model_or_benchmark_is_refused():
    raw = tiny_params()
    del raw["ablations"][RUN]["model"]
    assert f"ablations.{RUN}.model must be the run's model 'hvrnn', got None" in _error(raw)


def test_override_key_absent_from_the_section_is_named():
    raw = tiny_params()
    raw["ablations"][RUN]["variants"]["naive"] = {"models": {"dense_layers": 3}}
    assert f"ablations.{RUN}.variants.naive.models.dense_layers does not exist" in _error(raw)
    raw["ablations"][RUN]["variants"]["naive"] = {"train": {"stepz": 3}}
    assert f"ablations.{RUN}.variants.naive.train.stepz does not exist" in _error(raw)


@pytest.mark.parametrize("overrides", [{}, None, {"model": {"dense": False}}, {"models": {}, "seed": 1}])
def test_a_variant_must_hold_models_or_train_overrides(overrides):
    raw = tiny_params()
    raw["ablations"][RUN]["variants"]["naive"] = overrides
    assert f"ablations.{RUN}.variants.naive must hold 'models' and/or 'train'" in _error(raw)


def test_a_run_without_ablations_is_refused():
    raw = tiny_params()
    run = P.run(raw, "smmnist-vq", "params.yaml")
    with pytest.raises(ParamError, match="section 'ablations.smmnist-vq' is missing"):
        variants(raw, run, "params.yaml")


# ----------------------------------------------------------------------------- the stage

class FakeTrain:
    """A registry train function that records its contexts, writes a curves file and checkpoint
    marker in the context's folders, and returns metrics computed from the variant's params."""

    def __init__(self):
        self.contexts = []

    def __call__(self, ctx, fit) -> dict:
        self.contexts.append(ctx)
        marker = ctx.workdir / "model" / "started"
        resumed = marker.exists()
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(ctx.run.name)
        curves = ctx.report_dir / "curves" / "model"
        curves.mkdir(parents=True, exist_ok=True)
        (curves / "train.tsv").write_text(f"step\tloss\n1\t{ctx.run.train_params['steps']}\n")
        p = ctx.run.model_params
        return {"parameters": sum(p["latent_channels"]), "dense": p["dense"],
                "warmup": p["beta_warmup_steps"], "steps": ctx.run.train_params["steps"], "resumed": resumed}


@pytest.fixture
def fake_stage(tmp_path, monkeypatch):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(two_variants(tiny_params())))
    fake = FakeTrain()
    spec = registry.get("hvrnn")
    monkeypatch.setitem(registry.MODELS, "hvrnn", replace(spec, train=fake))
    monkeypatch.setattr(ablate, "check_data", lambda ctx: None)  # the fake family reads no frames
    argv = ["--params", str(params), "--run", RUN, "--root", str(tmp_path)]
    return tmp_path, argv, fake


def test_stage_writes_each_variants_metrics_and_curves(fake_stage, capsys):
    root, argv, fake = fake_stage
    ablate_main(argv)
    out = root / "reports/smmnist/ablations" / RUN
    doc = json.loads((out / "ablation.json").read_text())
    assert (doc["run"], doc["benchmark"], doc["model"]) == (RUN, "smmnist", "hvrnn")
    assert list(doc["variants"]) == ["naive", "wide"]
    naive, wide = doc["variants"]["naive"], doc["variants"]["wide"]
    assert naive["metrics"] == {"parameters": 6, "dense": False, "warmup": 0, "steps": 4, "resumed": False}
    assert wide["metrics"] == {"parameters": 6, "dense": True, "warmup": 4, "steps": 2, "resumed": False}
    assert naive["models"]["dense"] is False and wide["train"]["lr"] == 0.5
    # Each variant's curves under reports/<benchmark>/ablations/<run>/<variant>/.
    for name, steps in (("naive", 4), ("wide", 2)):
        assert (out / name / "curves/model/train.tsv").read_text() == f"step\tloss\n1\t{steps}\n"
    # Nothing is written over the run's own model, reports or checkpoints.
    assert not (root / "models" / RUN).exists() and not (root / "reports/smmnist/runs" / RUN).exists()
    assert not (root / "checkpoints" / RUN).exists()
    # One checkpoint folder and one model folder per variant, beside the run's, never shared.
    workdirs = [ctx.workdir for ctx in fake.contexts]
    assert [w.name for w in workdirs] == [f"{RUN}~naive", f"{RUN}~wide"]
    assert all(w.parent == root / "checkpoints" for w in workdirs)
    assert len({ctx.model_dir for ctx in fake.contexts}) == 2
    assert all(ctx.model_dir.is_relative_to(ctx.workdir) for ctx in fake.contexts)
    assert [ctx.report_dir for ctx in fake.contexts] == [out / "naive", out / "wide"]
    assert all(ctx.run.benchmark == "smmnist" and ctx.device == "cpu" for ctx in fake.contexts)
    assert "ablate smmnist-hvrnn~naive: 6 parameters" in capsys.readouterr().out


def test_rerun_finds_each_variants_own_checkpoints(fake_stage):
    root, argv, fake = fake_stage
    ablate_main(argv)
    ablate_main(argv)
    doc = json.loads((root / "reports/smmnist/ablations" / RUN / "ablation.json").read_text())
    assert [v["metrics"]["resumed"] for v in doc["variants"].values()] == [True, True]
    assert [c.workdir for c in fake.contexts[:2]] == [c.workdir for c in fake.contexts[2:]]
    for ctx in fake.contexts[2:]:  # each variant's marker holds its own name: no folder was shared
        assert (ctx.workdir / "model/started").read_text() == ctx.run.name


def test_stage_bad_params_exit_with_one_line(fake_stage, capsys):
    root, argv, _ = fake_stage
    raw = two_variants(tiny_params())
    raw["ablations"][RUN]["variants"]["wide"]["models"]["widths"] = [1]
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit) as exit_info:
        ablate_main(argv)
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"ablations.{RUN}.variants.wide.models.widths does not exist" in err
    assert not (root / "reports/smmnist/ablations" / RUN / "ablation.json").exists()


# ----------------------------------------------------------------------------- end to end

def test_tiny_smmnist_ablation_end_to_end(tmp_path):
    """The real hvrnn on the tiny profile's SM-MNIST: the variant's test ELBO and KL per latent
    channel in ablation.json, its curves beside it, its checkpoints in its own folder; a rerun
    resumes from them and writes the same bytes."""
    from stages.collect import main as collect_main
    from stages.normalize import main as normalize_main
    from stages.split import main as split_main

    raw = tiny_params()
    raw["train"]["hvrnn"].update(steps=2, val_every=2, val_batches=1, ckpt_every=2, log_every=1)
    raw["likelihood"].update(clips=1, batch_size=1)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    bench = ["--params", str(params), "--benchmark", "smmnist", "--root", str(tmp_path)]
    for main in (collect_main, split_main, normalize_main):
        main(bench)
    argv = ["--params", str(params), "--run", RUN, "--root", str(tmp_path)]
    ablate_main(argv)

    out = tmp_path / "reports/smmnist/ablations" / RUN
    doc = json.loads((out / "ablation.json").read_text())
    assert list(doc["variants"]) == ["naive"]  # the tiny profile keeps one variant
    naive = doc["variants"]["naive"]
    assert naive["models"]["dense"] is False and naive["models"]["beta_warmup_steps"] == 0
    m = naive["metrics"]
    elbo = m["test_elbo"]
    assert elbo["clips"] == 1 and elbo["neg_elbo"] == pytest.approx(elbo["recon"] + elbo["kl"], rel=1e-6)
    assert elbo["kl"] == pytest.approx(sum(elbo["kl_levels"].values()), rel=1e-5)
    channels = naive["models"]["latent_channels"]
    assert [len(level) for level in m["kl_per_channel"]] == channels
    assert m["latent_resolutions"] == naive["models"]["latent_resolutions"]
    assert all(0 <= a <= c for a, c in zip(m["active_channels"], channels))
    train_rows = (out / "naive/curves/model/train.tsv").read_text().splitlines()
    assert len(train_rows) == 1 + 2  # header + one row per step (log_every 1)
    assert (out / "naive/curves/model/val.tsv").is_file()
    ckpt = tmp_path / "checkpoints" / f"{RUN}~naive"
    assert (ckpt / "model").is_dir() and not (tmp_path / "checkpoints" / RUN).exists()

    first = (out / "ablation.json").read_bytes()
    (out / "ablation.json").unlink()
    ablate_main(argv)  # every step is in the checkpoint: resumes at the end, same metrics
    assert (out / "ablation.json").read_bytes() == first
