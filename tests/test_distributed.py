"""Training on several processes: torchrun, 2 gloo processes on CPU, through genvid.train.fit.

The runs are real: ``python -m torch.distributed.run --standalone --nproc_per_node 2`` runs this
file as its worker (``worker`` below), which trains two tiny conv nets through ``fit``:

- ``det``: no randomness in its objective. 2 processes x 4 samples must match 1 process x 8
  (the same global batch_size 8) to TOLERANCE, not bit for bit: one process sums the gradient
  over 8 samples inside each kernel, two processes sum 4 + 4 and then add the two halves, a
  different floating-point order.
- ``drop``: dropout, so every rank's own RNG stream matters. A run SIGKILLed mid-step and rerun
  under torchrun must end on the bytes of an uninterrupted torchrun run.
"""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from genvid.errors import GenvidError, ParamError
from genvid.train import TrainConfig, fit
from genvid.train import distributed as D
from genvid.train.checkpoint import CHECKPOINT_NAME
from genvid.train.sampler import EpochBatchSampler, sharded_val_loader, val_loader

ROOT = Path(__file__).resolve().parents[1]
STEPS, KILL_AT = 12, 8  # checkpoints every 5 steps: the kill loses steps 6-8, which are redone
# Measured: max |difference| 1.5e-8 between the two det runs (weights up to 0.33, lr 1e-2); rtol
# alone would fail on near-zero elements, hence atol.
TOLERANCE = dict(rtol=1e-5, atol=1e-6)


def data() -> tuple[TensorDataset, TensorDataset]:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(44, 1, 6, 6, generator=g)
    y = x.mean(dim=(1, 2, 3))[:, None] * 3 + x[:, :, :3, :3].std(dim=(1, 2, 3))[:, None]
    return TensorDataset(x[:36], y[:36]), TensorDataset(x[36:], y[36:])


def net(dropout: float) -> nn.Module:
    torch.manual_seed(11)  # the stage's job: seed before building
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.Tanh(), nn.Dropout(dropout), nn.Flatten(), nn.Linear(64, 1))


def cfg() -> TrainConfig:
    return TrainConfig(steps=STEPS, batch_size=8, lr=1e-2, warmup_steps=2, val_every=4, log_every=3,
                       ckpt_every=5, grad_clip=1.0, seed=4)


def train(kind: str, workdir: Path, kill_at: int | None = None) -> tuple[nn.Module, object]:
    rank, _ = D.rank_and_world()

    def objective(model: nn.Module, batch, step: int):
        if kill_at is not None and step == kill_at and rank == 0 and model.training:
            os.kill(os.getpid(), signal.SIGKILL)  # mid-run, 3 steps after the last checkpoint
        x, y = batch
        out = model(x)
        return nn.functional.mse_loss(out, y), {"out_mean": float(out.detach().mean())}

    model = net(0.3 if kind == "drop" else 0.0)
    train_set, val_set = data()
    result = fit(model, objective, train_set, val_set, cfg(), workdir / kind, "fingerprint", desc=kind)
    return model, result


def state_bytes(model: nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def worker(out: Path, kinds: list[str], kill_at: int | None) -> None:
    """One torchrun process: join the group, train each kind, rank 0 saves the final weights."""
    torch.set_num_threads(1)
    with D.process_group("auto", "cpu") as (rank, world):
        assert world == 2
        for kind in kinds:
            model, result = train(kind, out, kill_at if kind == "drop" else None)
            if rank == 0:
                torch.save({"model": model.state_dict(), "curves": result.curves}, out / f"{kind}.pt")


def torchrun(out: Path, kinds: str, kill_at: int | None = None) -> subprocess.CompletedProcess:
    argv = [str(Path(__file__).resolve()), str(out), kinds] + ([str(kill_at)] if kill_at else [])
    command = D.torchrun_command(2, "unused", [])[:-3] + ["--", *argv]  # this file as the worker script
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(D.NPROC_ENV, None)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """torchrun: an uninterrupted run of both nets; a run SIGKILLed at step 8, then rerun."""
    ref, killed = tmp_path_factory.mktemp("ref"), tmp_path_factory.mktemp("killed")
    done = torchrun(ref, "det,drop")
    assert done.returncode == 0, done.stderr[-3000:]
    first = torchrun(killed, "drop", kill_at=KILL_AT)
    assert first.returncode != 0 and not (killed / "drop.pt").exists(), first.stderr[-3000:]
    ckpt = torch.load(killed / "drop" / CHECKPOINT_NAME, weights_only=True)
    rerun = torchrun(killed, "drop")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    return {"ref": ref, "killed": killed, "ckpt": ckpt, "rerun": rerun}


def test_two_processes_match_one_process_with_the_same_global_batch(runs, tmp_path):
    one, _ = train("det", tmp_path)  # no process group: batch_size 8 in one process
    two = torch.load(runs["ref"] / "det.pt", weights_only=True)["model"]
    for name, value in one.state_dict().items():
        torch.testing.assert_close(two[name], value, **TOLERANCE, msg=name)
        assert not torch.equal(value, net(0.0).state_dict()[name])  # it trained
    # The same curves too (losses are means over ranks, validation shared out), to the same tolerance.
    ref = torch.load(runs["ref"] / "det.pt", weights_only=True)["curves"]
    _, result = train("det", tmp_path)  # resumes at the end: the curves of the checkpoint
    assert [(r["step"], r["split"]) for r in ref] == [(r["step"], r["split"]) for r in result.curves]
    for a, b in zip(ref, result.curves):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)


def test_a_run_killed_and_rerun_under_torchrun_ends_on_the_same_bytes(runs):
    ckpt = runs["ckpt"]
    assert ckpt["step"] == 5 and ckpt["world_size"] == 2  # the kill came after step 5's checkpoint
    ranks = ckpt["rng_ranks"]
    assert len(ranks) == 2 and torch.equal(ranks[0]["torch"], ckpt["rng"]["torch"])
    assert not torch.equal(ranks[0]["torch"], ranks[1]["torch"])  # each rank its own stream
    assert "resuming from" in runs["rerun"].stderr and "at step 5" in runs["rerun"].stderr
    ref = torch.load(runs["ref"] / "drop.pt", weights_only=True)
    resumed = torch.load(runs["killed"] / "drop.pt", weights_only=True)
    assert state_bytes_of(ref["model"]) == state_bytes_of(resumed["model"])
    assert ref["curves"] == resumed["curves"]
    assert ref["model"]["4.weight"].ne(net(0.3).state_dict()["4.weight"]).all()


def state_bytes_of(state: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def test_only_rank_0_writes_the_checkpoint_and_a_single_process_checkpoint_is_unchanged(runs, tmp_path):
    assert sorted(p.name for p in (runs["ref"] / "drop").iterdir()) == [CHECKPOINT_NAME]
    train("drop", tmp_path)
    single = torch.load(tmp_path / "drop" / CHECKPOINT_NAME, weights_only=True)
    assert "world_size" not in single and "rng_ranks" not in single


# ----------------------------------------------------------------------------- no processes needed

def test_each_rank_takes_its_contiguous_slice_of_every_global_batch():
    whole = list(EpochBatchSampler(30, 6, seed=2, epoch=3, start_batch=1))
    shards = [list(EpochBatchSampler(30, 6, seed=2, epoch=3, start_batch=1, rank=r, world_size=3)) for r in range(3)]
    assert [sum((s[b] for s in shards), []) for b in range(len(whole))] == whole
    assert all(len(batch) == 2 for s in shards for batch in s)
    with pytest.raises(ValueError, match="batch_size 6"):
        EpochBatchSampler(30, 6, 2, 0, rank=0, world_size=4)


def test_validation_batches_are_dealt_out_once_each():
    data = TensorDataset(torch.arange(23.0))
    plain = [b[0].tolist() for b in val_loader(data, 5, 0, 0)][:4]
    dealt = [[b[0].tolist() for b in sharded_val_loader(data, 5, 0, 0, r, 3, max_batches=4)] for r in range(3)]
    assert dealt == [[plain[0], plain[3]], [plain[1]], [plain[2]]]


def test_process_count_comes_from_the_param_unless_the_environment_says_otherwise():
    assert D.nproc_setting(1, {}) == 1
    assert D.nproc_setting(1, {D.NPROC_ENV: "4"}) == 4
    assert D.nproc_setting(3, {D.NPROC_ENV: ""}) == 3
    for bad in ("0", "two", "-1"):
        with pytest.raises(ParamError, match=f"GENVID_NPROC must be an integer >= 1, got '{bad}'"):
            D.nproc_setting(1, {D.NPROC_ENV: bad})
    assert D.under_torchrun({"RANK": "1", "WORLD_SIZE": "2"}) and not D.under_torchrun({})
    assert D.env_rank({"RANK": "1", "WORLD_SIZE": "2"}) == 1 and D.env_rank({}) == 0


def test_backend_and_launcher():
    assert D.resolve_backend("auto", "cpu") == "gloo" and D.resolve_backend("auto", "cuda") == "nccl"
    assert D.resolve_backend("gloo", "cuda") == "gloo"
    with pytest.raises(ParamError, match="backend nccl needs device.device cuda"):
        D.resolve_backend("nccl", "cpu")
    assert D.torchrun_command(4, "stages.train", ["--run", "x"]) == [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4", f"--log-dir={os.devnull}",
        "-m", "--", "stages.train", "--run", "x"]
    assert D.rank_seed(7, 0) == 7 and len({D.rank_seed(7, r) for r in range(4)}) == 4


def test_a_batch_size_the_processes_cannot_share_is_one_clear_error(tmp_path, monkeypatch, capsys):
    with pytest.raises(GenvidError, match="batch_size 6 is not a multiple of the 4 training processes"):
        D.check_divides(6, 4, "run")
    import yaml

    from conftest import make_frames_file
    from stages import normalize, split
    from stages.train import main

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    run = next(name for name, r in params["runs"].items() if r["model"] == "vq")
    params["train"]["vq"]["prior_top"]["batch_size"] = 6
    params["distributed"] = {"nproc": 4, "backend": "auto"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.delenv(D.NPROC_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["--params", str(tmp_path / "params.yaml"), "--run", run, "--root", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {tmp_path / 'params.yaml'}: train.vq.prior_top.batch_size 6 is not a multiple of the 4 "
                   f"training processes (distributed.nproc or GENVID_NPROC); each takes batch_size / nproc samples")
    monkeypatch.setenv(D.NPROC_ENV, "x")
    with pytest.raises(SystemExit):
        main(["--params", str(tmp_path / "params.yaml"), "--run", run, "--root", str(tmp_path)])
    assert "GENVID_NPROC must be an integer >= 1, got 'x'" in capsys.readouterr().err


def test_the_train_stage_relaunches_itself_under_torchrun(tmp_path, monkeypatch, capfd):
    """distributed.nproc 2: the stage becomes torchrun with 2 workers; rank 0 alone writes the run's
    outputs and its timing, rank 1's scratch folder is gone, and torchrun left no log folder in the temporary
    directory (a model without training: fast)."""
    import tempfile

    import yaml

    from conftest import make_frames_file
    from stages import normalize, split
    from stages.train import main

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    run = next(name for name, r in params["runs"].items() if r["model"] == "copy_last")
    bench = params["runs"][run]["benchmark"]
    params["distributed"] = {"nproc": 2, "backend": "auto"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    make_frames_file(tmp_path / "data" / bench / "frames.h5", lengths=(64, 64, 64, 64))  # checked, not read
    for stage in (split, normalize):
        stage.main(["--params", str(tmp_path / "params.yaml"), "--benchmark", bench, "--root", str(tmp_path)])
    monkeypatch.chdir(tmp_path)  # the stage records its timing under the working directory
    monkeypatch.delenv(D.NPROC_ENV, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    logs = set(Path(tempfile.gettempdir()).glob("torchelastic_*"))
    main(["--params", "params.yaml", "--run", run, "--root", "."])
    assert set(Path(tempfile.gettempdir()).glob("torchelastic_*")) == logs
    out = capfd.readouterr().out
    assert out.count(f"train {run}: 0 parameters") == 1  # rank 0 only
    assert sorted(p.name for p in (tmp_path / "models" / run).iterdir()) == ["run.json"]
    assert (tmp_path / "reports" / bench / "runs" / run / "train_metrics.json").is_file()
    assert [p.name for p in (tmp_path / "logs/timings").iterdir()] == [f"train@{run}.json"]
    assert not any((tmp_path / "checkpoints" / run).iterdir())  # rank 1's scratch removed


if __name__ == "__main__":  # a torchrun worker: OUT KINDS [KILL_AT]
    worker(Path(sys.argv[1]), sys.argv[2].split(","), int(sys.argv[3]) if len(sys.argv) > 3 else None)
