"""Profiles: every profile merges into params.yaml and validates; the thesis profile builds seed 000's
models with the thesis's setup and none of genvid's variants."""
import functools
from types import SimpleNamespace

import pytest
import torch

from genvid import params as P
from genvid.errors import GenvidError
from genvid.models.vq.pixelsnail3d import count_parameters
from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig
from genvid.models.vq.priors import prior_config
from genvid.profiles import apply, apply_profile, flatten, load_profile, merge
from genvid.train import TrainConfig


def profile(repo_root, name):
    return apply(P.read_params(repo_root / "params.yaml"), load_profile(name, repo_root / "profiles"))


@pytest.fixture(scope="module")
def thesis(repo_root):
    return profile(repo_root, "thesis")


@pytest.mark.parametrize("name", ["tiny", "thesis", "paper", "gpu"])
def test_every_profile_validates(repo_root, name):
    params = profile(repo_root, name)
    for bench in P.benchmark_names(params):
        P.benchmark(params, bench)
    for run in P.run_names(params):
        P.run(params, run)
    for section in P.TOP_LEVEL:
        if section in params:
            P.top_level(params, section)
    for component, values in params["train"]["vq"].items():
        TrainConfig.from_dict(values, f"train.vq.{component}")


def test_thesis_is_the_thesis_setup(thesis):
    collect = thesis["benchmarks"]["driving"]["collect"]
    assert collect["resolution"] == 256 and collect["episodes"] * collect["frames_per_episode"] == 208_000
    vq = VQVAEConfig.from_dict(thesis["models"]["vq"]["vqvae"])
    # genvid's variants are off: the thesis encoder, independent levels, no restarts, no dropout
    assert (vq.temporal_padding, vq.condition_bottom_on_top, vq.dead_code_restart, vq.bottom_dropout) == (
        "same", False, False, 0.0)
    assert tuple(vq.res_kernel) == (1, 3, 3)  # the author's code
    assert thesis["models"]["vq"]["finetune"]["enabled"] is False  # §6.5: end-to-end training is further work
    train = {k: TrainConfig.from_dict(v, k) for k, v in thesis["train"]["vq"].items()}
    assert all(c.warmup_steps == 0 and c.schedule == "constant" for c in train.values())
    assert (train["vqvae"].lr, train["vqvae"].batch_size) == (0.0028, 8)  # §5.2.3
    clips_per_epoch = 166_500
    assert train["vqvae"].steps * 8 == 8 * clips_per_epoch  # 8 epochs
    assert train["prior_top"].steps * 8 == 8 * clips_per_epoch  # §5.3.1: 8 epochs
    assert train["prior_bottom"].steps == 5 * clips_per_epoch // 8  # §5.3.2: 5 epochs at batch 8
    assert train["prior_bottom"].grad_clip == 0.5 and train["prior_top"].grad_clip is None


def test_thesis_models_have_seed_000_sizes(thesis):
    cfg = VQVAEConfig.from_dict(thesis["models"]["vq"]["vqvae"])
    assert (cfg.codebook_size, cfg.code_dim, cfg.res_blocks, cfg.res_channels, cfg.channels) == (512, 64, 5, 64, 128)
    with torch.device("meta"):
        model = VQVAE3D(cfg)
    top, bottom = model.code_shapes(16, 256, 256)
    assert (top, bottom) == ((4, 32, 32), (8, 64, 64))
    assert round(model.bits_reduction(16, 256, 256) * 100, 1) == 98.7
    info = {"shapes": {"top": top, "bottom": bottom}, "codebook_size": 512}
    priors = thesis["models"]["vq"]
    top_params = count_parameters(prior_config(priors["prior_top"], "top", info, "prior_top"))
    bottom_params = count_parameters(prior_config(priors["prior_bottom"], "bottom", info, "prior_bottom"))
    assert 45e6 <= top_params <= 55e6      # seed 000 Table 5.4: ~50M
    assert 90e6 <= bottom_params <= 112e6  # seed 000 §5.3.2: 102M


def test_apply_profile_rewrites_params_and_rejects_typos(tmp_path, repo_root):
    params = tmp_path / "params.yaml"
    params.write_text((repo_root / "params.yaml").read_text())
    apply_profile("thesis", params, repo_root / "profiles")
    assert P.read_params(params)["models"]["vq"]["vqvae"]["codebook_size"] == 512
    with pytest.raises(GenvidError, match="profile key models.vq.vqvae.codebook_sise does not exist"):
        merge(P.read_params(params), {"models": {"vq": {"vqvae": {"codebook_sise": 3}}}})
    with pytest.raises(GenvidError, match="no such profile"):
        load_profile("nope", repo_root / "profiles")
    assert flatten({"a": {"b": 1}, "c": 2}) == {"a.b": 1, "c": 2}


def test_paper_profile_builds_the_literature_sizes(repo_root):
    """SM-MNIST at the literature's scale; RFN L 4, K 10 against seed 001 Table 9.2's ~36M."""
    from genvid.config import parse_config
    from genvid.models import registry  # noqa: F401 (registers the model kinds)
    from genvid.models.recurrent.rfn import RFN, RFNConfig

    paper = profile(repo_root, "paper")
    bench = P.benchmark(paper, "smmnist")
    assert (bench.collect.test_sequences, bench.protocol.num_samples) == (5000, 100)
    assert (bench.protocol.context_frames, bench.protocol.horizon) == (5, 20)
    data = {"channels": 1, "resolution": 64}
    with torch.device("meta"):
        rfn = RFN(parse_config(RFNConfig, {**paper["models"]["rfn"], **data}, "models.rfn"))
    count = sum(p.numel() for p in rfn.parameters())
    assert 30e6 <= count <= 42e6, count
    assert paper["train"]["rfn"]["batch_size"] == 35 and paper["train"]["rfn"]["steps"] == 300_000


def test_a_profile_removes_the_keys_it_lists_and_no_others(repo_root):
    params = profile(repo_root, "paper")  # a base with an ablation (the default profile has none since issue 48)
    smaller = apply(params, {"remove": ["runs.driving-svg_lp", "ablations.smmnist-hvrnn.variants.naive"]})
    assert "driving-svg_lp" not in smaller["runs"] and "driving-svg_lp" in params["runs"]
    assert set(smaller["runs"]) == set(params["runs"]) - {"driving-svg_lp"}
    assert "naive" not in smaller["ablations"]["smmnist-hvrnn"]["variants"]
    with pytest.raises(GenvidError, match="remove: runs.driving-nope does not exist"):
        apply(params, {"remove": ["runs.driving-nope"]})


def test_a_run_s_budget_never_silently_overrides_a_profile_s_training(repo_root):
    """params.yaml's runs.<r>.overrides.train (the default profile's budget for one run) merges over
    train.<model> after any profile: a profile setting the same key must drop or restate it, or fail."""
    params = P.read_params(repo_root / "params.yaml")
    budget = params["runs"]["driving-svg_lp_action"]["overrides"]["train"]
    assert budget["steps"] != 9999  # the test's premise: the run carries its own steps
    family = {"train": {"svg_lp_action": {"steps": 9999}}}
    with pytest.raises(GenvidError, match=r"sets train\.svg_lp_action\.steps, but params\.yaml's "
                                          r"runs\.driving-svg_lp_action\.overrides\.train\.steps"):
        apply(params, family)
    dropped = apply(params, {**family, "remove": ["runs.driving-svg_lp_action.overrides"]})
    assert P.run(dropped, "driving-svg_lp_action").train_params["steps"] == 9999
    restated = apply(params, {**family, "runs": {"driving-svg_lp_action": {"overrides": {"train": {"steps": 7}}}}})
    assert P.run(restated, "driving-svg_lp_action").train_params["steps"] == 7
    untouched = apply(params, {"train": {"svg_lp_action": {"lr": 0.01}}})  # a key the run does not set
    assert P.run(untouched, "driving-svg_lp_action").train_params["steps"] == budget["steps"]


def test_dvc_set_refuses_a_profile_a_run_s_budget_would_override(repo_root, tmp_path, capsys, monkeypatch):
    from genvid.profiles import main

    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "shadowed.yaml").write_text("train:\n  svg_lp_action:\n    steps: 9999\n")
    monkeypatch.chdir(tmp_path)  # profiles/ is read from the working directory
    with pytest.raises(SystemExit) as stop:
        main(["shadowed", "--dvc-set", "--params", str(repo_root / "params.yaml")])
    assert stop.value.code != 0
    assert "runs.driving-svg_lp_action.overrides.train.steps" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["tiny", "gpu", "paper"])
def test_the_steered_svg_lp_trains_as_the_plain_one_in_every_other_profile(repo_root, name):
    """The two SVG-LP rows differ only by the actions wherever a profile sets SVG-LP's training (the
    default profile alone gives the steered run its learning-curve budget)."""
    params = profile(repo_root, name)
    steered = P.run(params, "driving-svg_lp_action").train_params
    assert steered == params["train"]["svg_lp"] and steered["steps"] == params["train"]["svg_lp_action"]["steps"]


def test_a_profile_adds_named_entries_only_where_entries_are_named(repo_root):
    default = P.read_params(repo_root / "params.yaml")
    assert default["noisy_vq"] == {} and default["ablations"] == {}  # the paper's and the tiny profile's since issue 48
    params = profile(repo_root, "tiny")  # they add whole entries to the default's empty sections
    assert params["noisy_vq"]["smmnist-vq"]["benchmark"] == "smmnist" and "naive" in params["ablations"][
        "smmnist-hvrnn"]["variants"]
    study = {"benchmark": "driving", "model": "vq", "sigmas": [0.0], "seeds": [0], "fit_clips": 8,
             "held_out_clips": 4}
    bigger = apply(params, {"noisy_vq": {"driving-vq": study}})
    assert bigger["noisy_vq"]["driving-vq"] == study and "driving-vq" not in params["noisy_vq"]
    with pytest.raises(GenvidError, match="profile key noisy_vq.smmnist-vq.sigmaz does not exist"):
        apply(params, {"noisy_vq": {"smmnist-vq": {"sigmaz": [0.0]}}})  # below an entry: a typo
    with pytest.raises(GenvidError, match="profile key models.vqx does not exist"):
        apply(params, {"models": {"vqx": {"vqvae": {}}}})
    variant = {"models": {"dense": False}}  # an ablation's variants take new entries too
    assert apply(params, {"ablations": {"smmnist-hvrnn": {"variants": {"extra": variant}}}})[
        "ablations"]["smmnist-hvrnn"]["variants"]["extra"] == variant
    with pytest.raises(GenvidError, match="profile key ablations.smmnist-hvrnn.scor does not exist"):
        apply(params, {"ablations": {"smmnist-hvrnn": {"scor": "protocol"}}})


def test_every_profile_s_noisy_vq_studies_parse(repo_root, tmp_path):
    from stages.noisy_vq import study_config

    for profile in [None, *sorted(p.stem for p in (repo_root / "profiles").glob("*.yaml"))]:
        params = P.read_params(repo_root / "params.yaml")
        if profile is not None:
            params = apply(params, P.read_params(repo_root / "profiles" / f"{profile}.yaml"))
        for run in params.get("noisy_vq") or {}:
            cfg, studied = study_config(params, P.run(params, run), f"{profile}.yaml")
            assert studied.model_params["vqvae"] and cfg.sigmas[0] == 0.0, (profile, run)
            TrainConfig.from_dict(studied.train_params["vqvae"], f"{profile}: train.vq.vqvae")


def _build(run: P.Run, bench: P.BenchmarkConfig) -> int:
    """The run's networks on the meta device (no memory): what its train stage builds first. Returns
    the parameter count; a config its model rejects raises the model's own ParamError."""
    from genvid.models import registry
    from genvid.models.family import train_sections
    from genvid.models.vq.family import window_length

    spec = registry.get(run.model)
    for component, (where, values) in train_sections(spec, run).items():
        if values is not None:
            TrainConfig.from_dict(values, where)
    from genvid.data.benchmark import GENERATED_CHANNELS

    generated = bench.collect.source in GENERATED_CHANNELS  # SM-MNIST, Dynamics-like: 64x64, grey or RGB
    channels, resolution = (GENERATED_CHANNELS[bench.collect.source], 64) if generated else (3, bench.collect.resolution)
    if spec.network is not None:
        with torch.device("meta"):
            net = spec.network(run.model_params, channels, resolution, bench.protocol.context_frames)
        return sum(p.numel() for p in net.parameters())
    if run.model in ("vq", "vq_action", "gan_prior"):
        cfg = VQVAEConfig.from_dict({**run.model_params["vqvae"], "in_channels": channels})
        with torch.device("meta"):
            vqvae = VQVAE3D(cfg)
        window = window_length(SimpleNamespace(run=run, params_path="params.yaml"))
        top, bottom = vqvae.code_shapes(window, resolution, resolution)
        info = {"shapes": {"top": top, "bottom": bottom}, "codebook_size": cfg.codebook_size,
                "attrs": {"clip_len": window}}
        actions = ([0.0] * 3, [1.0] * 3) if spec.conditioning else None  # the training split's, at train
        count = sum(p.numel() for p in vqvae.parameters())
        if run.model == "gan_prior":
            from genvid.models.gan_prior.family import gan_config
            from genvid.models.gan_prior.model import GANPrior

            with torch.device("meta"):
                return count + sum(p.numel() for lv in ("top", "bottom") for p in GANPrior(
                    gan_config(run.model_params[f"gan_{lv}"], lv, info, f"gan_{lv}")).parameters())
        return count + sum(
            count_parameters(prior_config(run.model_params[f"prior_{lv}"], lv, info, f"prior_{lv}", actions))
            for lv in ("top", "bottom"))
    if run.model == "cvg":
        from genvid.config import parse_config
        from genvid.models.cvg.model import CVGConfig, CVGLevel

        cfg = parse_config(CVGConfig, {**run.model_params, "channels": channels, "resolution": resolution,
                                       "context_frames": bench.protocol.context_frames}, f"models.{run.model}")
        return _cvg_parameters(cfg)
    assert run.model in ("copy_last", "context_median") and not run.model_params, run.name  # learn nothing
    return 0


@pytest.mark.parametrize("name", [None, "tiny", "paper", "thesis", "gpu"])
def test_every_run_and_ablation_of_every_profile_builds_its_model(repo_root, name):
    """Issue 20: `make repro PROFILE=paper` died at hvrnn_1level, whose overrides carried the default
    profile's sizes; merging is not enough, every run and every ablation variant must build."""
    from stages.ablate import variants

    params = P.read_params(repo_root / "params.yaml") if name is None else profile(repo_root, name)
    built = {}
    for run_name in P.run_names(params):
        run = P.run(params, run_name)
        built[run_name] = _build(run, P.benchmark(params, run.benchmark))
        if run_name in params.get("ablations", {}):
            for variant, vrun in variants(params, run, "params.yaml").items():
                built[vrun.name] = _build(vrun, P.benchmark(params, run.benchmark))
    references = {r for r in built if r.endswith(("copy_last", "context_median"))}  # they learn nothing
    assert built and all(count > 0 for r, count in built.items() if r not in references), built
    assert all(built[r] == 0 for r in references), built


@functools.lru_cache(maxsize=None)
def _cvg_parameters(cfg) -> int:
    """Built on the CPU, once per config: spectral norm's power iterations on the meta device take 5x longer."""
    from genvid.models.cvg.model import CVGLevel

    return sum(p.numel() for lv in range(1, cfg.levels + 1) for p in CVGLevel(cfg, lv).parameters())
