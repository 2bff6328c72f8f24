"""benchmarks/sampling_options.py: a run's prediction-time options scored side by side on validation clips, in a
project folder of the test's own holding the run's untrained model and an untrained motion classifier."""
import pytest
import torch

from conftest import ROOT, load_benchmark
from test_motion_probe import untrained_classifier

options = load_benchmark("sampling_options")


def rows(out: str) -> dict[str, list[str]]:
    lines = [line for line in out.splitlines() if not line.startswith("#")][1:]
    return {line[:34].strip(): line[34:].split() for line in lines}


def test_the_options_are_scored_beside_copy_last_and_an_untrained_hard_pick_is_the_warps_frames(tmp_path, capsys):
    from genvid.context import run_context
    from genvid.models import registry

    ctx, _ = run_context(ROOT / "params.yaml", "dynamics-feature_flow", tmp_path)
    assert ctx.run.model_params["context_warp"]
    assert ctx.run.model_params["sampling"] == {"mask": "hard", "matte": "hard"}
    torch.manual_seed(0)
    registry.get("feature_flow").init(ctx, 64, 64, 3)
    untrained_classifier(tmp_path)
    options.main(["--root", str(tmp_path), "--clips", "3", "--no-fvd"])
    out = capsys.readouterr().out
    assert "never the test clips" in out and "# motion accuracy of the real futures (the ceiling): " in out
    scored = rows(out)
    # every combination of the options' values
    assert list(scored) == ["copy-last", "sampling: mask soft, matte soft", "sampling: mask soft, matte hard",
                            "sampling: mask hard, matte soft", "sampling: mask hard, matte hard",
                            "the context warp's frames"]
    assert all(r[1] == "-" and 0.0 <= float(r[2]) <= 1.0 for r in scored.values())  # no FVD column asked for
    # the untrained copy mask (σ(2)) favours the copy at every pixel: the pick is the warp's frames, the blend is not;
    # the untrained warp copies the last context frame in place, under either matte
    picked = [scored[f"sampling: mask hard, matte {m}"] for m in ("soft", "hard")]
    assert picked[0] == picked[1] == scored["the context warp's frames"] == scored["copy-last"]
    assert scored["sampling: mask soft, matte hard"] != picked[0]


def test_an_option_that_does_not_apply_to_the_model_is_left_out():
    from genvid.models.feature_flow.model import FeatureFlowConfig, FeatureFlowSampling

    free = FeatureFlowConfig(channels=1, resolution=32, context_frames=3, width=4, fixel_channels=8, flow_channels=8,
                             z_dim=4, flow_scale=4, kappa=3, disc_width=4, context_warp=True)
    assert [options.label(o) for o in options.variants(FeatureFlowSampling(), free)] == [
        "sampling: mask soft, matte soft", "sampling: mask hard, matte soft"]


def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match="--clips must be >= 2"):
        options.main(["--clips", "1"])
    with pytest.raises(SystemExit, match=r"models/dynamics-feature_flow/model.pt: file not found"):
        options.main(["--root", str(tmp_path), "--clips", "2"])
    with pytest.raises(SystemExit, match="no run 'nope'|runs.nope"):
        options.main(["--root", str(tmp_path), "--run", "nope"])
