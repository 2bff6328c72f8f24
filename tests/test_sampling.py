"""Naive and fast samplers: bitwise agreement, context untouched, determinism, input errors."""
import pytest
import torch

from conftest import gen
from genvid.errors import GenvidError
from genvid.models.vq import sampling
from genvid.models.vq.pixelsnail3d import PixelSNAIL3d, PixelSNAILConfig
from genvid.models.vq.sampling import sample_fast, sample_naive

torch.set_num_threads(1)

TOP = dict(num_codes=32, shape=(2, 4, 8), channels=32, res_blocks=1, snail_blocks=2, kernel_size=3,
           attention=True, heads=2, key_channels=8, value_channels=16, dropout=0.1)
BOTTOM = dict(num_codes=32, shape=(2, 8, 8), channels=32, res_blocks=1, snail_blocks=2, kernel_size=3,
              attention=False, cond_shape=(1, 4, 4), cond_num_codes=16, cond_res_blocks=1, dropout=0.1)


def build(params: dict, seed: int = 0) -> PixelSNAIL3d:
    """A random prior with weights scaled up, so that its logits are far from uniform and
    depend strongly on the context (as a trained prior's do): a wrong cache changes samples."""
    torch.manual_seed(seed)
    model = PixelSNAIL3d(PixelSNAILConfig.from_dict(params))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.5)
    return model


def inputs(model: PixelSNAIL3d, batch: int, seed: int = 1):
    cfg, g = model.config, torch.Generator().manual_seed(seed)
    codes = torch.randint(0, cfg.num_codes, (batch, *cfg.shape), generator=g)
    cond = None if cfg.cond_shape is None else torch.randint(0, cfg.cond_codes, (batch, *cfg.cond_shape), generator=g)
    return codes, cond


@pytest.mark.parametrize("params", [TOP, BOTTOM], ids=["top", "bottom"])
@pytest.mark.parametrize("batch", [1, 3])
def test_fast_sampler_gives_the_naive_samples_bitwise(params, batch):
    model = build(params)
    codes, cond = inputs(model, batch)
    start = model.config.length // 2  # the first half of the frames is context
    kwargs = dict(temperature=0.7, top_k=5, cond=cond)
    naive = sample_naive(model, codes, start, gen(7), **kwargs)
    fast = sample_fast(model, codes, start, gen(7), **kwargs)
    assert torch.equal(fast, naive)
    assert (fast.flatten(1)[:, start:] != 0).any()  # something was generated


@pytest.mark.parametrize("params", [TOP, BOTTOM], ids=["top", "bottom"])
@pytest.mark.parametrize("batch,start", [(2, 5), (1, 43)])
def test_fast_logits_equal_the_full_forward_bitwise(params, batch, start):
    """The cached stacks give the full forward's logits exactly (torch.equal, not a tolerance):
    same ops on the same values, blocks sized so CPU kernels sum in the same order. The starts
    lie inside a row of the first or the second frame, so the prefill's caches, new rows (the
    rows stack) and a new frame (the frame stack) are all exercised."""
    model = build(params).eval()
    codes, cond = inputs(model, batch=batch)
    n = model.config.length
    with torch.inference_mode():
        work, flat = sampling._prepare(codes, start)
        cache = sampling._StackCache(model, work, model.conditions(cond), start)
        assert torch.equal(cache.prefill_logits, model(work, cond).flatten(2))
        for p in range(start + 1, n):
            flat[:, p - 1] = codes.flatten(1)[:, p - 1]  # teacher forcing: the true codes
            step = cache.step(p, flat[:, p - 1])
            assert torch.equal(step, model(work, cond).flatten(2)[:, :, p]), f"position {p}"


def test_context_is_never_altered_and_input_is_not_modified():
    model = build(TOP)
    codes, _ = inputs(model, batch=2)
    before = codes.clone()
    for start in [1, 13, model.config.length - 1]:
        out = sample_fast(model, codes, start, gen(0))
        assert torch.equal(out.flatten(1)[:, :start], codes.flatten(1)[:, :start])
    assert torch.equal(codes, before)
    full = sample_fast(model, codes, model.config.length, gen(0))  # all context: unchanged
    assert torch.equal(full, codes)


def test_sampling_is_deterministic_per_seed_and_seeds_differ():
    model = build(BOTTOM)
    codes, cond = inputs(model, batch=2)
    a = sample_fast(model, codes, 64, gen(1), cond=cond)
    b = sample_fast(model, codes, 64, gen(1), cond=cond)
    c = sample_fast(model, codes, 64, gen(2), cond=cond)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_samples_stay_in_the_top_k_and_top_k_1_is_greedy():
    model = build(TOP).eval()
    codes, _ = inputs(model, batch=2)
    start = 16
    for top_k in [1, 3]:
        out = sample_fast(model, codes, start, gen(5), temperature=1.3, top_k=top_k)
        with torch.inference_mode():
            logits = model(out).flatten(2)  # logits at p depend only on the (final) codes < p
        ranks = (logits > logits.gather(1, out.flatten(1).unsqueeze(1))).sum(1)  # 0 = best code
        assert (ranks[:, start:] < top_k).all()
        if top_k == 1:
            assert torch.equal(out.flatten(1)[:, start:], logits.argmax(1)[:, start:])


def test_draw_follows_the_softmax():
    logits = torch.tensor([[2.0, 0.0, 1.0, -1.0]]).expand(4000, -1)
    u = 1.0 - torch.rand(4000, generator=gen(0), dtype=torch.float64)
    picked = sampling.draw_codes(logits, u, temperature=1.0, top_k=None)
    freq = torch.bincount(picked, minlength=4).double() / 4000
    torch.testing.assert_close(freq, torch.softmax(logits[0].double(), 0), atol=0.03, rtol=0)
    # u = 1 picks the last code allowed by top-k, never a masked one
    assert sampling.draw_codes(logits[:1], torch.ones(1, dtype=torch.float64), 1.0, top_k=2).item() == 2
    assert sampling.draw_codes(logits[:1], torch.full((1,), 1e-12, dtype=torch.float64), 1.0, top_k=2).item() == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_draw_on_cuda_in_deterministic_mode_picks_the_cpus_codes():
    """A floating cumsum raises on CUDA in deterministic mode: the CDF is summed on the CPU, so
    the same logits and uniforms pick the same codes on either device."""
    g = gen(3)
    logits = torch.randn(64, 32, generator=g) * 2
    u = 1.0 - torch.rand(64, generator=g, dtype=torch.float64)
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        for top_k in (None, 5):
            cuda = sampling.draw_codes(logits.cuda(), u.cuda(), 0.7, top_k)
            assert cuda.device.type == "cuda"
            assert torch.equal(cuda.cpu(), sampling.draw_codes(logits, u, 0.7, top_k))
    finally:
        torch.use_deterministic_algorithms(was)


def test_sampling_restores_training_mode():
    model = build(TOP).train()
    sample_fast(model, inputs(model, 1)[0], 60, gen(0))
    assert model.training


def test_bad_input_gives_one_line_errors():
    model = build(BOTTOM)
    codes, cond = inputs(model, batch=2)
    n = model.config.length
    bad_codes = codes.clone()
    bad_codes[1, 0, 3, 3] = 600
    cases = [
        (dict(codes=bad_codes), "latent codes contain index 600 but the prior has K=32"),
        (dict(start=0), rf"start=0 is outside \[1, {n}\]"),
        (dict(start=n + 1), rf"start={n + 1} is outside \[1, {n}\]: the clip has {n} code positions"),
        (dict(cond=cond[:, :, :3]),
         r"cond \(top\) codes are on grid \(1, 3, 4\) but this bottom prior was built for the top grid \(1, 4, 4\)"),
        (dict(cond=None), "needs the top codes"),
        (dict(temperature=0.0), "temperature must be > 0"),
        (dict(top_k=33), r"top_k must be in \[1, 32\]"),
    ]
    for sampler in (sample_naive, sample_fast):
        for change, message in cases:
            args = dict(codes=codes, start=n // 2, cond=cond, temperature=1.0, top_k=None) | change
            with pytest.raises(GenvidError, match=message) as err:
                sampler(model, args.pop("codes"), args.pop("start"), gen(0), **args)
            assert "\n" not in str(err.value)
