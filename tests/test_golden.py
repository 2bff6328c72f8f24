"""Golden bit fingerprints per CPU vendor (issue 19): the op families and a few training steps of
every network, under genvid's pins (tests/_golden_cases.py), against tests/data/golden/cpu.json.

- This machine's vendor has a record: every case must print the recorded hash; a difference
  names the op or model (another CPU generation of the vendor, a changed pin, a changed torch).
- Records of two vendors must agree on every case but the ``vendor_dependent`` ones (torch's own
  sqrt and the AdamW that uses it, which genvid replaced): docs/reproducibility.md's claim that training
  reproduces across vendors, checked wherever the records are.
- A case this machine's vendor has no record of (a vendor without a record, a case added on another
  vendor's machine) is checked against another vendor's record, as the records must agree on it
  (not the vendor-dependent ones, nor those ``one_vendor_so_far`` lists, whose agreement is in
  doubt); the test then skips, saying how to record this vendor's:
  ``GENVID_RECORD_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py``, then commit the file.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, venv_env
from genvid.determinism import cpu_info
from genvid.machine import cpu_generation

GOLDEN = ROOT / "tests/data/golden/cpu.json"
THREADS = 1


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Every case's digest, and each training case's aten ops, recorded in the same run (the recording
    re-dispatches every op as it is: the digests are the golden ones)."""
    ops = tmp_path_factory.mktemp("golden") / "ops.json"
    out = subprocess.run([sys.executable, str(ROOT / "tests/_golden_cases.py"), str(THREADS), "--ops-to", str(ops)],
                         cwd=ROOT, env=venv_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout), json.loads(ops.read_text())


@pytest.fixture(scope="module")
def measured(cases) -> dict[str, str]:
    return cases[0]


def _golden() -> dict:
    return json.loads(GOLDEN.read_text())


def _describe() -> dict[str, str]:
    info = cpu_info()
    return {"cpu": info["model"], "torch": torch.__version__, "threads": str(THREADS)}


def expected_cases(golden: dict, vendor: str, generation: str = "") -> dict[str, tuple[str, str]]:
    """Each case's recorded hash and where it was recorded: this vendor's record, and for a case it
    lacks (added since) another vendor's, unless the case is a documented vendor-dependent one or
    one whose agreement is in doubt (``one_vendor_so_far``); the records must agree on every other case.
    A generation-dependent case (``generation_dependent``: oneDNN blocks it by the CPU's caches) is
    checked against this CPU generation's record where there is one, else against this vendor's only."""
    own_only = (set(golden["vendor_dependent"]) | set(golden.get("one_vendor_so_far", {}))
                | set(golden.get("generation_dependent", {})))
    expected = {}
    for other, record in golden["records"].items():
        if other != vendor:
            expected.update({case: (digest, f"{other}'s {record['cpu']}") for case, digest in record["cases"].items()
                             if case not in own_only})
    own = golden["records"].get(vendor)
    if own is not None:
        expected.update({case: (digest, f"{vendor}'s {own['cpu']}") for case, digest in own["cases"].items()})
    mine = golden.get("generations", {}).get(generation)
    if mine is not None:
        expected.update({case: (digest, f"{generation} ({mine['cpu']})") for case, digest in mine["cases"].items()})
    return expected


def _record(golden: dict, vendor: str, generation: str, measured: dict[str, str], how: str) -> str:
    """GENVID_RECORD_GOLDEN=1: this vendor's record (every case); =generation: this CPU generation's
    record of the generation-dependent cases only (its vendor's record stays as it is)."""
    if how == "generation":
        cases = {c: d for c, d in measured.items() if c in golden.get("generation_dependent", {})}
        golden.setdefault("generations", {})[generation] = {**_describe(), "cases": cases}
        return f"recorded {len(cases)} generation-dependent cases for {generation}"
    golden["records"][vendor] = {**_describe(), "cases": measured}
    return f"recorded {len(measured)} cases for {vendor}"


def test_this_machine_computes_every_case_as_recorded(measured):
    golden, vendor, generation = _golden(), cpu_info()["vendor"] or "unknown", cpu_generation()
    if os.environ.get("GENVID_RECORD_GOLDEN"):
        said = _record(golden, vendor, generation, measured, os.environ["GENVID_RECORD_GOLDEN"])
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"{said} in {GOLDEN.relative_to(ROOT)}")
    expected = expected_cases(golden, vendor, generation)
    gone = sorted(set(expected) - set(measured))
    assert not gone, f"{', '.join(gone)}: recorded but no longer computed: record the cases again"
    differ = {case for case in expected if measured[case] != expected[case][0]}
    unknown_generation = {case for case in differ if case in golden.get("generation_dependent", {})
                          and case not in golden.get("generations", {}).get(generation, {}).get("cases", {})}
    named = [f"{case} (recorded on {expected[case][1]})" for case in sorted(differ - unknown_generation)]
    assert not named, f"{', '.join(named)}: computed differently here ({generation}, torch {torch.__version__})"
    if unknown_generation:
        pytest.skip(f"{', '.join(sorted(unknown_generation))}: computed otherwise than on {vendor}'s record, as "
                    f"golden's generation_dependent says a CPU generation may ({generation} has no record of its own "
                    f"yet): GENVID_RECORD_GOLDEN=generation .venv/bin/python -m pytest tests/test_golden.py, then "
                    f"commit {GOLDEN.relative_to(ROOT)}; the DAG's outputs of what the case trains will differ from the lock here")
    unrecorded = sorted(set(measured) - set(golden["records"].get(vendor, {}).get("cases", {})))
    if unrecorded:
        pytest.skip(f"{len(expected)} cases as recorded; {vendor} has no record of {', '.join(unrecorded)} yet: "
                    f"GENVID_RECORD_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py, then commit "
                    f"{GOLDEN.relative_to(ROOT)}")


def test_a_case_a_vendor_lacks_is_checked_against_another_vendors_record():
    golden = {"records": {"A": {"cpu": "a1", "cases": {"x": "1", "sqrt": "2"}},
                          "B": {"cpu": "b1", "cases": {"x": "1", "sqrt": "3", "new": "4"}}},
              "vendor_dependent": {"sqrt": "why"}}
    assert expected_cases(golden, "A") == {"x": ("1", "A's a1"), "sqrt": ("2", "A's a1"), "new": ("4", "B's b1")}
    assert expected_cases(golden, "C") == {"x": ("1", "B's b1"), "new": ("4", "B's b1")}
    golden["one_vendor_so_far"] = {"new": "in doubt"}
    assert expected_cases(golden, "A") == {"x": ("1", "A's a1"), "sqrt": ("2", "A's a1")}
    assert expected_cases(golden, "B")["new"] == ("4", "B's b1")


def test_a_generation_dependent_case_is_checked_against_its_generations_record():
    golden = {"records": {"A": {"cpu": "a1", "cases": {"x": "1", "big": "5"}},
                          "B": {"cpu": "b1", "cases": {"x": "1", "big": "5"}}},
              "vendor_dependent": {}, "generation_dependent": {"big": "oneDNN blocks it by the caches"},
              "generations": {"A family 1 model 2": {"cpu": "a2", "cases": {"big": "6"}}}}
    assert expected_cases(golden, "A", "A family 1 model 2") == {"x": ("1", "A's a1"), "big": ("6", "A family 1 model 2 (a2)")}
    assert expected_cases(golden, "A", "A family 1 model 3") == {"x": ("1", "A's a1"), "big": ("5", "A's a1")}
    assert expected_cases(golden, "C", "C family 1 model 1") == {"x": ("1", "B's b1")}  # not across vendors
    measured = {"x": "1", "big": "7"}
    said = _record(golden, "A", "A family 1 model 3", measured, "generation")
    assert golden["generations"]["A family 1 model 3"]["cases"] == {"big": "7"}  # the generation's cases only
    assert golden["records"]["A"]["cases"] == {"x": "1", "big": "5"} and "1 generation-dependent" in said


def test_generation_records_hold_only_generation_dependent_cases():
    golden = _golden()
    allowed = set(golden.get("generation_dependent", {}))
    for generation, record in golden.get("generations", {}).items():
        assert set(record["cases"]) <= allowed, f"{generation}: {sorted(set(record['cases']) - allowed)}"
        assert re.fullmatch(r"\S+ family \d+ model \d+", generation), generation


def test_vendors_agree_except_where_documented():
    golden = _golden()
    allowed = set(golden["vendor_dependent"])
    records = list(golden["records"].items())
    for (a, ra), (b, rb) in zip(records, records[1:]):
        shared = set(ra["cases"]) & set(rb["cases"])
        differ = sorted(c for c in shared - allowed if ra["cases"][c] != rb["cases"][c])
        assert not differ, f"{', '.join(differ)}: {a} and {b} compute these differently"


def test_the_golden_cases_cover_every_network(measured):
    from genvid.models import registry

    networks = {f"train:{name}" for name, spec in registry.MODELS.items() if spec.network is not None}
    priors = {f"train:{m}.prior_{level}" for m in ("vq", "vq_action") for level in ("top", "bottom")}
    assert networks | priors | {"train:vq.vqvae"} <= set(measured)


def _train_cases(*flags: str) -> dict[str, str]:
    out = subprocess.run([sys.executable, str(ROOT / "tests/_golden_cases.py"), str(THREADS), "--train-only", *flags],
                         cwd=ROOT, env=venv_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_every_network_trains_channels_last(measured):
    """params device.channels_last on the CPU: every network's training runs with NHWC/NDHWC weights
    (no view of a permuted layout breaks), and one without 4D/5D weights (the PixelSNAIL priors, whose
    taps are 3D) computes bit for bit as in the default layout."""
    got = _train_cases("--channels-last")
    assert set(got) == {case for case in measured if case.startswith("train:")}
    for case in ("train:vq.prior_top", "train:vq.prior_bottom", "train:vq_action.prior_top"):
        assert got[case] == measured[case], case


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_two_cuda_trainings_in_bf16_channels_last_give_the_same_bytes():
    """Issue 25: every network, three steps on CUDA with the thesis profile's arithmetic (bf16 autocast,
    channels-last weights, deterministic kernels), twice in two processes: the same weights."""
    flags = ("--device", "cuda", "--precision", "bf16", "--channels-last")
    first, second = _train_cases(*flags), _train_cases(*flags)
    differ = sorted(case for case in first if first[case] != second[case])
    assert not differ, f"{', '.join(differ)}: two CUDA trainings differ"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_two_compiled_cuda_trainings_give_the_same_bytes():
    """The thesis profile's device section in full (device.compile: the priors' SNAIL blocks through
    Inductor, in its deterministic mode), twice in two processes: the same weights."""
    flags = ("--device", "cuda", "--precision", "bf16", "--channels-last", "--compile")
    first, second = _train_cases(*flags), _train_cases(*flags)
    differ = sorted(case for case in first if first[case] != second[case])
    assert not differ, f"{', '.join(differ)}: two compiled CUDA trainings differ"


# The aten ops behind the entries of torch.use_deterministic_algorithms' list of operations that "will
# throw a RuntimeError" on CUDA (torch 2.13's docstring), by the documented name they stand for.
THROWS_ON_CUDA = {
    "torch.nn.AvgPool3d": {"aten::avg_pool3d_backward"},
    "torch.nn.AdaptiveAvgPool2d": {"aten::_adaptive_avg_pool2d_backward"},
    "torch.nn.AdaptiveAvgPool3d": {"aten::_adaptive_avg_pool3d_backward"},
    "torch.nn.AdaptiveMaxPool2d": {"aten::adaptive_max_pool2d_backward"},
    "torch.nn.FractionalMaxPool2d": {"aten::fractional_max_pool2d_backward"},
    "torch.nn.FractionalMaxPool3d": {"aten::fractional_max_pool3d_backward"},
    "torch.nn.MaxUnpool1d": {"aten::max_unpool2d"},  # 1d unpools through the 2d kernel
    "torch.nn.MaxUnpool2d": {"aten::max_unpool2d"},
    "torch.nn.MaxUnpool3d": {"aten::max_unpool3d"},
    "torch.nn.functional.interpolate": {"aten::upsample_linear1d_backward", "aten::upsample_bilinear2d_backward",
                                        "aten::upsample_bicubic2d_backward", "aten::upsample_trilinear3d_backward"},
    "torch.nn.ReflectionPad1d": {"aten::reflection_pad1d_backward"},
    "torch.nn.ReflectionPad2d": {"aten::reflection_pad2d_backward"},
    "torch.nn.ReflectionPad3d": {"aten::reflection_pad3d_backward"},
    "torch.nn.NLLLoss": {"aten::nll_loss2d_forward"},  # the 1D loss (the priors') ran on the GPU check's H100
    "torch.nn.CTCLoss": {"aten::_ctc_loss_backward"},
    "torch.nn.EmbeddingBag": {"aten::_embedding_bag_backward", "aten::_embedding_bag_dense_backward"},
    "torch.Tensor.put_": {"aten::put_", "aten::put"},
    "torch.histc": {"aten::histc"},
    "torch.bincount": {"aten::bincount"},
    "torch.median": {"aten::median"},
    "torch.nn.functional.grid_sample": {"aten::grid_sampler_2d_backward", "aten::grid_sampler_3d_backward"},
    "torch.cumsum": {"aten::cumsum", "aten::cumsum_"},
    "torch.Tensor.scatter_reduce": {"aten::scatter_reduce", "aten::scatter_reduce_"},
    "torch.Tensor.resize_": set(),  # quantized tensors only: genvid has none
}


def _documented_throwing_operations() -> set[str]:
    doc = torch.use_deterministic_algorithms.__doc__
    section = doc[doc.index("operations will throw a"):doc.index("In addition, several operations")]
    return set(re.findall(r"^\s+\* :(?:class|func):`([^`]+)`", section, flags=re.M))


def test_the_op_list_covers_torchs_own_list_of_operations_without_deterministic_cuda_kernels():
    assert _documented_throwing_operations() == set(THROWS_ON_CUDA), (
        "torch's list changed: map its new entries to aten ops in THROWS_ON_CUDA")


def test_no_network_trains_through_an_op_without_a_deterministic_cuda_kernel(cases):
    """The GPU check's first run on an H100 stopped at avg_pool3d's backward (the CVG discriminators):
    every network's three training steps here, on the CPU, must run none of the ops that throw under
    deterministic algorithms on CUDA, so the GPU cannot find the next one first."""
    ops = cases[1]
    from genvid.models import registry

    assert {f"train:{name}" for name, spec in registry.MODELS.items() if spec.network is not None} <= set(ops)
    banned = set().union(*THROWS_ON_CUDA.values())
    found = {case: sorted(banned & set(names)) for case, names in ops.items() if banned & set(names)}
    assert not found, f"ops without a deterministic CUDA kernel: {found}"
    assert "aten::convolution_backward" in ops["train:cvg.level1"]  # the recording reaches autograd's backward


def test_keep_going_records_a_failing_case_and_runs_the_rest():
    """The GPU check's identity part (--keep-going): a network that raises is one "error: ..." entry, the
    others still train; without the flag the first error stops the run, as the CPU tests want."""
    args = [sys.executable, str(ROOT / "tests/_golden_cases.py"), "1", "--train-only", "--only", "train:(svg_lp|vrnn)",
            "--precision", "fp7"]
    going = subprocess.run([*args, "--keep-going"], cwd=ROOT, env=venv_env(), capture_output=True, text=True)
    assert going.returncode == 0, going.stderr[-2000:]
    assert json.loads(going.stdout) == {
        f"train:{m}": f"error: GenvidError: {m}: precision must be one of fp32, bf16, got 'fp7'" for m in ("svg_lp", "vrnn")}
    stopped = subprocess.run(args, cwd=ROOT, env=venv_env(), capture_output=True, text=True)
    assert stopped.returncode != 0 and "precision must be one of" in stopped.stderr
