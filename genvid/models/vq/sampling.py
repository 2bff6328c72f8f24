"""Autoregressive sampling from a PixelSNAIL3d prior (seed 000 §4.3.3; docs/design.md §6).

Both samplers fill the raster positions >= `start` of `codes` one at a time; positions
< `start` are the context (e.g. the first 8 of 16 frames) and are never altered.

- `sample_naive` runs the whole network on the whole clip for every position, as the seed 000
  code did: T*H*W positions of work per generated code. It is the reference.
- `sample_fast` runs the whole network once (the prefill, which records the causal convs'
  inputs around the first generated position, the stacks' features there, the attention
  keys/values; the conditioning is computed once before it), then follows the prior's three stacks
  (genvid/models/vq/pixelsnail3d.py): the frame stack f of frame t depends on frames < t only, so
  it is computed once per frame, when the frame starts; the rows stack v of row (t, h) on the
  rows above, so once per row; only the row stack h (and attention) runs per position, on a
  small chunk of the current row. Each conv reads its input window from a cache that holds
  just the frames it needs (two for f's convs, one for v's and h's), so the cache is a few
  frames per layer, not the clip.

Same draws. Each position consumes exactly one uniform per clip from `generator`, in the same
order in both samplers, and picks its code by inverse CDF on logits processed identically
(temperature, then top-k). Equal logits therefore give bitwise equal samples.

Same logits. The fast path calls the same ops (F.conv3d with the same dense kernel on the same
input values, the same batched W x products for the 1x1 convs, `attend` over the full-length key cache with the
same mask rows); only the number of output positions differs: a frame for f, a block of rows
for v, a chunk for h, sized so that the CPU kernels sum in the same order as for the whole
clip (`chunk_size`). Tests check the logits with torch.equal. That is a property of the
kernels, not a theorem: another library or a GPU may pick another algorithm for a smaller
output, and then logits differ in the last bits and a sample differs only when a uniform falls
within that rounding of a CDF boundary.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from genvid.errors import GenvidError
from genvid.models.vq.causal_conv import CausalConv3d
from genvid.models.vq.pixelsnail3d import PixelSNAIL3d


def sample_naive(model: PixelSNAIL3d, codes: torch.Tensor, start: int, generator: torch.Generator,
                 temperature: float = 1.0, top_k: int | None = None, cond: torch.Tensor | None = None,
                 actions: torch.Tensor | None = None) -> torch.Tensor:
    """Fill positions >= start one by one, a full forward pass per position. Returns new codes."""
    _check(model, codes, start, cond, actions, temperature, top_k)
    codes, flat = _prepare(codes, start)
    with _eval(model), torch.inference_mode():
        for p in range(start, flat.shape[1]):
            logits = model(codes, cond, actions).flatten(2)[:, :, p]
            flat[:, p] = draw_codes(logits, _uniform(generator, flat), temperature, top_k)
    return codes


def sample_fast(model: PixelSNAIL3d, codes: torch.Tensor, start: int, generator: torch.Generator,
                temperature: float = 1.0, top_k: int | None = None, cond: torch.Tensor | None = None,
                actions: torch.Tensor | None = None) -> torch.Tensor:
    """Same samples as `sample_naive` (same generator state), recomputing a few positions per code."""
    _check(model, codes, start, cond, actions, temperature, top_k)
    codes, flat = _prepare(codes, start)
    if start == flat.shape[1]:
        return codes  # all context, nothing to generate
    with _eval(model), torch.inference_mode():
        state = _StackCache(model, codes, model.conditions(cond, actions), start)
        logits = state.prefill_logits[:, :, start]
        for p in range(start, flat.shape[1]):
            if p > start:
                logits = state.step(p, flat[:, p - 1])
            flat[:, p] = draw_codes(logits, _uniform(generator, flat), temperature, top_k)
    return codes


def window_start(grid: tuple[int, ...], clip_len: int, context: int) -> int:
    """First raster position generated in a ``clip_len``-frame window whose first ``context`` frames are
    known: the code steps of ``grid`` (T', H', W') that lie wholly inside the context are kept."""
    return context // (clip_len // grid[0]) * grid[1] * grid[2]


def _check(model, codes, start, cond, actions, temperature, top_k) -> None:
    model.check_inputs(codes, cond, actions)
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


def draw_codes(logits: torch.Tensor, u: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    """Inverse-CDF draw from softmax(logits / temperature) restricted to the top-k logits.
    u in (0, 1] never picks a zero-probability code. The CDF is always summed on the CPU: a
    floating cumsum on CUDA is nondeterministic (it raises under torch.use_deterministic_algorithms),
    and the CPU's sum makes a draw's bits the same whichever device computed the logits."""
    logits = logits.float() / temperature
    if top_k is not None:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1).double()
    cdf = probs.cumsum(dim=-1) if probs.device.type == "cpu" else probs.cpu().cumsum(dim=-1).to(probs.device)
    index = (cdf < u.unsqueeze(1) * cdf[:, -1:]).sum(dim=-1)
    return index.clamp_(max=logits.shape[-1] - 1)


def chunk_size(shape: tuple[int, int, int], batch: int) -> int:
    """Positions the fast sampler recomputes per step (a piece of the current row, or whole
    rows when a row is shorter). Small, but large enough that the CPU kernels give the same
    bits as on the whole clip. Measured (MKL/oneDNN, float32, 1-2 threads): the 1x1 convs'
    products (W x per clip, genvid.models.vq.pixelsnail3d.Pointwise) give the clip's bits from
    12-16 positions per clip on, whatever the batch (8 differ); a batch of 1 convolves by
    vol2col + GEMM, which needs >= 12 output positions; larger batches go to oneDNN, fine at
    any size. ``shape`` and ``batch`` do not change it."""
    return 16


class _ConvInput:
    """A causal conv's input as the conv sees it (padded), channels-last [B, T', H', W', C],
    for the padded frames [first, first + T'). Channels-last makes one position's write a
    single run of memory."""

    def __init__(self, conv: CausalConv3d, kernel: torch.Tensor, padded: torch.Tensor, first: int,
                 frames: int | None):
        self.conv, self.kernel, self.first = conv, kernel, first
        end = None if frames is None else first + frames
        self.data = padded[:, :, first:end].permute(0, 2, 3, 4, 1).contiguous()
        w_left, _, h_top, _, t_front, _ = conv.padding()
        self.pad = (t_front, h_top, w_left)

    def advance(self, t: int) -> None:
        """Hold the window of output frame t (the frames before it move down one slot)."""
        shift = t - self.first
        if shift > 0:
            keep = self.data.shape[1] - shift
            if keep > 0:
                self.data[:, :keep] = self.data[:, shift:].clone()
            self.first = t

    def write(self, t: int, h: slice | int, w: slice | int, values: torch.Tensor) -> None:
        """Store the input at frame t, rows h, columns w (unpadded coordinates); values channels-last."""
        pt, ph, pw = self.pad
        self.data[:, t + pt - self.first, _shifted(h, ph), _shifted(w, pw)] = values

    def output(self, t: int, h: slice, w: slice) -> torch.Tensor:
        """The conv's output at frame t, rows h, columns w, from the stored input. The window is
        made contiguous [B, C, ., ., .] as in the forward pass (a channels-last input makes
        oneDNN sum in another order)."""
        kt, kh, kw = self.conv.box
        x = self.data[:, t - self.first: t - self.first + kt, h.start: h.stop + kh - 1, w.start: w.stop + kw - 1]
        return F.conv3d(x.permute(0, 4, 1, 2, 3).contiguous(), self.kernel, self.conv.bias)


def _shifted(index: slice | int, by: int) -> slice | int:
    return index + by if isinstance(index, int) else slice(index.start + by, index.stop + by)


class _StackCache:
    """The prefill and the per-frame, per-row and per-position updates of the three stacks.

    Per frame t it holds, besides the conv inputs: f and v after the stems (v's and h's stems
    add them) and the ELU of each layer's f and v, which the 1x1 links f -> v and v -> h read:
    f's for the whole frame when the frame starts, v's row by row; a link runs on the positions
    recomputed."""

    def __init__(self, model: PixelSNAIL3d, codes: torch.Tensor, conds: list[torch.Tensor], start: int):
        self.model, cfg = model, model.config
        self.shape, self.batch = cfg.shape, codes.shape[0]
        self.chunk = chunk_size(cfg.shape, self.batch)
        self.layers = [layer for block in model.blocks for layer in block.layers]
        t0 = self._unravel(start)[0]
        stem = model.stem
        self.inputs: dict[CausalConv3d, _ConvInput] = {}
        stacks: list[tuple[torch.Tensor, torch.Tensor]] = []  # (f, v) of frame t0 after the stem, each layer
        self.feats, self.keys, self.values = {}, {}, {}
        self.conds = conds  # the top codes' and the actions' additions to h (PixelSNAIL3d.conditions)

        def record_input(conv, args):
            padded, kernel = F.pad(args[0], conv.padding()), conv.kernel()  # the kernel every forward uses
            if conv in (stem.frame, stem.rows, stem.row):  # the stems read codes: keep the clip
                self.inputs[conv] = _ConvInput(conv, kernel, padded, 0, None)
            else:  # a layer: the frames its window for frame t0 covers (padded frames t0..t0+kt-1)
                self.inputs[conv] = _ConvInput(conv, kernel, padded, t0, conv.box[0])

        def record_stacks(module, args, out):
            stacks.append((out[0][:, :, t0: t0 + 1].clone(), out[1][:, :, t0: t0 + 1].clone()))

        hooks = [conv.register_forward_pre_hook(record_input) for conv in self._convs()]
        hooks += [mod.register_forward_hook(record_stacks) for mod in [stem, *self.layers]]
        for block in model.blocks:
            if block.attn is not None:
                hooks.append(block.attn.register_forward_pre_hook(self._record_attention_input))
                hooks.append(block.attn.key.register_forward_hook(self._record_keys(block.attn, self.keys)))
                hooks.append(block.attn.value.register_forward_hook(self._record_keys(block.attn, self.values)))
        try:
            self.prefill_logits = model.logits(codes, conds).flatten(2)  # [B, K, T*H*W]
        finally:
            for hook in hooks:
                hook.remove()
        (self.f0, self.v0), layers_out = stacks[0], stacks[1:]
        self.f_elu = [F.elu(f) for f, _ in layers_out]  # ELU of each layer's f and v of the frame: what links read
        self.v_elu = [F.elu(v) for _, v in layers_out]
        self.x0 = model.embed_codes(codes) if self.feats else None  # attention keys read the codes

    def _convs(self) -> list[CausalConv3d]:
        stem = self.model.stem
        return [stem.frame, stem.rows, stem.row] + [
            stack.conv1 for layer in self.layers for stack in (layer.frame, layer.rows, layer.row)]

    def _record_attention_input(self, attn, args):
        self.feats[attn] = args[1].clone()  # h, the features keys/values are made from

    def _record_keys(self, attn, store):
        def hook(module, args, out):
            store[attn] = attn.split(out).contiguous()  # [B, heads, d, T*H*W]
        return hook

    def step(self, p: int, previous: torch.Tensor) -> torch.Tensor:
        """Logits [B, K] at flat position p, given the code just drawn at p - 1."""
        model, stem = self.model, self.model.stem
        tp, hp, wp = self._unravel(p - 1)
        code = model.embed.weight[previous]  # [B, C]
        for conv in (stem.frame, stem.rows, stem.row):
            self.inputs[conv].write(tp, hp, wp, code)
        if self.feats:  # keys/values of position p - 1 need its code: make them now
            self.x0[:, :, tp, hp, wp] = code
            chunk, here, _ = self._chunk(p - 1)
            pos = model.pos[chunk].expand(self.batch, -1, -1, -1, -1)
            for attn in self.feats:
                key, value = attn.keys_values(self.x0[chunk], self.feats[attn][chunk], pos)
                self.keys[attn][..., p - 1] = key[here].view_as(self.keys[attn][..., 0])
                self.values[attn][..., p - 1] = value[here].view_as(self.values[attn][..., 0])
        t, h, w = self._unravel(p)
        if (h, w) == (0, 0):
            self._frame(t)
        if w == 0:
            self._row(t, h)
        return self._position(p)

    def _frame(self, t: int) -> None:
        """The frame stack at frame t, all layers, on the whole frame: it depends on frames < t."""
        _, height, width = self.shape
        rows, cols = slice(0, height), slice(0, width)
        for layer in self.layers:  # the layers' caches move on to frame t (the stems' hold the clip)
            for stack in (layer.frame, layer.rows, layer.row):
                self.inputs[stack.conv1].advance(t)
        f = self.inputs[self.model.stem.frame].output(t, rows, cols)
        self.f0 = f
        e = F.elu(f)  # each layer's conv reads the ELU its predecessor's link reads
        for i, layer in enumerate(self.layers):
            conv_in = self.inputs[layer.frame.conv1]
            conv_in.write(t, rows, cols, e[:, :, 0].permute(0, 2, 3, 1))
            f = layer.frame.gate(f, conv_in.output(t, rows, cols))
            e = self.f_elu[i] = F.elu(f)

    def _row(self, t: int, h: int) -> None:
        """The rows stack at row (t, h), all layers, on a block of rows of frame t that holds h
        (rows after h read stale inputs; only row h is kept): it depends on the rows above."""
        _, height, width = self.shape
        n = min(height, -(-self.chunk // width))
        h0 = min(max(h - n + 1, 0), height - n)
        rows, cols, here = slice(h0, h0 + n), slice(0, width), h - h0
        v = self.inputs[self.model.stem.rows].output(t, rows, cols) + self.f0[:, :, :, rows]
        self.v0[:, :, :, h] = v[:, :, :, here]
        e = F.elu(v)
        for i, layer in enumerate(self.layers):
            conv_in = self.inputs[layer.rows.conv1]
            conv_in.write(t, h, cols, e[:, :, 0, here].permute(0, 2, 1))
            v = layer.rows.gate(v, conv_in.output(t, rows, cols), self.f_elu[i][:, :, :, rows])
            e = F.elu(v)
            self.v_elu[i][:, :, :, h] = e[:, :, :, here]

    def _position(self, p: int) -> torch.Tensor:
        """The row stack and attention on the chunk that holds p; p's logits."""
        model = self.model
        t, h, w = self._unravel(p)
        chunk, here, queries = self._chunk(p)
        rows, cols = chunk[3], chunk[4]
        x = self.inputs[model.stem.row].output(t, rows, cols) + self.v0[:, :, :, rows, cols]
        if self.conds:
            x = x + self.conds[0][chunk]
        i = 0
        for b, block in enumerate(model.blocks):
            if len(self.conds) > 1:
                x = x + self.conds[1 + b][chunk]
            for layer in block.layers:
                conv_in = self.inputs[layer.row.conv1]
                conv_in.write(t, h, w, F.elu(x)[here])
                x = layer.row.gate(x, conv_in.output(t, rows, cols), self.v_elu[i][:, :, :, rows, cols])
                i += 1
            if block.attn is not None:
                self.feats[block.attn][:, :, t, h, w] = x[here]
                q = block.attn.query(torch.cat([x, model.pos[chunk].expand_as(x[:, :3])], dim=1))
                a = block.attn.attend(q, self.keys[block.attn], self.values[block.attn], model.allowed[queries])
                x = block.attn_out(x, a)
        return model.head(F.elu(x))[here]
    def _unravel(self, p: int) -> tuple[int, int, int]:
        _, height, width = self.shape
        return p // (height * width), (p // width) % height, p % width

    def _chunk(self, p: int) -> tuple[tuple, tuple, slice]:
        """The positions recomputed for p: `self.chunk` consecutive positions of p's row that
        include p (or whole rows of p's frame when rows are shorter). Returns indices into
        [B, C, T, H, W] for the chunk and for p within it, and the chunk's flat positions (its
        rows of `allowed`)."""
        _, height, width = self.shape
        t, h, w = self._unravel(p)
        rows = min(height, -(-self.chunk // width))
        cols = width if rows > 1 else self.chunk
        h0 = min(max(h - rows + 1, 0), height - rows)
        w0 = min(max(w - cols + 1, 0), width - cols)
        all_ = slice(None)
        chunk = (all_, all_, slice(t, t + 1), slice(h0, h0 + rows), slice(w0, w0 + cols))
        first = (t * height + h0) * width + w0
        return chunk, (all_, all_, 0, h - h0, w - w0), slice(first, first + (rows - 1) * width + cols)
