"""benchmarks/gpu_estimates.py: its counts against hand arithmetic, its estimate formulas, its CUDA audit."""
import sys

import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_estimates as G  # noqa: E402


def test_thesis_setup_reads_the_profile():
    setup = G.thesis_setup()
    assert (setup["res"], setup["clip_len"], setup["channels"]) == (256, 16, 3)
    assert (setup["top"], setup["bottom"]) == ((4, 32, 32), (8, 64, 64))  # seed 000 §4.2: 98.7 % fewer bits
    assert [setup["train"][c]["steps"] for c in G.COMPONENTS] == [166500, 166500, 104062]
    assert setup["clips"] == {"train": 166400, "val": 2600, "test": 2600}


def test_count_step_matches_hand_arithmetic(monkeypatch):
    """A 1x1 conv 2 -> 3 channels over 5 positions: 2*2*3*5 FLOPs forward, twice that backward
    (input and weight gradients); autograd saves the input (batch x 2 x 5 floats), not the weight."""
    def build(setup, component, batch, device):
        with torch.device(device):
            return torch.nn.Conv1d(2, 3, 1, bias=False), (torch.randn(batch, 2, 5, requires_grad=True),)

    monkeypatch.setattr(G, "build", build)
    monkeypatch.setattr(G, "objective", lambda model, component, inputs: model(*inputs).sum())
    for device in ("meta", "cpu"):
        n = G.count_step({}, "vqvae", 4, device)
        assert n["flops_fwd"] == 2 * 2 * 3 * 5 * 4
        assert n["flops_step"] == 3 * n["flops_fwd"]
        assert n["saved_bytes"] == 4 * 2 * 5 * 4  # float32 input only: the weight is state
        assert n["params"] == 6


def test_estimate_formulas():
    setup = {"train": {c: {"steps": 1000, "batch_size": 8} for c in G.COMPONENTS}}
    counts = {c: {"flops_step": 10**12, "params": 10**6, "saved_bytes": 8 * 2**30, "batch": 8}
              for c in G.COMPONENTS}
    rates = G.thesis_rates(counts, setup)
    assert rates["vqvae"]["achieved_tflops"] == pytest.approx(1e12 * 1000 / (28 * 3600) / 1e12)
    est = G.estimate(counts, setup, efficiency=0.5)
    v100 = 1e12 * 1000 / (0.5 * 15.7e12) / 3600
    assert est["vqvae"]["v100_hours"] == pytest.approx(v100)
    h100 = est["vqvae"]["gpus"]["H100 SXM 80 GB"]
    assert G.speed("H100 SXM 80 GB") == pytest.approx(3.35 / 0.90)  # bandwidth-bound below its fp32 ratio
    assert h100[1]["hours"] == pytest.approx(v100 / (3.35 / 0.90))
    assert h100[1]["mem_gib"] == pytest.approx(16e6 / 2**30 + 8 * 1.3 + 1.0)
    assert h100[4]["mem_gib"] == pytest.approx(16e6 / 2**30 + 2 * 1.3 + 1.0)  # batch 8 / 4 ranks
    ring = 2 * 3 / 4 * 4e6 / 315e9 * 1000 / 3600
    assert h100[4]["hours"] == pytest.approx(v100 / (3.35 / 0.90) / 4 + ring)
    assert set(h100) == {1, 2, 4, 8}


def test_a_checkpointed_prior_keeps_less_and_adds_one_block_while_recomputing():
    """prior.checkpoint (issue 25 item 3): the count keeps only the blocks' inputs, and the estimate adds
    one block's share of what the plain step keeps, (plain - kept) / blocks, per clip at the batch."""
    import dataclasses

    setup = G.thesis_setup(profile="tiny")
    plain = G.count_step(setup, "prior_bottom", 2)
    cfg = setup["priors"]["bottom"]
    ck = G.count_step({**setup, "priors": {**setup["priors"], "bottom": dataclasses.replace(cfg, checkpoint=True)}},
                      "prior_bottom", 2)
    assert plain["recompute_bytes"] == 0 and ck["saved_bytes"] < plain["saved_bytes"]
    assert ck["recompute_bytes"] == (plain["saved_bytes"] - ck["saved_bytes"]) // cfg.snail_blocks
    assert ck["flops_step"] > plain["flops_step"]  # the recomputed forward passes
    est = G.estimate({c: ck for c in G.COMPONENTS}, {"train": {c: {"steps": 1, "batch_size": 2} for c in G.COMPONENTS}},
                     efficiency=0.5)
    per_clip = (ck["saved_bytes"] + ck["recompute_bytes"]) / 2
    assert est["prior_bottom"]["gpus"]["H100 SXM 80 GB"][1]["mem_gib"] == pytest.approx(
        (16 * ck["params"] + per_clip * 2 * G.ACTIVATION_OVERHEAD) / 2**30 + G.CUDA_CONTEXT_GIB)


def test_audit_flags_the_documented_cuda_errors():
    logits, codes = torch.randn(2, 4, 3, 3), torch.randint(0, 4, (2, 3, 3))
    assert "nll_loss2d_forward" in G.audit_ops(lambda: F.cross_entropy(logits, codes))
    flat = logits.movedim(1, -1).reshape(-1, 4)
    assert G.audit_ops(lambda: F.cross_entropy(flat, codes.reshape(-1))) == {}  # the 2-D form is not listed
    assert "cumsum" in G.audit_ops(lambda: torch.rand(5).cumsum(0))
    assert G.audit_ops(lambda: torch.arange(5).cumsum(0)) == {}  # integer cumsum is deterministic


def test_aten_ops_counts_every_dispatched_op_of_forward_backward_and_step():
    """(x @ w).sum() without a graph dispatches exactly 2 computing ops (mm, sum), and a view (.t())
    adds none; with the backward more, the same number every time, and one more layer more again."""
    w = torch.randn(4, 3, requires_grad=True)
    x, w0 = torch.randn(2, 4), torch.randn(4, 3)
    forward = G.aten_ops(lambda: (x @ w0).sum())
    assert forward == 2 == G.aten_ops(lambda: (x @ w0.t().t()).sum())  # mm, sum

    def step(*layers):
        for p in layers:
            p.grad = None  # a first gradient is written, a later one added (one op more)
        out = x
        for p in layers:
            out = out @ p
        out.sum().backward()

    one = G.aten_ops(lambda: step(w))
    assert one == G.aten_ops(lambda: step(w)) and one > forward
    v = torch.randn(3, 3, requires_grad=True)
    assert G.aten_ops(lambda: step(w, v)) > one


def test_aten_ops_agrees_with_a_dispatch_mode_on_eager_code_and_leaves_compiled_kernels_out():
    """The profiler's count is the dispatch mode's (which would make compiled code run eagerly) on a
    prior's eager training step; a compiled function's fused kernel is no ATen op."""
    from genvid.models.vq.pixelsnail3d import PixelSNAIL3d, PixelSNAILConfig

    torch.manual_seed(0)
    model = PixelSNAIL3d(PixelSNAILConfig(num_codes=4, shape=(2, 3, 3), channels=4, res_blocks=2, snail_blocks=1,
                                          kernel_size=3, attention=True, dropout=0.1))
    codes = torch.randint(0, 4, (2, 2, 3, 3))

    def step():
        model.zero_grad(set_to_none=True)
        model.loss(codes).backward()

    dispatched = 0

    def visit(func, args):
        nonlocal dispatched
        dispatched += not func.is_view

    G.dispatched(step, visit)
    assert G.aten_ops(step) == dispatched > 100
    x = torch.randn(64)
    fused = torch.compile(lambda t: (t.sin().cos() * 2).sum(), dynamic=False)
    fused(x)
    assert G.aten_ops(lambda: (x.sin().cos() * 2).sum()) == 4 > G.aten_ops(lambda: fused(x))
