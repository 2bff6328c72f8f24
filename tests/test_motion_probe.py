"""benchmarks/motion_probe.py: an untrained probe copying, a run end to end with an untrained classifier in a project
folder of the test's own (the smoke row's job: the script needs a classifier). Its stack's inputs and direction are
feature flow's context warp's: tests/test_context_warp.py."""
import numpy as np
import pytest
import torch

from conftest import ROOT, load_benchmark

probe_mod = load_benchmark("motion_probe")


@pytest.mark.parametrize("mode", ["context", "rollout"])
def test_an_untrained_probe_copies_the_last_context_frame(mode):
    torch.manual_seed(0)
    context = torch.rand(2, 4, 3, 16, 16)
    probe = probe_mod.make_probe(mode, 3, 4, 3, 2, 4, 2)  # the head starts at zero
    out = probe_mod.predict(probe, mode, context, 3, 2)
    assert out.shape == (2, 3, 3, 16, 16)
    assert torch.equal(out, context[:, -1:].expand(-1, 3, -1, -1, -1))


@pytest.mark.parametrize("form", [[], ["--motion", "layered", "--loss", "absolute"]])
def untrained_classifier(root) -> None:
    """An untrained Dynamics motion classifier where the probe reads one under ``root``."""
    from genvid import params as P
    from genvid.layout import benchmark_paths
    from genvid.metrics import motion

    bench = P.benchmark(P.read_params(ROOT / "params.yaml"), "dynamics", "params.yaml")
    cfg, frames = bench.motion_classifier, bench.protocol.horizon
    torch.manual_seed(0)
    classifier = motion.MotionClassifier(10, frames, 3, cfg.width)
    path = benchmark_paths("dynamics", root).motion_classifier
    path.parent.mkdir(parents=True)
    motion.save(path, motion.file_content("dynamics", classifier, tuple(f"c{i}" for i in range(10)), np.zeros(4, np.int64),
                                          {}, cfg, bench.protocol.context_frames, (64, 64, 3), []))


@pytest.mark.parametrize("form", [[], ["--motion", "layered", "--loss", "absolute"]])
def test_the_probe_runs_and_scores_against_the_reference_levels(tmp_path, capsys, form):
    untrained_classifier(tmp_path)
    probe_mod.main(["--root", str(tmp_path), "--clips", "4", "--steps", "2", "--every", "1", "--batch", "2",
                    "--score-clips", "3", "--width", "2", *form])
    out = capsys.readouterr().out
    assert "# motion accuracy of context motion extrapolated at constant acceleration: " in out
    rows = [line.split() for line in out.splitlines() if not line.startswith("#")][1:]
    assert [r[0] for r in rows] == ["1", "2"] and all(0.0 <= float(r[4]) <= 1.0 for r in rows)


def test_a_missing_classifier_and_a_bad_size_are_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"motion_classifier.pt is missing \(dvc repro motion_classifier@dynamics\)"):
        probe_mod.main(["--root", str(tmp_path), "--steps", "1"])
    with pytest.raises(SystemExit, match="--clips 999999 is more than the 2000 sequences"):
        probe_mod.main(["--root", str(tmp_path), "--clips", "999999"])
    untrained_classifier(tmp_path)
    with pytest.raises(SystemExit, match=r"i3d_kinetics400.pt is missing \(dvc repro metric_weights\)"):
        probe_mod.main(["--root", str(tmp_path), "--clips", "4", "--steps", "1", "--score-clips", "2", "--fvd"])
    with pytest.raises(SystemExit, match="--every must be >= 1"):
        probe_mod.main(["--every", "0"])
    for bad in (["--matte-weight", "0.01"], ["--motion", "layered", "--matte-weight", "-1"]):
        with pytest.raises(SystemExit, match="--matte-weight must be >= 0, and 0 but for --mode context --motion layered"):
            probe_mod.main(bad)
