import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT
from genvid.determinism import (DEFAULT_THREADS, NUMPY_ABOVE_X86_V3, cpu_info, params_path_from_argv,
                                pin_environment, rng_state, seed_everything, set_rng_state,
                                threads_from_params, x86_level)
from genvid.errors import ParamError


def draws():
    return random.random(), random.gauss(0, 1), np.random.rand(), np.random.randn(), torch.rand(1).item()


def test_seed_everything_repeats_every_stream():
    seed_everything(7)
    a = draws()
    seed_everything(7)
    assert draws() == a
    seed_everything(8)
    assert draws() != a
    assert torch.are_deterministic_algorithms_enabled()


def test_rng_state_round_trip_through_a_weights_only_checkpoint(tmp_path):
    seed_everything(3)
    random.gauss(0, 1)  # leaves a cached gaussian in python's state
    np.random.randn()   # and in numpy's
    state = rng_state()
    expected = draws()
    torch.save(state, tmp_path / "rng.pt")
    draws()
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert draws() == expected


# ----------------------------------------------------------------------------- machine pins (issue 10)


def test_pins_cap_every_isa_switch_at_avx2_and_fix_the_threads():
    env = {"OMP_NUM_THREADS": "16", "MKL_NUM_THREADS": "16", "OPENBLAS_NUM_THREADS": "8",
           "ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX", "MKL_CBWR": "AVX512"}
    pins = pin_environment(3, env)
    assert pins == {k: env[k] for k in pins}  # what it returns is what it wrote
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert env["ONEDNN_MAX_CPU_ISA"] == env["DNNL_MAX_CPU_ISA"] == "AVX2"
    assert env["MKL_CBWR"] == "COMPATIBLE" and env["MKL_DYNAMIC"] == "FALSE" and env["OMP_DYNAMIC"] == "FALSE"
    assert env["NPY_DISABLE_CPU_FEATURES"].split() == list(NUMPY_ABOVE_X86_V3)


def test_pins_keep_a_lower_level_already_asked_for():
    """Emulating an older CPU through the environment still works under the pins."""
    env = {"ATEN_CPU_CAPABILITY": "DEFAULT", "ONEDNN_MAX_CPU_ISA": "sse41", "NPY_DISABLE_CPU_FEATURES": "X86_V3,X86_V4"}
    pin_environment(2, env)
    assert env["ATEN_CPU_CAPABILITY"] == "default"
    assert env["ONEDNN_MAX_CPU_ISA"] == "SSE41"
    assert env["NPY_DISABLE_CPU_FEATURES"].split() == ["X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"]


@pytest.mark.parametrize("bad", [0, -1, True, "2", 2.0])
def test_pins_reject_a_bad_thread_count(bad):
    with pytest.raises(ParamError, match="repro.threads must be an integer >= 1"):
        pin_environment(bad, {})


def test_threads_come_from_the_params_file(tmp_path):
    assert threads_from_params(tmp_path / "absent.yaml") == DEFAULT_THREADS
    path = tmp_path / "p.yaml"
    path.write_text("collect: {seed: 1}\n")
    assert threads_from_params(path) == DEFAULT_THREADS
    path.write_text("repro:\n  threads: 5\n")
    assert threads_from_params(path) == 5
    path.write_text("repro:\n  threads: two\n")
    with pytest.raises(ParamError, match=r"p.yaml: repro.threads must be an integer >= 1, got 'two'"):
        threads_from_params(path)


def test_params_path_is_read_from_a_stage_argv():
    assert params_path_from_argv(["--benchmark", "x", "--params", "a.yaml"]) == "a.yaml"
    assert params_path_from_argv(["--params=b.yaml"]) == "b.yaml"
    assert params_path_from_argv(["--run", "r"]) == "params.yaml"


def test_cpu_level_from_cpuinfo_flags(tmp_path):
    v2 = {"sse4_2", "popcnt", "ssse3", "cx16"}
    v3 = v2 | {"avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm"}
    assert x86_level({"sse2"}) == "x86-64-v1"
    assert x86_level(v2) == "x86-64-v2"
    assert x86_level(v3 - {"fma"}) == "x86-64-v2"
    assert x86_level(v3) == "x86-64-v3"
    assert x86_level(v3 | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}) == "x86-64-v4"
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 fma\n\n"
                    "processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 fma\n")
    assert cpu_info(fake) == {"vendor": "GenuineIntel", "model": "Test CPU", "flags": {"fpu", "avx2", "fma"}}
    assert cpu_info(tmp_path / "missing") == {"vendor": "", "model": "", "flags": set()}


def test_the_pinning_path_imports_neither_numpy_nor_torch():
    """stages/__init__.py runs the pins before anything else: neither it nor genvid may load them."""
    code = "import sys, genvid, genvid.determinism, stages; print(sorted({'numpy', 'torch'} & sys.modules.keys()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_configure_torch_turns_on_deterministic_kernels_without_loading_inductor():
    """A fresh process: the flag is on, Inductor stays unloaded
    (it cost every stage 1.3 s) and would read the same flag from the environment if it loaded."""
    code = ("import sys, os, torch; from genvid.determinism import configure_torch; configure_torch();"
            "print(torch.are_deterministic_algorithms_enabled(), 'torch._inductor' in sys.modules,"
            " os.environ['TORCHINDUCTOR_DETERMINISTIC']);"
            "import torch._inductor.config as c; print(c.deterministic)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["True", "False", "1", "True"]
