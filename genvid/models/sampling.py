"""Autoregressive sampling from a PixelSNAIL3d prior (seed 000 §4.3.3; SPEC §6).

Both samplers fill the raster positions >= `start` of `codes` one at a time; positions
< `start` are the context (e.g. the first 8 of 16 frames) and are never altered.

- `sample_naive` runs the whole network on the whole clip for every position, as the seed 000
  code did: T*H*W positions of work per generated code. It is the reference.
- `sample_fast` runs the whole network once (the prefill, which records every causal conv's
  input, the attention features and keys/values), then per position recomputes only a small
  chunk of the current row: each causal conv reads its k x k x (chunk + k - 1) input window from
  its cache, attention reads the cached keys/values. Features at a position depend on earlier
  codes only, so everything cached before position p is final when p is generated.

Same draws. Each position consumes exactly one uniform per clip from `generator`, in the same
order in both samplers, and picks its code by inverse CDF on logits processed identically
(temperature, then top-k). Equal logits therefore give bitwise equal samples.

Same logits. The fast path calls the same ops (F.conv3d with the same dense kernel on the same
input values, the same F.linear 1x1 convs, `attend` over the full-length key cache with the
same mask rows); only the number of output positions differs, and the chunk is sized so that
the CPU kernels sum in the same order as for the whole clip (`chunk_size`). Tests check the
logits with torch.equal. That is a property of the kernels, not a theorem: another library
or a GPU may pick another algorithm for a smaller output, and then logits differ in the last
bits and a sample differs only when a uniform falls within that rounding of a CDF boundary.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from genvid.errors import GenvidError
from genvid.models.pixelsnail3d import CausalConv3d, PixelSNAIL3d


def sample_naive(model: PixelSNAIL3d, codes: torch.Tensor, start: int, generator: torch.Generator,
                 temperature: float = 1.0, top_k: int | None = None,
                 cond: torch.Tensor | None = None) -> torch.Tensor:
    """Fill positions >= start one by one, a full forward pass per position. Returns new codes."""
    _check(model, codes, start, cond, temperature, top_k)
    codes, flat = _prepare(codes, start)
    with _eval(model), torch.inference_mode():
        for p in range(start, flat.shape[1]):
            logits = model(codes, cond).flatten(2)[:, :, p]
            flat[:, p] = _draw(logits, _uniform(generator, flat), temperature, top_k)
    return codes


def sample_fast(model: PixelSNAIL3d, codes: torch.Tensor, start: int, generator: torch.Generator,
                temperature: float = 1.0, top_k: int | None = None,
                cond: torch.Tensor | None = None) -> torch.Tensor:
    """Same samples as `sample_naive` (same generator state), recomputing a few positions per code."""
    _check(model, codes, start, cond, temperature, top_k)
    codes, flat = _prepare(codes, start)
    if start == flat.shape[1]:
        return codes  # all context, nothing to generate
    with _eval(model), torch.inference_mode():
        state = _ChunkCache(model, codes, cond)
        logits = state.prefill_logits[:, :, start]
        for p in range(start, flat.shape[1]):
            if p > start:
                logits = state.step(p, flat[:, p - 1])
            flat[:, p] = _draw(logits, _uniform(generator, flat), temperature, top_k)
    return codes


def _check(model, codes, start, cond, temperature, top_k) -> None:
    model.check_inputs(codes, cond)
    n, k = model.config.length, model.config.num_codes
    if isinstance(start, bool) or not isinstance(start, int) or not 1 <= start <= n:
        raise GenvidError(f"start={start!r} is outside [1, {n}]: the clip has {n} code positions "
                          f"and at least the first one is context")
    if not temperature > 0:
        raise GenvidError(f"temperature must be > 0, got {temperature!r}")
    if top_k is not None and not 1 <= top_k <= k:
        raise GenvidError(f"top_k must be in [1, {k}] (K={k}), got {top_k!r}")


def _prepare(codes: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A copy of the codes with the positions to generate zeroed (seed 000 §4.3.3), and its flat view."""
    codes = codes.to(torch.long, copy=True).contiguous()
    flat = codes.view(codes.shape[0], -1)
    flat[:, start:] = 0
    return codes, flat


class _eval:
    """Eval mode (no dropout) inside the block, the caller's mode restored after."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.was_training = model, model.training

    def __enter__(self):
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


def _uniform(generator: torch.Generator, flat: torch.Tensor) -> torch.Tensor:
    """One uniform in (0, 1] per clip, drawn on the generator's device in float64."""
    u = torch.rand(flat.shape[0], generator=generator, dtype=torch.float64, device=generator.device)
    return (1.0 - u).to(flat.device)


def _draw(logits: torch.Tensor, u: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    """Inverse-CDF draw from softmax(logits / temperature) restricted to the top-k logits.
    u in (0, 1] never picks a zero-probability code."""
    logits = logits.float() / temperature
    if top_k is not None:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    cdf = torch.softmax(logits, dim=-1).double().cumsum(dim=-1)
    index = (cdf < u.unsqueeze(1) * cdf[:, -1:]).sum(dim=-1)
    return index.clamp_(max=logits.shape[-1] - 1)


def chunk_size(shape: tuple[int, int, int], batch: int) -> int:
    """Positions the fast sampler recomputes per step (a piece of the current row, or whole
    rows when a row is shorter). Small, but large enough that the CPU kernels give the same
    bits as on the whole clip. Measured (MKL/oneDNN, float32, 1-2 threads): matrix products
    give the clip's bits from 4-8 rows of output on; a batch of 1 convolves by vol2col + GEMM,
    which needs >= 12 output positions; larger batches go to oneDNN, fine at any size."""
    return max(4, -(-16 // batch))


class _ChunkCache:
    """For the whole clip: the input of every causal conv (padded, as the conv sees it), the
    features each attention block makes keys from, the keys/values, the conditioning."""

    def __init__(self, model: PixelSNAIL3d, codes: torch.Tensor, cond: torch.Tensor | None):
        self.model, cfg = model, model.config
        self.k, self.r = cfg.kernel_size, cfg.kernel_size // 2
        self.shape, self.batch = cfg.shape, codes.shape[0]
        self.chunk = chunk_size(cfg.shape, self.batch)
        self.convs = [model.stem] + [layer.conv1 for block in model.blocks for layer in block.layers]
        self.kernels = {conv: conv.kernel() for conv in self.convs}  # same values as every forward
        self.inputs: dict[CausalConv3d, torch.Tensor] = {}
        self.feats, self.keys, self.values = {}, {}, {}
        self.conds: list[torch.Tensor] = []
        hooks = [conv.register_forward_pre_hook(self._record_conv_input) for conv in self.convs]
        for block in model.blocks:
            if block.attn is not None:
                hooks.append(block.attn.register_forward_pre_hook(self._record_attention_input))
                hooks.append(block.attn.key.register_forward_hook(self._record_keys(block.attn, self.keys)))
                hooks.append(block.attn.value.register_forward_hook(self._record_keys(block.attn, self.values)))
        if model.cond is not None:
            hooks.append(model.cond.register_forward_hook(lambda mod, args, out: self.conds.extend(out)))
        try:
            self.prefill_logits = model(codes, cond).flatten(2)  # [B, K, T*H*W]
        finally:
            for hook in hooks:
                hook.remove()

    def _record_conv_input(self, conv, args):
        # Stored channels-last [B, T', H', W', C]: a conv window is then a few long runs of memory.
        self.inputs[conv] = F.pad(args[0], conv.padding()).permute(0, 2, 3, 4, 1).contiguous()

    def _record_attention_input(self, attn, args):
        self.feats[attn] = args[1].clone()  # h, the features keys/values are made from

    def _record_keys(self, attn, store):
        def hook(module, args, out):
            store[attn] = attn.split(out).contiguous()  # [B, heads, d, T*H*W]
        return hook

    def step(self, p: int, previous: torch.Tensor) -> torch.Tensor:
        """Logits [B, K] at flat position p, given the code just drawn at p - 1."""
        model, k, r = self.model, self.k, self.r
        stem_in = self.inputs[model.stem]  # padded x0, channels-last
        tp, hp, wp = self._unravel(p - 1)
        stem_in[:, tp + k - 1, hp + r, wp + r] = model.embed.weight[previous]
        if self.feats:  # keys/values of position p - 1 need its code: make them now
            chunk, _, here, _ = self._chunk(p - 1)
            x0 = stem_in[:, tp + k - 1: tp + k, chunk[3].start + r: chunk[3].stop + r,
                         chunk[4].start + r: chunk[4].stop + r].permute(0, 4, 1, 2, 3)
            pos = model.pos[chunk].expand(self.batch, -1, -1, -1, -1)
            for attn in self.feats:
                key, value = attn.keys_values(x0, self.feats[attn][chunk], pos)
                self.keys[attn][..., p - 1] = key[here].view_as(self.keys[attn][..., 0])
                self.values[attn][..., p - 1] = value[here].view_as(self.values[attn][..., 0])

        t, h, w = self._unravel(p)
        chunk, window, here, queries = self._chunk(p)
        x = self._conv(model.stem, window)
        if self.conds:
            x = x + self.conds[0][chunk]
        for i, block in enumerate(model.blocks):
            if len(self.conds) > 1:
                x = x + self.conds[1 + i][chunk]
            for layer in block.layers:
                self.inputs[layer.conv1][:, t + k - 1, h + r, w + r] = F.elu(x)[here]
                x = layer.gate(x, self._conv(layer.conv1, window))
            if block.attn is not None:
                self.feats[block.attn][:, :, t, h, w] = x[here]
                q = block.attn.query(torch.cat([x, model.pos[chunk].expand_as(x[:, :3])], dim=1))
                a = block.attn.attend(q, self.keys[block.attn], self.values[block.attn], model.allowed[queries])
                x = block.attn_out(x, a)
        return model.head(F.elu(x))[here]

    def _unravel(self, p: int) -> tuple[int, int, int]:
        _, height, width = self.shape
        return p // (height * width), (p // width) % height, p % width

    def _chunk(self, p: int) -> tuple[tuple, tuple, tuple, slice]:
        """The positions recomputed for p: `self.chunk` consecutive positions of p's row that
        include p (or whole rows of p's frame when rows are shorter). Returns indices into
        [B, C, T, H, W] for the chunk, into the causal convs' padded channels-last input for its
        window, for p within the chunk, and the chunk's flat positions (its rows of `allowed`)."""
        _, height, width = self.shape
        t, h, w = self._unravel(p)
        rows = min(height, -(-self.chunk // width))
        cols = width if rows > 1 else self.chunk
        h0 = min(max(h - rows + 1, 0), height - rows)
        w0 = min(max(w - cols + 1, 0), width - cols)
        all_ = slice(None)
        chunk = (all_, all_, slice(t, t + 1), slice(h0, h0 + rows), slice(w0, w0 + cols))
        window = (all_, slice(t, t + self.k), slice(h0, h0 + rows + self.k - 1), slice(w0, w0 + cols + self.k - 1))
        first = (t * height + h0) * width + w0
        return chunk, window, (all_, all_, 0, h - h0, w - w0), slice(first, first + (rows - 1) * width + cols)

    def _conv(self, conv: CausalConv3d, window: tuple) -> torch.Tensor:
        """Output of a causal conv on the chunk, from its cached input. Outputs after p read
        stale inputs; only p's is kept. The window is made contiguous [B, C, k, ., .] as in
        the forward pass (a channels-last input makes oneDNN sum in another order)."""
        x = self.inputs[conv][window].permute(0, 4, 1, 2, 3).contiguous()
        return F.conv3d(x, self.kernels[conv], conv.bias)
