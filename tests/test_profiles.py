"""Profiles: the thesis overrides merge into params.yaml, validate, and build seed 000's models."""
import pytest
import torch

from genvid import params as P
from genvid.errors import GenvidError
from genvid.models.pixelsnail3d import count_parameters
from genvid.models.vqvae3d import VQVAE3D, VQVAEConfig
from genvid.priors import prior_config
from genvid.profiles import apply_profile, flatten, load_profile, merge
from genvid.train import TrainConfig


@pytest.fixture(scope="module")
def thesis(repo_root):
    return merge(P.read_params(repo_root / "params.yaml"), load_profile("thesis", repo_root / "profiles"))


def test_thesis_params_validate(thesis):
    for name in P.SCHEMA:
        P.validate_section(thesis, name)
    for name in ("train_vqvae", "train_prior_top", "train_prior_bottom"):
        TrainConfig.from_dict(thesis[name], prefix=name)
    assert thesis["collect"]["resolution"] == 256
    assert thesis["collect"]["episodes"] * thesis["collect"]["frames_per_episode"] == 208_000


def test_thesis_models_have_seed_000_sizes(thesis):
    cfg = VQVAEConfig.from_dict(thesis["vqvae"])
    assert (cfg.codebook_size, cfg.code_dim, cfg.res_blocks, cfg.res_channels, cfg.channels) == (512, 64, 5, 64, 128)
    with torch.device("meta"):
        model = VQVAE3D(cfg)
    top, bottom = model.code_shapes(16, 256, 256)
    assert (top, bottom) == ((4, 32, 32), (8, 64, 64))
    assert round(model.bits_reduction(16, 256, 256) * 100, 1) == 98.7
    info = {"shapes": {"top": top, "bottom": bottom}, "codebook_size": 512}
    top_params = count_parameters(prior_config(thesis["prior_top"], "top", info, "prior_top"))
    bottom_params = count_parameters(prior_config(thesis["prior_bottom"], "bottom", info, "prior_bottom"))
    assert 45e6 <= top_params <= 55e6      # seed 000 Table 5.4: ~50M
    assert 90e6 <= bottom_params <= 112e6  # seed 000 §5.3.2: 102M


def test_apply_profile_rewrites_params_and_rejects_typos(tmp_path, repo_root):
    params = tmp_path / "params.yaml"
    params.write_text((repo_root / "params.yaml").read_text())
    apply_profile("thesis", params, repo_root / "profiles")
    assert P.read_params(params)["vqvae"]["codebook_size"] == 512
    with pytest.raises(GenvidError, match="profile key vqvae.codebook_sise does not exist"):
        merge(P.read_params(params), {"vqvae": {"codebook_sise": 3}})
    with pytest.raises(GenvidError, match="no such profile"):
        load_profile("nope", repo_root / "profiles")
    assert flatten({"a": {"b": 1}, "c": 2}) == {"a.b": 1, "c": 2}
