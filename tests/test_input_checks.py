"""The checks every stage runs on its inputs before any work (issue 26): a benchmark's files against
each other and the params, a model folder against its run, CLI options, unreadable files. The whole
matrix over every stage runs on the tiny DAG (tests/_bad_inputs.py, tests/test_pipeline_e2e.py)."""
import json
from types import SimpleNamespace

import pytest
import torch

from conftest import make_frames_file, synthetic_episodes
from genvid import params as P
from genvid.cli import stage_parser
from genvid.stage import int_at_least
from genvid.context import RunContext
from genvid.data.benchmark import COLLECTED_SOURCES, GENERATED_SOURCES, check_inputs
from genvid.data.frames import write_frames
from genvid.data.sources import SOURCES
from genvid.errors import GenvidError
from genvid.io import atomic_write_text, load_torch, read_json, save_torch, write_json
from genvid.models.store import check_run_record


RECORDED = {"source": "procedural", "seed": 7, "resolution": 16, "episodes": 2, "frames_per_episode": 20,
            "interval": 0.2}


def bench(**collect) -> P.BenchmarkConfig:
    params = {"benchmarks": {"b": {"collect": {**RECORDED, **collect},
                                   "split": {"train": 0.5, "val": 0.25, "test": 0.25},
                                   "clips": {"clip_len": 4, "train_stride": 1, "eval_stride": 4},
                                   "normalize": {"chunk_frames": 8},
                                   "protocol": {"context_frames": 2, "horizon": 2, "num_samples": 1,
                                                "test_stride": 4, "block_clips": 1, "max_clips": 0}}}}
    return P.benchmark(params, "b")


@pytest.fixture
def files(tmp_path):
    frames = tmp_path / "frames.h5"
    write_frames(frames, synthetic_episodes((20, 20), 16, 0), 40, 16, {"source": "procedural", "seed": 7,
                                                                         "resolution": 16})
    split = {"num_frames": 40, "splits": {"train": {"ranges": [[0, 20]]}, "val": {"ranges": [[20, 30]]},
                                          "test": {"ranges": [[30, 40]]}}}
    write_json(tmp_path / "split.json", split)
    write_json(tmp_path / "stats.json", {"mean": [0.5] * 3, "std": [0.2] * 3})
    return frames, tmp_path / "split.json", tmp_path / "stats.json"


def test_consistent_files_pass_and_give_the_frames_facts(files):
    info, split = check_inputs(bench(), "b", *files)
    assert info.num_frames == 40 and split["num_frames"] == 40


@pytest.mark.parametrize("collect,message", [
    ({"seed": 8}, "frames.h5: recorded with seed 7, but params.yaml gives benchmarks.b.collect.seed 8"),
    ({"resolution": 32}, "recorded with resolution 16, but params.yaml gives benchmarks.b.collect.resolution 32"),
])
def test_frames_recorded_with_other_collect_params_are_refused(files, collect, message):
    with pytest.raises(GenvidError, match=message):
        check_inputs(bench(**collect), "b", *files)


def test_a_users_own_frames_are_not_held_to_collect_params(tmp_path, files):
    own = make_frames_file(tmp_path / "own.h5", lengths=(20, 20))  # source "synthetic": not stage collect's
    check_inputs(bench(seed=99), "b", own, *files[1:])


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.update(num_frames=80), r"split.json: made for 80 frames, but .*frames.h5 holds 40 \(a split of "
                                        r"another frames file\? rerun split@b\)"),
    (lambda s: s.update(generated="yes"), r"split.json: not the split of a recorded benchmark like b"),
    (lambda s: s["splits"]["train"].update(ranges=[]), r"split.json: the train split holds no frames"),
    (lambda s: s["splits"]["test"].update(ranges=[[30, 41]]), r"split 'test' range \[30, 41\] runs past the end"),
    (lambda s: s["splits"]["test"].update(ranges=[[10, 40]]), r"overlaps or precedes"),
])
def test_a_split_that_does_not_fit_its_frames_is_refused(files, edit, message):
    split = json.loads(files[1].read_text())
    edit(split)
    write_json(files[1], split)
    with pytest.raises(GenvidError, match=message):
        check_inputs(bench(), "b", *files)


def test_statistics_of_other_channels_are_refused(files):
    write_json(files[2], {"mean": [0.5], "std": [0.2]})
    with pytest.raises(GenvidError, match=r"stats.json: 'mean' must list 3 channel values, got 1"):
        check_inputs(bench(), "b", *files)


def test_collected_sources_are_every_source_collect_records():
    assert set(COLLECTED_SOURCES) == {*SOURCES, *GENERATED_SOURCES, "video_dir"}


def ctx(tmp_path, models: dict, run: str = "r") -> RunContext:
    return RunContext(SimpleNamespace(name=run, model="m", model_params=models), None, tmp_path, tmp_path,
                      tmp_path, tmp_path / "models/r", tmp_path, tmp_path)


def test_the_run_record_names_another_runs_folder_and_a_changed_key(tmp_path):
    trained = {"width": 8, "blocks": {"n": 2}, "sampling": {"top_k": 0}}
    write_json(tmp_path / "models/r/run.json", {"run": "r", "models": trained})
    check_run_record(ctx(tmp_path, trained))
    check_run_record(ctx(tmp_path, {**trained, "sampling": {"top_k": 5}}))  # read when sampling: no retraining
    with pytest.raises(GenvidError, match=r"models/r/run.json: the model folder of run 'r', not 'q'"):
        check_run_record(ctx(tmp_path, trained, run="q"))
    with pytest.raises(GenvidError, match=r"params.yaml: models.m.blocks.n is 3, but .*models/r was trained with 2 "
                                          r"\(a stale model: rerun train@r\)"):
        check_run_record(ctx(tmp_path, {**trained, "blocks": {"n": 3}}))
    with pytest.raises(GenvidError, match=r"models/r/run.json: file not found"):
        check_run_record(ctx(tmp_path / "elsewhere", trained))


def test_usage_errors_are_one_line_with_exit_code_2(capsys):
    parser = stage_parser("x")
    parser.add_argument("--batch-size", type=int_at_least(1), default=4)
    assert parser.parse_args(["--batch-size", "3"]).batch_size == 3
    for argv, message in ((["--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got 0"),
                          (["--batch-size", "x"], "argument --batch-size: must be an integer >= 1, got 'x'"),
                          (["--nope"], "unrecognized arguments: --nope")):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_unreadable_and_unwritable_files_are_one_line(tmp_path):
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(GenvidError, match=r"folder.json: cannot be read \(Is a directory\)"):
        read_json(tmp_path / "folder.json")
    (tmp_path / "file").write_text("x")
    with pytest.raises(GenvidError, match=r"file/out.json: cannot be written"):
        atomic_write_text(tmp_path / "file" / "out.json", "{}")
    save_torch(tmp_path / "w.pt", {"a": torch.zeros(64)})
    data = (tmp_path / "w.pt").read_bytes()
    for name, content in (("empty.pt", b""), ("half.pt", data[: len(data) // 2])):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(GenvidError, match=rf"{name}: not a readable model file \(truncated or corrupt"):
            load_torch(tmp_path / name, "model file")
    with pytest.raises(GenvidError, match=r"nope.pt: model file not found"):
        load_torch(tmp_path / "nope.pt", "model file")
    with pytest.raises(GenvidError, match=r"folder.json: not a file \(model file\)"):
        load_torch(tmp_path / "folder.json", "model file")
    assert torch.equal(load_torch(tmp_path / "w.pt", "model file")["a"], torch.zeros(64))
