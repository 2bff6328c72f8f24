"""Golden bit fingerprints per CPU vendor (issue 19): the op families and a few training steps of
every network, under genvid's pins (tests/_golden_cases.py), against tests/data/golden/cpu.json.

- This machine's vendor has a record: every case must print the recorded hash; a difference
  names the op or model (another CPU generation of the vendor, a changed pin, a changed torch).
- Records of two vendors must agree on every case but the ``vendor_dependent`` ones (torch's own
  sqrt and the AdamW that uses it, which genvid replaced): the README's claim that training
  reproduces across vendors, checked wherever the records are.
- A vendor without a record skips, saying how to add one:
  ``GENVID_RECORD_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py``, then commit the file.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, venv_env
from genvid.determinism import cpu_info

GOLDEN = ROOT / "tests/data/golden/cpu.json"
THREADS = 1


@pytest.fixture(scope="module")
def measured() -> dict[str, str]:
    out = subprocess.run([sys.executable, str(ROOT / "tests/_golden_cases.py"), str(THREADS)], cwd=ROOT,
                         env=venv_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def _golden() -> dict:
    return json.loads(GOLDEN.read_text())


def _describe() -> dict[str, str]:
    info = cpu_info()
    return {"cpu": info["model"], "torch": torch.__version__, "threads": str(THREADS)}


def test_this_machine_computes_every_case_as_recorded(measured):
    golden, vendor = _golden(), cpu_info()["vendor"] or "unknown"
    if os.environ.get("GENVID_RECORD_GOLDEN"):
        golden["records"][vendor] = {**_describe(), "cases": measured}
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"recorded {len(measured)} cases for {vendor} in {GOLDEN.relative_to(ROOT)}")
    record = golden["records"].get(vendor)
    if record is None:
        pytest.skip(f"no golden record for CPU vendor {vendor} yet (recorded: {', '.join(golden['records'])}): "
                    f"GENVID_RECORD_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py, then commit "
                    f"{GOLDEN.relative_to(ROOT)}")
    assert set(measured) == set(record["cases"]), "the cases changed: record them again"
    differ = [case for case in sorted(measured) if measured[case] != record["cases"][case]]
    assert not differ, (f"{', '.join(differ)}: computed differently here ({cpu_info()['model']}) than on the "
                        f"{vendor} machine that recorded them ({record['cpu']}, torch {record['torch']})")


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
