"""Contract tests over the model registry (docs/design.md §3): every registered model, untrained, built from
the tiny profile's sizes.

- leak: the futures are byte-identical when every frame after the context is replaced by noise
  (through ``predict`` and, where a model has it, ``predict_with_diagnostics``, which sees the
  whole clip for its labelled extra series);
- determinism: the same generator state gives the same bytes, another state other bytes;
- the output contract (uint8 [B, S, horizon, H, W, C]) and save/load (two loads predict alike);
- conditioning: a model that declares per-frame inputs gets the context's and the horizon's actions
  (future actions are inputs; future frames still never are), and every other model refuses them.

Besides the registry, the tests run a conditioned model only they register (tests/_steer_model.py).
"""
import dataclasses
import json

import numpy as np
import pytest
import torch

import _steer_model as steer
from conftest import ROOT, TINY_AT_32
from genvid import params as P
from genvid.errors import GenvidError
from genvid.models import registry
from genvid.context import RunContext
from genvid.profiles import apply, load_profile, merge

BENCHMARK = "driving"
WITHOUT_WEIGHTS = {"copy_last", "context_median"}  # the deterministic predictors: every sample the same
B, S, HEIGHT = 2, 2, 32
# A model option a params.yaml run turns on over its family's defaults runs the contract too, as the run builds it
VARIANTS = {"feature_flow+frame_difference": ("feature_flow", {"frame_difference": True}),  # dynamics-feature_flow
            # issue 48's per-pixel warp: no run turns it on, but its own learning check trains it
            "feature_flow+pixel_warp": ("feature_flow", {"frame_difference": True, "pixel_warp": True}),
            # issue 48's layered context warp, its matte costing its area, predicted with the hard pick and
            # matte: dynamics-feature_flow
            "feature_flow+context_warp": ("feature_flow", {"frame_difference": True, "context_warp": True,
                                                           "warp_motion": "layered", "warp_matte_weight": 0.002,
                                                           "sampling": {"mask": "hard", "matte": "hard"}})}
# run overrides of models the contract does not need a variant for, and why
NOT_VARIANTS = {"in_channels": "grey frames: the same network at 1 channel",
                "noisy_sigma": "the tokenizer's index noise while training: tests/test_noisy_vq.py and test_gan_prior.py"}


@pytest.fixture(scope="module")
def tiny():
    return apply(P.read_params(ROOT / "params.yaml"), load_profile("tiny", ROOT / "profiles"))




def context_for(tmp_path, tiny, name: str, options: dict | None = None) -> RunContext:
    bench = P.benchmark(tiny, BENCHMARK)
    run = P.Run(f"{BENCHMARK}-{name}", BENCHMARK, name,
                {**tiny["models"][name], **TINY_AT_32.get(name, {}), **(options or {})}, tiny["train"][name])
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"mean": [0.4, 0.45, 0.5], "std": [0.2, 0.21, 0.22], "frames": 10}))
    return RunContext(run, bench, tmp_path / "frames.h5", tmp_path / "split.json", stats,
                      tmp_path / "models" / name, tmp_path / "reports", tmp_path / "work")


@pytest.fixture(params=sorted(registry.MODELS) + [steer.NAME] + sorted(VARIANTS))
def predictor(request, tmp_path, tiny, monkeypatch):
    name, options = VARIANTS.get(request.param, (request.param, {}))
    if name == steer.NAME:
        monkeypatch.setitem(registry.MODELS, name, steer.spec())
        tiny = {**tiny, "models": {**tiny["models"], name: {}}, "train": {**tiny["train"], name: {}}}
    ctx = context_for(tmp_path, tiny, name, options)
    spec = registry.get(name)
    torch.manual_seed(0)
    spec.init(ctx, HEIGHT, HEIGHT, 3)
    return name, ctx, spec


def clips(ctx: RunContext, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = ctx.bench.protocol.clip_len
    return torch.randint(0, 256, (B, t, HEIGHT, HEIGHT, 3), generator=g, dtype=torch.uint8)


def actions(spec, ctx: RunContext, seed: int = 3) -> torch.Tensor | None:
    """Per-frame actions [B, Tc + horizon, 3] for a conditioned model, else None."""
    if spec.conditioning is None:
        return None
    return torch.rand(B, ctx.bench.protocol.clip_len, 3, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def scrambled(real: torch.Tensor, context: int) -> torch.Tensor:
    out = real.clone()
    out[:, context:] = torch.randint(0, 256, out[:, context:].shape, generator=torch.Generator().manual_seed(9),
                                     dtype=torch.uint8)
    return out


def draw(pred, real: torch.Tensor, context: int, horizon: int, seed: int, whole_clip: bool,
         cond: torch.Tensor | None = None):
    g, given = torch.Generator().manual_seed(seed), ({} if cond is None else {"cond": cond.clone()})
    if whole_clip:
        futures, extras = pred.predict_with_diagnostics(real, context, horizon, S, g, **given)
        return futures, extras
    return pred.predict(real[:, :context].clone(), horizon, S, g, **given), {}


def test_futures_never_see_the_future(predictor):
    name, ctx, spec = predictor
    proto = ctx.bench.protocol
    pred = spec.predictor(ctx)
    real, cond = clips(ctx), actions(spec, ctx)
    noisy = scrambled(real, proto.context_frames)  # the same actions, other future frames
    a, _ = draw(pred, real, proto.context_frames, proto.horizon, 1, whole_clip=False, cond=cond)
    b, _ = draw(pred, noisy, proto.context_frames, proto.horizon, 1, whole_clip=False, cond=cond)
    assert torch.equal(a, b), name
    if hasattr(pred, "predict_with_diagnostics"):
        c, extras = draw(pred, real, proto.context_frames, proto.horizon, 1, whole_clip=True, cond=cond)
        d, noisy_extras = draw(pred, noisy, proto.context_frames, proto.horizon, 1, whole_clip=True, cond=cond)
        assert torch.equal(c, a) and torch.equal(d, a), f"{name}: the diagnostics path changed the futures"
        # The extras are labelled as seeing the future: they must actually depend on it.
        assert any(not torch.equal(extras[k], noisy_extras[k]) for k in extras)
        for key, extra in spec.extras.items():
            assert extra.sees_future and key in extras


def test_long_horizon_futures_never_see_the_future(predictor):
    """Issue 23 item 2: every model predicts the benchmark's long horizon (the tiny profile's 8 -> 12, past the
    protocol's 8) through the same predict call, accepted by its protocol check, from the context frames only."""
    name, ctx, spec = predictor
    long = ctx.bench.long_horizon
    pred = spec.predictor(ctx)
    check = getattr(pred, "check_protocol", None)
    if check is not None:
        check(long.context_frames, long.horizon, (HEIGHT, HEIGHT, 3))
    g = torch.Generator().manual_seed(4)
    real = torch.randint(0, 256, (B, long.clip_len, HEIGHT, HEIGHT, 3), generator=g, dtype=torch.uint8)
    cond = None if spec.conditioning is None else torch.rand(B, long.clip_len, 3, generator=g) * 2 - 1
    a, _ = draw(pred, real, long.context_frames, long.horizon, 1, whole_clip=False, cond=cond)
    b, _ = draw(pred, scrambled(real, long.context_frames), long.context_frames, long.horizon, 1, whole_clip=False,
                cond=cond)
    assert tuple(a.shape) == (B, S, long.horizon, HEIGHT, HEIGHT, 3) and torch.equal(a, b), name


def test_output_contract_and_determinism(predictor):
    name, ctx, spec = predictor
    proto = ctx.bench.protocol
    pred = spec.predictor(ctx)
    real, cond = clips(ctx), actions(spec, ctx)
    first, _ = draw(pred, real, proto.context_frames, proto.horizon, 1, whole_clip=False, cond=cond)
    again, _ = draw(pred, real, proto.context_frames, proto.horizon, 1, whole_clip=False, cond=cond)
    other, _ = draw(pred, real, proto.context_frames, proto.horizon, 2, whole_clip=False, cond=cond)
    assert first.dtype == torch.uint8 and tuple(first.shape) == (B, S, proto.horizon, HEIGHT, HEIGHT, 3)
    assert torch.equal(first, again)
    if name not in WITHOUT_WEIGHTS and torch.equal(first, other):
        # An untrained decoder can be too flat for the noise to move a uint8 pixel: compare floats.
        context = real[:, :proto.context_frames].movedim(-1, -3).float() / 255
        given = {} if cond is None else {"cond": cond}
        if getattr(getattr(pred.model, "sampling", None), "mask", "soft") == "hard":
            # the hard pick copies wherever the mask favours the copy, which the untrained mask (σ(2)) does at every
            # pixel: the noise drives D²'s frame, which the blend shows
            pred.model.configure_sampling(dataclasses.replace(pred.model.sampling, mask="soft"))
        a, b = (pred.model.generate(context, proto.horizon, S, torch.Generator().manual_seed(seed), **given)
                for seed in (1, 2))
        assert not torch.equal(a, b), f"{name}: the generator does not drive the samples"
    # save/load: a second load of the same files predicts the same bytes
    reloaded, _ = draw(spec.predictor(ctx), real, proto.context_frames, proto.horizon, 1, whole_clip=False,
                       cond=cond)
    assert torch.equal(first, reloaded)


def test_conditioning_is_given_only_where_declared(predictor):
    name, ctx, spec = predictor
    c, h = ctx.bench.protocol.context_frames, ctx.bench.protocol.horizon
    pred, context = spec.predictor(ctx), clips(ctx)[:, :c]
    if spec.conditioning is None:
        with pytest.raises(GenvidError, match="takes no conditioning"):
            pred.predict(context, h, S, torch.Generator(), cond=torch.zeros(B, c + h, 3))
        return
    with pytest.raises(GenvidError, match=r"needs cond \[B, Tc \+ horizon, A\]"):
        pred.predict(context, h, S, torch.Generator())
    with pytest.raises(GenvidError, match=rf"cond must be float \[B, Tc \+ horizon, A\] = \[{B}, {c + h}, A\]"):
        pred.predict(context, h, S, torch.Generator(), cond=torch.zeros(B, c, 3))  # the horizon's actions missing


def test_a_conditioned_model_follows_the_future_actions(tmp_path, tiny, monkeypatch):
    """Future actions are inputs: the steering model's futures move with them, and only with the
    actions of the frames before each predicted one (the last action leads past the horizon)."""
    monkeypatch.setitem(registry.MODELS, steer.NAME, steer.spec())
    tiny = {**tiny, "models": {**tiny["models"], steer.NAME: {"noise": 0.0}}, "train": {**tiny["train"], steer.NAME: {}}}
    ctx = context_for(tmp_path, tiny, steer.NAME)
    spec = registry.get(steer.NAME)
    spec.init(ctx, HEIGHT, HEIGHT, 3)
    c, h = ctx.bench.protocol.context_frames, ctx.bench.protocol.horizon
    real, cond = clips(ctx), torch.zeros(B, c + h, 3)
    cond[:, c - 1:, 0] = 0.5  # steer 0.5 x gain 4: two pixels to the right per step
    futures = spec.predictor(ctx).predict(real[:, :c], h, 1, torch.Generator(), cond=cond)
    for t in range(h):
        assert torch.equal(futures[:, 0, t], real[:, c - 1].roll(2 * (t + 1), dims=-2)), t
    beyond = cond.clone()
    beyond[:, -1] = -1.0
    assert torch.equal(spec.predictor(ctx).predict(real[:, :c], h, 1, torch.Generator(), cond=beyond), futures)


def test_every_model_option_a_run_turns_on_has_a_variant():
    """A run's ``overrides.models`` in params.yaml builds a network the family's defaults do not: its
    options must be one of VARIANTS (so the contract runs on it) or say in NOT_VARIANTS why not."""
    raw = P.read_params(ROOT / "params.yaml")
    def flat(options: dict) -> set[str]:  # an option's key, or a section's (sampling's) keys
        return {k for k, v in options.items() if not isinstance(v, dict)} | {
            k for v in options.values() if isinstance(v, dict) for k in v}

    covered = {(model, key) for model, options in VARIANTS.values() for key in flat(options)}
    for name, run in raw["runs"].items():
        options = (run.get("overrides") or {}).get("models") or {}
        missing = {k for k in flat(options) if (run["model"], k) not in covered and k not in NOT_VARIANTS}
        assert not missing, f"runs.{name}.overrides.models: {sorted(missing)} has no contract variant"
    for model, options in VARIANTS.values():
        assert all(raw["models"][model][k] != v for k, v in options.items()), "a variant of a default is no variant"


def test_every_registered_model_has_params_and_tiny_sizes(tiny):
    defaults = P.read_params(ROOT / "params.yaml")
    for name in registry.MODELS:
        assert name in defaults["models"] and name in defaults["train"], name
        assert name in tiny["models"], name


def test_copy_last_repeats_the_last_context_frame(tmp_path, tiny):
    ctx = context_for(tmp_path, tiny, "copy_last")
    real = clips(ctx)
    out = registry.get("copy_last").predictor(ctx).predict(real[:, :5], 3, 2, torch.Generator())
    assert np.array_equal(out.numpy(), np.broadcast_to(real[:, None, 4:5].numpy(), (B, 2, 3, HEIGHT, HEIGHT, 3)))


def test_the_context_median_is_the_per_pixel_median_of_the_context_held(tmp_path, tiny):
    """Worked by hand: odd Tc takes the middle value; even Tc the mean of the two middle ones, rounded half to
    even (3 and 4 -> 4, 4 and 5 -> 4, 0 and 255 -> 128); the future frames are never read."""
    ctx = context_for(tmp_path, tiny, "context_median")
    pred = registry.get("context_median").predictor(ctx)
    pixels = torch.tensor([[9, 0, 4, 255, 7], [3, 255, 4, 0, 1]], dtype=torch.uint8)  # [Tc = 5, ...] per column
    context = pixels.T.reshape(1, 5, 2, 1, 1).expand(-1, -1, -1, -1, 3).contiguous()  # [B, Tc, H=2, W=1, C=3]
    out = pred.predict(context, 3, 2, torch.Generator())
    assert tuple(out.shape) == (1, 2, 3, 2, 1, 3)
    assert out[0, :, :, 0].unique().tolist() == [7] and out[0, :, :, 1].unique().tolist() == [3]  # 0 4 [7] 9 255 | 0 1 [3] 4 255
    even = torch.tensor([3, 4, 4, 5, 0, 255], dtype=torch.uint8).reshape(3, 2, 1, 1).movedim(0, 1)  # 3 pixels, Tc = 2
    even = even.reshape(1, 2, 3, 1, 1).expand(-1, -1, -1, -1, 3).contiguous()
    assert pred.predict(even, 1, 1, torch.Generator())[0, 0, 0, :, 0, 0].tolist() == [4, 4, 128]
    with pytest.raises(GenvidError, match="takes no conditioning"):
        pred.predict(context, 3, 2, torch.Generator(), cond=torch.zeros(1, 8, 3))


def test_unknown_model_names_the_run(tiny):
    from genvid.errors import ParamError

    with pytest.raises(ParamError, match=r"runs.x-y.model: model 'nope' is not registered \(known: .*copy_last"):
        registry.get("nope", "runs.x-y.model")


def test_run_overrides_merge_and_reject_typos(tiny, tmp_path):
    from genvid.errors import ParamError

    raw = merge(tiny, {})
    raw["runs"]["driving-vq"]["overrides"] = {"models": {"vqvae": {"channels": 8}}}
    run = P.run(raw, "driving-vq")
    assert run.model_params["vqvae"]["channels"] == 8 and tiny["models"]["vq"]["vqvae"]["channels"] == 16
    raw["runs"]["driving-vq"]["overrides"] = {"models": {"vqvae": {"chanels": 8}}}
    with pytest.raises(ParamError, match="runs.driving-vq.overrides.models.vqvae.chanels does not exist"):
        P.run(raw, "driving-vq")


@pytest.mark.parametrize("padding", ["causal", "same"])
def test_vq_rolls_windows_for_a_protocol_past_its_clip(tmp_path, tiny, padding):
    """A protocol like SM-MNIST's (5 -> 20) with 16-frame windows and 4 frames per top code step
    (5 -> 12 here: two windows): still context-only, deterministic, and the first predicted
    frames do not depend on the horizon (streaming)."""
    model_params = {**tiny["models"]["vq"], "vqvae": {**tiny["models"]["vq"]["vqvae"], "in_channels": 1,
                                                      "temporal_padding": padding}}
    ctx = context_for(tmp_path, tiny, "vq")
    ctx = dataclasses.replace(ctx, run=dataclasses.replace(ctx.run, model_params=model_params),
                              stats=tmp_path / "grey.json")
    ctx.stats.write_text(json.dumps({"mean": [0.1], "std": [0.3], "frames": 10}))
    torch.manual_seed(0)
    registry.get("vq").init(ctx, HEIGHT, HEIGHT, 1)
    pred = registry.get("vq").predictor(ctx)
    real = torch.randint(0, 256, (B, 25, HEIGHT, HEIGHT, 1), generator=torch.Generator().manual_seed(3),
                         dtype=torch.uint8)
    long = pred.predict(real[:, :5], 12, S, torch.Generator().manual_seed(1))
    assert tuple(long.shape) == (B, S, 12, HEIGHT, HEIGHT, 1)
    assert torch.equal(long, pred.predict(scrambled(real, 5)[:, :5], 12, S, torch.Generator().manual_seed(1)))
    short = pred.predict(real[:, :5], 7, S, torch.Generator().manual_seed(1))
    assert torch.equal(short, long[:, :, :7])  # the first window's frames, whatever comes after
    assert not pred.single_window(5, 20) and pred.single_window(8, 8)
    futures, extras = pred.predict_with_diagnostics(real, 5, 12, S, torch.Generator().manual_seed(1))
    assert torch.equal(futures, long) and extras == {}  # the seed 000 diagnostics need one window


class _Stop(Exception):
    pass


def test_pixel_models_resume_exactly(predictor, tmp_path):
    """Killed after a checkpoint and resumed, a model ends at the weights of an uninterrupted run
    (the β/KL warm-ups are functions of the step the loop passes)."""
    from torch.utils.data import TensorDataset

    from genvid.models.store import load_model
    from genvid.train import TrainConfig, fit

    name, ctx, spec = predictor
    if not (ctx.model_dir / "model.pt").exists():
        pytest.skip(f"{name}: no pixel-model weights (copy-last has none; vq resumes in test_runs.py, gan_prior in test_gan_prior.py, cvg in test_cvg.py)")
    clips = torch.randint(0, 256, (4, 12, 3, HEIGHT, HEIGHT), generator=torch.Generator().manual_seed(5)).float() / 255
    cond = torch.rand(4, 12, 3, generator=torch.Generator().manual_seed(6))
    data = TensorDataset(clips, cond)
    cfg = TrainConfig.from_dict({"steps": 4, "batch_size": 2, "lr": 1e-3, "ckpt_every": 2, "val_every": 4,
                                 "log_every": 1, "warmup_steps": 1, "seed": 1}, "train")

    def run(workdir, stop_at=None):
        model, _ = load_model(ctx.model_dir / "model.pt", name)

        def on_checkpoint(step):
            if step == stop_at:
                raise _Stop

        def objective(m, batch, step):
            return m.loss(batch[0], step) if spec.conditioning is None else m.loss(batch[0], step, batch[1])

        groups = model.optimizer_groups() if hasattr(model, "optimizer_groups") else None  # a GAN's g and d
        fit(model.train(), objective, data, None, cfg, workdir, "fp", on_checkpoint=on_checkpoint, optimizers=groups)
        return {k: v.clone() for k, v in model.state_dict().items()}

    straight = run(tmp_path / "a")
    with pytest.raises(_Stop):
        run(tmp_path / "b", stop_at=2)
    resumed = run(tmp_path / "b")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight), name
