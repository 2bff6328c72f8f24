"""benchmarks/sampling_options.py: a run's prediction-time options scored side by side on validation clips, in a
project folder of the test's own holding the run's untrained model and an untrained motion classifier."""
import pytest
import torch

from conftest import ROOT, load_benchmark
from test_motion_probe import untrained_classifier

options = load_benchmark("sampling_options")


def rows(out: str) -> dict[str, list[str]]:
    lines = [line for line in out.splitlines() if not line.startswith("#")][1:]
    return {line[:28].strip(): line[28:].split() for line in lines}


def test_the_options_are_scored_beside_copy_last_and_an_untrained_hard_pick_is_the_warps_frames(tmp_path, capsys):
    from genvid.context import run_context
    from genvid.models import registry

    ctx, _ = run_context(ROOT / "params.yaml", "dynamics-feature_flow", tmp_path)
    assert ctx.run.model_params["context_warp"] and ctx.run.model_params["sampling"] == {"mask": "hard"}
    torch.manual_seed(0)
    registry.get("feature_flow").init(ctx, 64, 64, 3)
    untrained_classifier(tmp_path)
    options.main(["--root", str(tmp_path), "--clips", "3", "--no-fvd"])
    out = capsys.readouterr().out
    assert "never the test clips" in out and "# motion accuracy of the real futures (the ceiling): " in out
    scored = rows(out)
    assert list(scored) == ["copy-last", "sampling.mask: soft", "sampling.mask: hard", "the context warp's frames"]
    assert all(r[1] == "-" and 0.0 <= float(r[2]) <= 1.0 for r in scored.values())  # no FVD column asked for
    # the untrained copy mask (σ(2)) favours the copy at every pixel: the pick is the warp's frames, the blend is not;
    # the untrained warp copies the last context frame in place
    assert scored["sampling.mask: hard"] == scored["the context warp's frames"] == scored["copy-last"]
    assert scored["sampling.mask: soft"] != scored["sampling.mask: hard"]


def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match="--clips must be >= 2"):
        options.main(["--clips", "1"])
    with pytest.raises(SystemExit, match=r"models/dynamics-feature_flow/model.pt: file not found"):
        options.main(["--root", str(tmp_path), "--clips", "2"])
    with pytest.raises(SystemExit, match="no run 'nope'|runs.nope"):
        options.main(["--root", str(tmp_path), "--run", "nope"])
