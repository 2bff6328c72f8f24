"""benchmarks/vqvae.py: the configs it reads from params and profiles, its FLOP count, its CLI parsing."""
import argparse
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import vqvae as B  # noqa: E402
from genvid import params as P  # noqa: E402
from genvid.models.vq.vqvae3d import VQVAEConfig  # noqa: E402


def test_configs_follow_the_driving_vq_run_of_params_and_the_thesis_profile():
    default, thesis = B.configs("cpu", None)
    run = P.run(P.read_params(ROOT / "params.yaml"), "driving-vq")
    assert default["vqvae"] == run.model_params["vqvae"]
    assert (default["batch"], default["lr"]) == (run.train_params["vqvae"]["batch_size"], run.train_params["vqvae"]["lr"])
    # seed 000 Table 5.2 and §5.2.3: 128 channels, K 512, D 64, 16x256x256 clips, batch 8 on a GPU
    assert (thesis["vqvae"]["channels"], thesis["vqvae"]["codebook_size"], thesis["vqvae"]["code_dim"]) == (128, 512, 64)
    assert (thesis["clip_len"], thesis["res"], thesis["batch"]) == (16, 256, 1)
    assert B.configs("cuda", None)[1]["batch"] == 8 and B.configs("cpu", 2)[1]["batch"] == 2


def test_training_step_flops_lie_between_two_and_three_forwards():
    """A convolution's backward costs twice its forward (input and weight gradients), except the
    first layer's, whose input (the clip) needs no gradient."""
    cfg = VQVAEConfig.from_dict({**B.configs("cpu", None)[0]["vqvae"], "channels": 16, "res_channels": 8})
    forward, total = B.count_flops(cfg, (1, 3, 4, 16, 16))
    assert 0 < 2 * forward < total < 3 * forward


def test_parse_kernel():
    assert B.parse_kernel("1,3,3") == [1, 3, 3]
    for bad in ("1,3", "a,b,c"):
        with pytest.raises(argparse.ArgumentTypeError, match=bad):
            B.parse_kernel(bad)
    named = B.with_res_kernels({"name": "default", "vqvae": {"res_kernel": [3, 3, 3]}}, [[1, 3, 3]])
    assert named == [{"name": "default k133", "vqvae": {"res_kernel": [1, 3, 3]}}]
