"""The shared training loop: optimisation, schedule, clipping, determinism, exact resume."""
from __future__ import annotations

import io
import math
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.utils.data import TensorDataset

from genvid.errors import GenvidError, ParamError
from genvid.train import OptimizerConfig, TrainConfig, curves_tsv, fit, lr_factor, validate, write_curves_tsv
from genvid.train.checkpoint import CHECKPOINT_NAME
from genvid.train.sampler import EpochBatchSampler, epoch_permutation

torch.set_num_threads(1)

TESTS = Path(__file__).resolve().parent


class Stop(Exception):
    """Raised from on_checkpoint to end a run right after a checkpoint (a clean 'kill')."""


def regression(n: int = 48, seed: int = 0) -> TensorDataset:
    w = torch.randn(6, 1, generator=torch.Generator().manual_seed(99))  # the same for all splits
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    return TensorDataset(x, x @ w + 0.01 * torch.randn(n, 1, generator=g))


def mlp(dropout: float = 0.0, init_seed: int = 0) -> nn.Module:
    torch.manual_seed(init_seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, 1))


def mse(model: nn.Module, batch, step: int = 0):
    x, y = batch
    out = model(x)
    # Draw from the global RNG in train *and* eval: validation must not disturb training.
    jitter = 1e-4 * torch.rand(())
    return nn.functional.mse_loss(out, y) + jitter, {"mae": float((out - y).detach().abs().mean())}


def cfg(**kw) -> TrainConfig:
    base = dict(steps=30, batch_size=8, lr=1e-2, warmup_steps=3, val_every=7, log_every=4,
                ckpt_every=5, seed=3)
    return TrainConfig(**{**base, **kw})


def weights(model: nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def run(tmp: Path, config: TrainConfig, dropout: float = 0.0, fingerprint: str = "fp",
        stop_at: int | None = None, objective=mse):
    model = mlp(dropout)

    def on_checkpoint(step: int) -> None:
        if step == stop_at:
            raise Stop

    result = fit(model, objective, regression(), regression(20, seed=1), config, tmp,
                 fingerprint, on_checkpoint=on_checkpoint)
    return model, result


# -- optimisation --------------------------------------------------------------------

def test_loss_decreases(tmp_path):
    untrained = validate(mlp(), mse, regression(20, seed=1), cfg())["loss"]
    model, result = run(tmp_path, cfg(steps=60, val_every=20))
    train = [r["loss"] for r in result.curves if r["split"] == "train"]
    val = [r["loss"] for r in result.curves if r["split"] == "val"]
    assert train[-1] < 0.1 * train[0]
    assert val == sorted(val, reverse=True) and val[-1] < 0.2 * untrained
    assert result.step == 60 and result.val["loss"] == val[-1] and "mae" in result.val
    assert model.training


def test_lr_schedule_matches_hand_computation(tmp_path):
    c = cfg(steps=15, warmup_steps=4, min_lr_ratio=0.1, lr=2.0)
    expected = [0.25, 0.5, 0.75, 1.0]  # linear warm-up, first step already at lr/4
    expected += [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k / 10)) for k in range(11)]
    assert expected[4] == 1.0 and expected[9] == pytest.approx(0.55)
    assert expected[-1] == pytest.approx(0.1)  # the last step runs at min_lr_ratio·lr
    assert [lr_factor(s, c) for s in range(15)] == pytest.approx(expected)
    # ... and the optimiser really used those values.
    _, result = run(tmp_path, cfg(steps=15, warmup_steps=4, lr=2e-3, log_every=1))
    lrs = [r["lr"] for r in result.curves if r["split"] == "train"]
    assert lrs == pytest.approx([2e-3 * e for e in expected], rel=1e-12)
    constant = cfg(steps=10, warmup_steps=2, schedule="constant")
    assert [lr_factor(s, constant) for s in range(10)] == [0.5] + [1.0] * 9


def test_linear_decay_holds_then_falls_in_a_line_to_the_last_step():
    """Seed 001 Tables A.2/A.3, "Linear decay scheduler, final 150000 steps", at 10 steps: warm-up 2,
    constant, then the last 4 steps at 1 - 0.8 (k + 1)/4 (min_lr_ratio 0.2 reached at step 9)."""
    c = cfg(steps=10, warmup_steps=2, schedule="linear_decay", decay_steps=4, min_lr_ratio=0.2)
    assert [lr_factor(s, c) for s in range(10)] == pytest.approx(
        [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2])
    with pytest.raises(ParamError, match=r"params.yaml: train.x.decay_steps must be <= steps - warmup_steps \(8\), got 9"):
        TrainConfig.from_dict({"steps": 10, "batch_size": 1, "lr": 1.0, "warmup_steps": 2,
                               "schedule": "linear_decay", "decay_steps": 9}, "train.x")
    with pytest.raises(ParamError, match="decay_steps goes with schedule linear_decay"):
        TrainConfig.from_dict({"steps": 10, "batch_size": 1, "lr": 1.0, "decay_steps": 3}, "train.x")


def test_grad_clip_bounds_global_norm(tmp_path):
    norms = []

    def record(optimizer, args, kwargs):  # runs inside optimizer.step(): after clipping
        grads = [p.grad for g in optimizer.param_groups for p in g["params"]]
        norms.append(float(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(g) for g in grads]))))

    def steep(model, batch, step):  # gradients with norm far above 0.5
        loss, scalars = mse(model, batch)
        return 1e3 * loss, scalars

    handle = register_optimizer_step_pre_hook(record)
    try:
        _, clipped = run(tmp_path / "a", cfg(steps=10, grad_clip=0.5, log_every=1), objective=steep)
        clipped_norms, norms[:] = list(norms), []
        run(tmp_path / "b", cfg(steps=10), objective=steep)
    finally:
        handle.remove()
    pre_clip = [r["grad_norm"] for r in clipped.curves if r["split"] == "train"]
    assert len(clipped_norms) == 10 and min(pre_clip) > 5.0
    assert max(clipped_norms) == pytest.approx(0.5, rel=1e-5)
    assert all(n <= 0.5 * (1 + 1e-5) for n in clipped_norms)
    assert min(norms) > 5.0  # without clipping the optimiser sees the raw gradients


# -- determinism and exact resume ------------------------------------------------------

def test_same_seed_same_weights_other_seed_differs(tmp_path):
    a, ra = run(tmp_path / "a", cfg(), dropout=0.2)
    b, rb = run(tmp_path / "b", cfg(), dropout=0.2)
    c, _ = run(tmp_path / "c", cfg(seed=4), dropout=0.2)
    assert weights(a) == weights(b) and ra.curves == rb.curves
    assert weights(a) != weights(c)


def test_validation_does_not_change_training(tmp_path):
    # mse draws from the global RNG in eval too; validate() must put the state back.
    with_val, _ = run(tmp_path / "val", cfg(val_every=2), dropout=0.3)
    model = mlp(0.3)
    fit(model, mse, regression(), None, cfg(val_every=2), tmp_path / "none", "fp")
    assert weights(model) == weights(with_val)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_is_exact(tmp_path, num_workers):
    # 48 samples / batch 8 = 6 steps per epoch: checkpoints fall mid-epoch and mid-window,
    # validation (every 7) between checkpoints; dropout and the objective use the RNG.
    c = cfg(num_workers=num_workers, val_every=7 if num_workers == 0 else 14)
    straight, r_straight = run(tmp_path / "straight", c, dropout=0.3)
    with pytest.raises(Stop):
        run(tmp_path / "resumed", c, dropout=0.3, stop_at=15)
    resumed, r_resumed = run(tmp_path / "resumed", c, dropout=0.3)
    assert r_resumed.resumed_from == 15 and r_straight.resumed_from == 0
    assert weights(resumed) == weights(straight)
    assert r_resumed.curves == r_straight.curves and r_resumed.val == r_straight.val
    for key, value in mlp().state_dict().items():  # not vacuous: training moved the weights
        assert not torch.equal(straight.state_dict()[key], value)
    if num_workers:  # worker processes change nothing for a deterministic dataset
        single, _ = run(tmp_path / "single", cfg(num_workers=0, val_every=14), dropout=0.3)
        assert weights(single) == weights(straight)


def test_finished_checkpoint_returns_at_once_with_its_weights(tmp_path):
    trained, first = run(tmp_path, cfg())
    again, second = run(tmp_path, cfg())  # a fresh model, same workdir
    assert second.resumed_from == 30 and second.curves == first.curves
    assert weights(again) == weights(trained)


@pytest.mark.slow
def test_sigkill_then_rerun_gives_identical_weights(tmp_path):
    sys.path.insert(0, str(TESTS))
    try:
        import _train_tiny
    finally:
        sys.path.remove(str(TESTS))
    script, steps = TESTS / "_train_tiny.py", _train_tiny.CFG["steps"]
    reference, ref_result = _train_tiny.run(tmp_path / "reference")

    work, out = tmp_path / "killed", tmp_path / "killed.pt"
    proc = subprocess.Popen([sys.executable, str(script), str(work), str(out),
                             "--step-sleep", "0.01"], stderr=subprocess.PIPE)
    ckpt, seen, deadline = work / CHECKPOINT_NAME, 0, time.monotonic() + 60
    try:
        while seen < 60 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            if ckpt.exists():
                seen = torch.load(ckpt, weights_only=True)["step"]
        time.sleep(0.037)  # land between two checkpoints, not right on one
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    killed_at = torch.load(ckpt, weights_only=True)["step"]
    assert 60 <= killed_at < steps and not out.exists()

    done = subprocess.run([sys.executable, str(script), str(work), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming from {ckpt} at step {killed_at}" in done.stderr
    assert out.read_bytes() == reference
    write_curves_tsv(ref_result.curves, tmp_path / "ref.train.tsv", tmp_path / "ref.val.tsv")
    for split in ("train", "val"):
        assert (Path(f"{out}.{split}.tsv").read_text()
                == (tmp_path / f"ref.{split}.tsv").read_text())


# -- checkpoints -----------------------------------------------------------------------

def test_checkpoint_loads_weights_only(tmp_path):
    model, result = run(tmp_path, cfg(grad_clip=1.0))
    state = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert state["step"] == 30 and state["fingerprint"] == "fp"
    assert (state["epoch"], state["offset"]) == (5, 0)  # 30 steps = 5 whole epochs of 6
    assert state["curves"] == result.curves
    for key, value in model.state_dict().items():
        assert torch.equal(state["model"][key], value)
    assert set(state["rng"]) >= {"python", "numpy", "torch"}
    assert state["optimizer"]["model"]["state"] and state["scheduler"]["model"]["last_epoch"] == 30


def test_mid_epoch_position(tmp_path):
    with pytest.raises(Stop):
        run(tmp_path, cfg(), stop_at=10)
    state = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert (state["step"], state["epoch"], state["offset"]) == (10, 1, 32)  # 10 = 6 + 4 batches


@pytest.mark.parametrize("change", [{"fingerprint": "other"}, {"lr": 2e-2}])
def test_checkpoint_from_other_config_is_ignored(tmp_path, capfd, change):
    run(tmp_path, cfg())
    capfd.readouterr()
    fingerprint = change.get("fingerprint", "fp")
    c = cfg(**{k: v for k, v in change.items() if k != "fingerprint"})
    model, result = run(tmp_path, c, fingerprint=fingerprint)
    err = capfd.readouterr().err
    assert f"ignoring {tmp_path / CHECKPOINT_NAME}" in err and "starting fresh" in err
    assert result.resumed_from == 0
    fresh, fresh_result = run(tmp_path / "fresh", c, fingerprint=fingerprint)
    assert weights(model) == weights(fresh) and result.curves == fresh_result.curves
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["fingerprint"] == fingerprint


def test_num_workers_and_ckpt_every_may_change_on_resume(tmp_path):
    straight, _ = run(tmp_path / "straight", cfg())
    with pytest.raises(Stop):
        run(tmp_path / "resumed", cfg(), stop_at=10)
    resumed, result = run(tmp_path / "resumed", cfg(ckpt_every=3))
    assert result.resumed_from == 10 and weights(resumed) == weights(straight)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    calls, snapshot = [], {}

    def poisoned(model, batch, step):
        loss, scalars = mse(model, batch)
        if model.training:
            calls.append(1)
            if len(calls) == 13:
                loss = loss * float("nan")
        return loss, scalars

    model = mlp()

    def keep(step):
        snapshot[step] = (tmp_path / CHECKPOINT_NAME).read_bytes()

    path = tmp_path / CHECKPOINT_NAME
    with pytest.raises(GenvidError) as err:
        fit(model, poisoned, regression(), None, cfg(), tmp_path, "fp", on_checkpoint=keep)
    assert str(err.value) == (f"train: non-finite loss (nan) at step 13; "
                              f"last good checkpoint kept at {path} (step 10)")
    assert sorted(snapshot) == [5, 10] and path.read_bytes() == snapshot[10]
    assert not [p for p in tmp_path.iterdir() if p.name != CHECKPOINT_NAME]  # no temp files


def test_non_finite_before_any_checkpoint(tmp_path):
    def blowup(model, batch, step):
        return torch.tensor(float("inf"), requires_grad=True), {}

    with pytest.raises(GenvidError, match=r"^vq: non-finite loss \(inf\) at step 1; "
                                          r"no checkpoint written yet$"):
        fit(mlp(), blowup, regression(), None, cfg(), tmp_path, "fp", desc="vq")
    assert not (tmp_path / CHECKPOINT_NAME).exists()


def test_unreadable_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"not a zip file")
    with pytest.raises(GenvidError, match=r"checkpoint\.pt: unreadable checkpoint"):
        run(tmp_path, cfg())


def test_too_small_training_set(tmp_path):
    with pytest.raises(GenvidError, match="training set has 48 samples, fewer than batch_size 64"):
        run(tmp_path, cfg(batch_size=64))


# -- data order, validation, curves, config -------------------------------------------

def test_sampler_is_pure_and_resumable():
    p0, p1 = epoch_permutation(50, 3, 0), epoch_permutation(50, 3, 1)
    assert torch.equal(p0, epoch_permutation(50, 3, 0)) and not torch.equal(p0, p1)
    assert sorted(p0.tolist()) == list(range(50))
    assert not torch.equal(p0, epoch_permutation(50, 4, 0))
    full = list(EpochBatchSampler(50, 8, seed=3, epoch=1))
    assert len(full) == 6 and full[0] == p1[:8].tolist()  # 2 samples dropped
    tail = EpochBatchSampler(50, 8, seed=3, epoch=1, start_batch=4)
    assert list(tail) == full[4:] and len(tail) == 2


def test_validate_weights_by_batch_size_and_leaves_rng_and_modes(tmp_path):
    data = TensorDataset(torch.arange(10.0).unsqueeze(1))
    model = mlp(dropout=0.5)
    model[0].eval()  # a frozen submodule stays in eval mode

    def mean_x(model, batch, step):
        assert not model.training
        torch.rand(3)
        return batch[0].mean(), {"first": float(batch[0][0, 0])}

    random.seed(1)
    np.random.seed(1)
    before = (torch.get_rng_state(), random.random(), np.random.rand())
    random.seed(1)
    np.random.seed(1)
    row = validate(model, mean_x, data, cfg(batch_size=4))
    after = (torch.get_rng_state(), random.random(), np.random.rand())
    assert row["loss"] == pytest.approx(4.5)  # batches 4+4+2 weighted, not (1.5+5.5+8.5)/3
    assert row["first"] == pytest.approx((0 * 4 + 4 * 4 + 8 * 2) / 10)
    assert torch.equal(before[0], after[0]) and before[1:] == after[1:]
    assert [m.training for m in model] == [False, True, True, True] and model.training
    assert validate(model, mean_x, data, cfg(batch_size=4, val_batches=1))["loss"] == 1.5


def test_curves_tsv_is_stable():
    rows = [{"step": 4, "split": "train", "loss": 0.5, "mae": 1 / 3, "lr": 1e-3},
            {"step": 7, "split": "val", "loss": 0.25, "mae": 0.125},
            {"step": 8, "split": "train", "loss": 0.125, "mae": 2.0, "lr": 5e-4,
             "grad_norm": 12.5}]
    assert curves_tsv([r for r in rows if r["split"] == "train"]) == (
        "step\tloss\tgrad_norm\tmae\tlr\n"
        "4\t0.5\t\t0.3333333\t0.001\n"
        "8\t0.125\t12.5\t2\t0.0005\n")
    assert curves_tsv([]) == "step\tloss\n"


def test_from_dict_round_trip_and_defaults():
    c = TrainConfig.from_dict({"steps": 10, "batch_size": 2, "lr": 1, "betas": [0.5, 0.9],
                               "grad_clip": 0.5}, "train_prior_top")
    assert c.lr == 1.0 and isinstance(c.lr, float) and c.betas == (0.5, 0.9)
    assert (c.eps, c.weight_decay, c.schedule, c.val_batches) == (1e-8, 0.0, "cosine", None)
    assert TrainConfig.from_dict(c.to_dict(), "x") == c


@pytest.mark.parametrize("change, message", [
    ({"lr": -1}, "params.yaml: train_vqvae.lr must be > 0, got -1"),
    ({"lrate": 1.0}, "params.yaml: train_vqvae.lrate is not a known parameter"),
    ({"steps": None}, "params.yaml: train_vqvae.steps must be an integer, got None"),
    ({"steps": 2.5}, "params.yaml: train_vqvae.steps must be an integer, got 2.5"),
    ({"batch_size": True}, "params.yaml: train_vqvae.batch_size must be an integer, got True"),
    ({"lr": "1e-3"}, "train_vqvae.lr must be a finite number, got '1e-3' (YAML reads 1e-3 as a string"),
    ({"schedule": "linear"}, "train_vqvae.schedule must be one of cosine, constant, linear_decay, got 'linear'"),
    ({"betas": [0.9]}, "train_vqvae.betas must be a list of 2 values, got [0.9]"),
    ({"betas": [0.9, 1.0]}, "train_vqvae.betas must be two numbers in [0, 1), got [0.9, 1.0]"),
    ({"grad_clip": 0}, "train_vqvae.grad_clip must be > 0, got 0"),
    ({"min_lr_ratio": 1.5}, "train_vqvae.min_lr_ratio must be <= 1, got 1.5"),
    ({"warmup_steps": 11}, "train_vqvae.warmup_steps must be <= steps (10), got 11"),
    ({"val_batches": 0}, "train_vqvae.val_batches must be >= 1, got 0"),
    ({"lr": float("nan")}, "train_vqvae.lr must be a finite number, got nan"),
])
def test_from_dict_errors_name_the_key(change, message):
    d = {"steps": 10, "batch_size": 2, "lr": 1e-3, **change}
    with pytest.raises(ParamError) as err:
        TrainConfig.from_dict(d, "train_vqvae")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_from_dict_missing_key_and_direct_construction():
    with pytest.raises(ParamError, match=r"^params\.yaml: train_vqvae\.batch_size is missing$"):
        TrainConfig.from_dict({"steps": 10, "lr": 1e-3}, "train_vqvae")
    with pytest.raises(ParamError, match=r"^params\.yaml: train_vqvae\.ckpt_every must be >= 1, got 0$"):
        TrainConfig.from_dict({"steps": 1, "batch_size": 1, "lr": 1.0, "ckpt_every": 0}, "train_vqvae")


def test_objective_receives_the_step_and_resume_keeps_it(tmp_path):
    """KL/β warm-ups are functions of the step: the loop passes the 0-based optimisation step,
    and a resumed run passes the same steps as an uninterrupted one."""
    seen: dict[str, list[int]] = {"straight": [], "resumed": []}

    def recording(key):
        def objective(model, batch, step):
            if model.training:
                seen[key].append(step)
            return mse(model, batch)
        return objective

    run(tmp_path / "a", cfg(steps=12), objective=recording("straight"))
    with pytest.raises(Stop):
        run(tmp_path / "b", cfg(steps=12), stop_at=5, objective=recording("resumed"))
    run(tmp_path / "b", cfg(steps=12), objective=recording("resumed"))
    assert seen["straight"] == list(range(12))
    assert seen["resumed"] == list(range(12))


def test_several_optimisers_step_at_their_own_ratio(tmp_path):
    """A GAN-style pair: optimiser "g" every step on its loss, "d" every 3rd step on its own."""
    model = mlp()
    first, second = list(model[0].parameters()), list(model[3].parameters())
    counts = {"g": 0, "d": 0}

    def objective(net, batch, step):
        loss, scalars = mse(net, batch)
        return {"g": loss, "d": 2.0 * loss}, scalars

    def count(optimizer, args, kwargs):
        counts["g" if optimizer.param_groups[0]["params"][0] is first[0] else "d"] += 1

    before = [p.detach().clone() for p in second]
    handle = register_optimizer_step_pre_hook(count)
    try:
        result = fit(model, objective, regression(), None,
                     cfg(steps=9, optimizers={"d": OptimizerConfig(every=3)}), tmp_path, "fp",
                     optimizers={"g": first, "d": second})
    finally:
        handle.remove()
    assert counts == {"g": 9, "d": 3}
    assert any(not torch.equal(a, b) for a, b in zip(before, second))
    rows = [r for r in result.curves if r["split"] == "train"]
    assert rows and all(r["loss_d"] == pytest.approx(2 * r["loss"]) for r in rows)


def test_bad_precision_is_one_line(tmp_path):
    with pytest.raises(GenvidError, match="precision must be one of fp32, bf16, got 'fp16'"):
        fit(mlp(), mse, regression(), None, cfg(), tmp_path, "fp", precision="fp16")


def test_each_optimiser_takes_its_own_lr_and_betas(tmp_path):
    """Per-network settings (a GAN's two learning rates): unset values are the component's own."""
    model = mlp()
    first, second = list(model[0].parameters()), list(model[3].parameters())
    seen = {}

    def objective(net, batch, step):
        loss, scalars = mse(net, batch)
        return {"g": loss, "d": loss * 1.0}, scalars

    def record(optimizer, args, kwargs):
        group = optimizer.param_groups[0]
        seen["g" if group["params"][0] is first[0] else "d"] = (group["initial_lr"], group["betas"])

    settings = {"d": OptimizerConfig(lr=4e-4, betas=(0.0, 0.9))}
    handle = register_optimizer_step_pre_hook(record)
    try:
        fit(model, objective, regression(), None, cfg(steps=2, warmup_steps=0, optimizers=settings), tmp_path, "fp",
            optimizers={"g": first, "d": second})
    finally:
        handle.remove()
    assert seen == {"g": (1e-2, (0.9, 0.999)), "d": (4e-4, (0.0, 0.9))}


def test_settings_for_an_optimiser_the_model_lacks_are_one_line(tmp_path):
    with pytest.raises(GenvidError, match=r"optimizers\.disc is not an optimiser of this model \(it has: model\)"):
        fit(mlp(), mse, regression(), None, cfg(optimizers={"disc": OptimizerConfig(lr=1e-3)}), tmp_path, "fp")


def test_optimizer_settings_parse_from_params():
    parsed = TrainConfig.from_dict({"steps": 4, "batch_size": 2, "lr": 1e-3,
                                    "optimizers": {"g": {"lr": 1e-4, "every": 2}, "d": {"betas": [0.0, 0.9]}}},
                                   "train.gan")
    assert parsed.optimizer("g") == OptimizerConfig(1e-4, (0.9, 0.999), 1e-8, 0.0, 2)
    assert parsed.optimizer("d") == OptimizerConfig(1e-3, (0.0, 0.9), 1e-8, 0.0, 1)
    with pytest.raises(ParamError, match=r"train\.gan\.optimizers\.g\.every must be >= 1, got 0"):
        TrainConfig.from_dict({"steps": 4, "batch_size": 2, "lr": 1e-3, "optimizers": {"g": {"every": 0}}}, "train.gan")
    with pytest.raises(ParamError, match=r"train\.gan\.optimizers\.d\.betas must be two numbers in \[0, 1\)"):
        TrainConfig.from_dict({"steps": 4, "batch_size": 2, "lr": 1e-3, "optimizers": {"d": {"betas": [1.0, 0.9]}}},
                              "train.gan")
