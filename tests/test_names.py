"""Issue 47: every name that becomes a path (a benchmark, a run, an ablation variant) is checked in one place,
genvid.layout.plain_name, and params names the file and key of a bad one. Generated over every kind of name."""
from __future__ import annotations

import copy

import pytest
import yaml

from conftest import ROOT
from genvid import layout
from genvid import params as P
from genvid.errors import GenvidError, ParamError
from genvid.profiles import apply, load_profile

BAD = ("a/b", "../escape", ".hidden", "a b", "", "-x", "a@b", "a\\b", "é")
GOOD = ("driving", "smmnist-gan_prior_noisy", "levels_1-8", "v2.1")


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def _renamed(raw: dict, section: str, old: str, new: str) -> dict:
    out = copy.deepcopy(raw)
    node = out
    for part in section.split("."):
        node = node[part]
    node[new] = node.pop(old)
    return out


@pytest.mark.parametrize("name", BAD)
def test_a_run_key_that_is_not_a_plain_name_is_refused_naming_the_file_and_key(raw, name):
    edited = _renamed(raw, "runs", "smmnist-vrnn", name)
    with pytest.raises(ParamError, match=rf"^p\.yaml: runs\.{__import__('re').escape(name)}: .* is not a plain name"):
        P.run(edited, name, "p.yaml")


@pytest.mark.parametrize("name", BAD)
def test_a_benchmark_key_that_is_not_a_plain_name_is_refused_naming_the_file_and_key(raw, name):
    edited = _renamed(raw, "benchmarks", "smmnist", name)
    with pytest.raises(ParamError, match=rf"^p\.yaml: benchmarks\.{__import__('re').escape(name)}: .* is not a plain"):
        P.benchmark(edited, name, "p.yaml")


@pytest.mark.parametrize("name", BAD)
def test_an_ablation_variant_that_is_not_a_plain_name_is_refused_naming_the_file_and_key(raw, name):
    from stages.ablate import variants

    raw = apply(raw, load_profile("paper", ROOT / "profiles"))  # the default profile ablates nothing (issue 48)
    run = next(iter(raw["ablations"]))
    edited = _renamed(raw, f"ablations.{run}.variants", next(iter(raw["ablations"][run]["variants"])), name)
    with pytest.raises(ParamError, match=rf"^p\.yaml: ablations\.{run}\.variants\..*is not a plain name"):
        variants(edited, P.run(edited, run, "p.yaml"), "p.yaml")


@pytest.mark.parametrize("name", BAD)
def test_every_path_of_a_run_or_benchmark_is_formed_from_a_checked_name(name, tmp_path):
    for form in (lambda: layout.run_paths(name, "smmnist", tmp_path), lambda: layout.run_paths("r", name, tmp_path),
                 lambda: layout.benchmark_paths(name, tmp_path), lambda: layout.ablation_dir(name, "smmnist", tmp_path),
                 lambda: layout.noisy_vq_dir(name, tmp_path)):
        with pytest.raises(GenvidError, match="is not a plain name"):
            form()
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", GOOD)
def test_plain_names_pass(name):
    assert layout.plain_name(name, "x") == name


def test_every_name_of_every_profile_is_plain(raw):
    from genvid.profiles import apply, load_profile

    for profile in (None, "paper", "thesis", "gpu", "tiny"):
        params = raw if profile is None else apply(raw, load_profile(profile, ROOT / "profiles"))
        names = [*params["benchmarks"], *params["runs"],
                 *(v for a in (params.get("ablations") or {}).values() for v in a.get("variants", {}))]
        assert all(layout.PLAIN_NAME.fullmatch(n) for n in names), (profile, names)


@pytest.mark.parametrize("dotted, call", [
    ("runs", lambda raw: P.run_names(raw, "p.yaml")),
    ("benchmarks", lambda raw: P.benchmark_names(raw, "p.yaml")),
    ("ablations.smmnist-hvrnn.variants", None),
])
def test_a_map_that_must_not_be_empty_is_refused_naming_the_file_and_key(raw, dotted, call):
    """Issue 47: an empty map once gave the stage an empty result (exit 0, a file with nothing in it)."""
    from stages.ablate import variants

    edited = copy.deepcopy(apply(raw, load_profile("paper", ROOT / "profiles")))  # the paper profile ablates
    node = edited
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[part]
    node[last] = {}
    run = None if call else P.run(edited, "smmnist-hvrnn", "p.yaml")
    with pytest.raises(ParamError, match=rf"^p\.yaml: section '{dotted}' is empty: it needs at least one"):
        call(edited) if call else variants(edited, run, "p.yaml")
