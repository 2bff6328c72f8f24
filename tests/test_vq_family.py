"""genvid/models/vq/family.py helpers: which training clips the VQ-VAE's reconstruction is scored on, and
the one batch shape it is scored at."""
import torch
from torch.utils.data import DataLoader, Subset

from genvid.models.vq.family import TRAIN_EVAL_CLIPS, evenly_spaced, full_batches


def test_evenly_spaced_keeps_both_ends_and_caps_the_count():
    clips = list(range(1600))
    picked = evenly_spaced(clips, 256)
    assert isinstance(picked, Subset) and len(picked) == 256
    assert picked.indices[0] == 0 and picked.indices[-1] == 1599
    gaps = {b - a for a, b in zip(picked.indices, picked.indices[1:])}
    assert gaps <= {6, 7}  # 1599 / 255 = 6.27: as even as whole indices allow
    few = clips[:10]
    assert evenly_spaced(few, TRAIN_EVAL_CLIPS) is few  # a split under the cap is scored whole


def test_full_batches_pads_the_short_last_batch_to_the_batch_shape_and_says_how_many_rows_are_real():
    clips = torch.arange(21 * 3 * 2, dtype=torch.float32).reshape(21, 3, 2) + 1  # no real clip is all zeros
    loader = DataLoader(clips, batch_size=8)
    batches = list(full_batches(loader, 8))
    assert [tuple(x.shape) for x, _ in batches] == [(8, 3, 2)] * 3  # one shape for every forward
    assert [n for _, n in batches] == [8, 8, 5]
    assert torch.equal(torch.cat([x[:n] for x, n in batches]), clips)  # the real rows, in order, unchanged
    assert torch.equal(batches[-1][0][5:], torch.zeros(3, 3, 2))  # the padding: zero clips after them
    whole = list(full_batches(DataLoader(clips[:16], batch_size=8), 8))
    assert [n for _, n in whole] == [8, 8] and torch.equal(torch.cat([x for x, _ in whole]), clips[:16])
