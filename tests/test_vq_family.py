"""genvid/models/vq/family.py helpers: which training clips the VQ-VAE's reconstruction is scored on."""
from torch.utils.data import Subset

from genvid.models.vq.family import TRAIN_EVAL_CLIPS, evenly_spaced


def test_evenly_spaced_keeps_both_ends_and_caps_the_count():
    clips = list(range(1600))
    picked = evenly_spaced(clips, 256)
    assert isinstance(picked, Subset) and len(picked) == 256
    assert picked.indices[0] == 0 and picked.indices[-1] == 1599
    gaps = {b - a for a, b in zip(picked.indices, picked.indices[1:])}
    assert gaps <= {6, 7}  # 1599 / 255 = 6.27: as even as whole indices allow
    few = clips[:10]
    assert evenly_spaced(few, TRAIN_EVAL_CLIPS) is few  # a split under the cap is scored whole
