"""The one place for determinism: machine pins, seeds, deterministic kernels, DataLoader seeding.

Two layers (docs/reproducibility.md):

1. ``pin_environment`` pins what makes bytes depend on the machine rather than on the code: the
   SIMD level numpy, PyTorch (ATen), oneDNN and MKL dispatch to, and every thread count. It only
   writes environment variables, which those libraries read when they load, so it must run
   before numpy or torch is imported; this module therefore imports neither at the top
   (``stages/__init__.py`` calls it first thing in every stage process).
2. ``seed_everything`` / ``configure_torch`` seed the RNGs and switch on deterministic kernels.

The level is x86-64-v3 (AVX2 + FMA): every x86 server and laptop CPU of the last ten years has
it, and nothing above it may be used, so an AVX-512 machine computes what an AVX2 one does.
"""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, MutableMapping

from genvid.errors import ParamError

if TYPE_CHECKING:  # imported lazily below: pin_environment must run before they load
    import numpy as np
    import torch

DEFAULT_THREADS = 2

# numpy 2.4's runtime-dispatched targets above x86-64-v3 (numpy.show_config(), "SIMD Extensions").
# Disabling a target the CPU lacks is a no-op, so the same list serves AVX2-only CPUs; naming a
# target this numpy does not dispatch only warns (tests/test_repro_pins.py checks the list).
NUMPY_ABOVE_X86_V3 = ("X86_V4", "AVX512_ICL", "AVX512_SPR")

# Capability names, lowest first. A value lower than the pin that is already in the environment
# is kept (the tests use that to emulate an older CPU); anything higher is replaced by the pin.
ATEN_LEVELS = ("default", "avx2")           # ATEN_CPU_CAPABILITY (avx512 exists, never allowed)
ONEDNN_LEVELS = ("SSE41", "AVX", "AVX2")    # ONEDNN_MAX_CPU_ISA (AVX2_VNNI, AVX512_* and up excluded)

# x86-64-v3 as the CPU reports it in /proc/cpuinfo "flags" (what numpy's X86_V3 group needs).
X86_V3_FLAGS = ("avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm")


def pin_environment(threads: int, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Pin every machine-dependent choice of numpy/PyTorch/oneDNN/MKL/OpenBLAS; return what was set.

    Call before numpy or torch is imported: the libraries read these variables once, at load.
    """
    env = os.environ if environ is None else environ
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ParamError(f"repro.threads must be an integer >= 1, got {threads!r}")
    pins: dict[str, str] = {}

    # numpy: never dispatch above AVX2. Features someone disabled already stay disabled.
    disabled = env.get("NPY_DISABLE_CPU_FEATURES", "").replace(",", " ").split()
    pins["NPY_DISABLE_CPU_FEATURES"] = " ".join(dict.fromkeys([*disabled, *NUMPY_ABOVE_X86_V3]))

    # PyTorch's own vectorised kernels (ATen "CPU capability") and oneDNN's JIT kernels
    # (convolutions): AVX2 at most, whatever the CPU offers above it.
    pins["ATEN_CPU_CAPABILITY"] = _at_most(env.get("ATEN_CPU_CAPABILITY"), ATEN_LEVELS, str.lower)
    pins["ONEDNN_MAX_CPU_ISA"] = _at_most(env.get("ONEDNN_MAX_CPU_ISA"), ONEDNN_LEVELS, str.upper)
    pins["DNNL_MAX_CPU_ISA"] = pins["ONEDNN_MAX_CPU_ISA"]   # oneDNN's older name for the same switch

    # MKL (torch's matmuls): conditional numerical reproducibility. "AVX2" would only hold on
    # Intel CPUs (MKL takes its AUTO branch on AMD); COMPATIBLE (SSE2 without the approximate
    # rcpps/rsqrtps) gives the same results on Intel and AMD alike. MKL_DYNAMIC=FALSE stops MKL
    # from using fewer threads than asked when it sees fewer cores.
    pins["MKL_CBWR"] = "COMPATIBLE"
    pins["MKL_DYNAMIC"] = "FALSE"

    # Threads: results of parallel reductions depend on how the work is split, so the count is
    # a param, never the machine's core count. libgomp honours OMP_NUM_THREADS even on fewer
    # cores (torch reads it at import as its intra-op count).
    pins["OMP_NUM_THREADS"] = pins["MKL_NUM_THREADS"] = str(threads)
    pins["OMP_DYNAMIC"] = "FALSE"
    # OpenBLAS (numpy's and scipy's BLAS) silently caps its threads at the cores it may run on,
    # so any count above 1 would depend on the machine: numpy's BLAS runs single-threaded.
    pins["OPENBLAS_NUM_THREADS"] = "1"
    # OpenBLAS picks kernels (and their blocking, hence the summation order) by CPU model:
    # SkylakeX kernels on AVX-512 CPUs. Haswell's are AVX2's (Zen runs them too); forcing them
    # on a CPU without AVX2 would crash, so there the choice stays OpenBLAS's.
    if _has_x86_v3():
        pins["OPENBLAS_CORETYPE"] = "Haswell"
    # cuBLAS deterministic workspace (docs/design.md §9), read when CUDA initialises.
    pins["CUBLAS_WORKSPACE_CONFIG"] = env.get("CUBLAS_WORKSPACE_CONFIG") or ":4096:8"

    env.update(pins)
    return pins


def _at_most(current: str | None, levels: tuple[str, ...], norm) -> str:
    """``current`` if it names a level at or below the pin (the last of ``levels``), else the pin."""
    if current and norm(current) in levels:
        return norm(current)
    return levels[-1]


def threads_from_params(path: str | os.PathLike = "params.yaml") -> int:
    """``repro.threads`` of a params file with a plain YAML read (no numpy); 2 when the file or
    the section is absent (the stage itself reports a missing file)."""
    import yaml

    from genvid.io import load_yaml

    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return DEFAULT_THREADS
    repro = data.get("repro") if isinstance(data, dict) else None
    if repro is None:
        return DEFAULT_THREADS
    threads = repro.get("threads", DEFAULT_THREADS) if isinstance(repro, dict) else None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ParamError(f"{path}: repro.threads must be an integer >= 1, got {threads!r}")
    return threads


def params_path_from_argv(argv: list[str]) -> str:
    """The value of ``--params FILE`` / ``--params=FILE`` in a stage's argv (default params.yaml)."""
    for i, arg in enumerate(argv):
        if arg == "--params" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--params="):
            return arg.split("=", 1)[1]
    return "params.yaml"


def cpu_info(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> dict[str, Any]:
    """Vendor, model name and flags of this CPU (Linux); empty fields where unknown."""
    info: dict[str, Any] = {"vendor": "", "model": "", "flags": set()}
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return info
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id" and not info["vendor"]:
            info["vendor"] = value.strip()
        elif key == "model name" and not info["model"]:
            info["model"] = value.strip()
        elif key == "flags" and not info["flags"]:
            info["flags"] = set(value.split())
    return info


def x86_level(flags: set[str]) -> str:
    """The x86-64 micro-architecture level the flags reach: v1, v2, v3 or v4."""
    if not {"sse4_2", "popcnt", "ssse3", "cx16"} <= flags:
        return "x86-64-v1"
    if not set(X86_V3_FLAGS) <= flags:
        return "x86-64-v2"
    if not {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"} <= flags:
        return "x86-64-v3"
    return "x86-64-v4"


def _has_x86_v3() -> bool:
    return x86_level(cpu_info()["flags"]) in ("x86-64-v3", "x86-64-v4")


# ----------------------------------------------------------------------------- seeds and kernels

def configure_torch(threads: int | None = None) -> None:
    """Deterministic kernels everywhere (docs/design.md §9): no cuDNN autotune, no TF32."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # torch.use_deterministic_algorithms(True) also sets Inductor's flag, and importing Inductor for
    # it cost 1.3 s of every stage's start (about a minute of the default DAG). genvid compiles only
    # with params device.compile (genvid.device.compile_units), which sets the flag itself; should
    # Inductor load otherwise, the environment variable gives it the same flag.
    os.environ.setdefault("TORCHINDUCTOR_DETERMINISTIC", "1")
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True)
    else:
        torch._C._set_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if threads is not None:
        torch.set_num_threads(threads)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU generator for DataLoader shuffling."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    configure_torch()
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive numpy/python seeds from torch's per-worker seed."""
    import numpy as np
    import torch

    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def rng_state() -> dict:
    """All global RNG states, for checkpoints (plain tensors/lists: loads with weights_only)."""
    import numpy as np
    import torch

    state = {
        "python": _python_state_to_tensor(random.getstate()),
        "numpy": _numpy_state_to_tensor(np.random.get_state()),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict) -> None:
    import numpy as np
    import torch

    random.setstate(_python_state_from_tensor(state["python"]))
    np.random.set_state(_numpy_state_from_tensor(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


# The python and numpy states are tuples of ints; store them as int64 tensors so a
# checkpoint needs no pickled python objects (torch.load(weights_only=True)).
def _python_state_to_tensor(state: tuple) -> torch.Tensor:
    import numpy as np
    import torch

    version, internal, gauss = state
    gauss_flag = 0 if gauss is None else 1
    gauss_bits = np.float64(gauss or 0.0).view(np.int64)
    return torch.tensor([version, *internal, gauss_flag, int(gauss_bits)], dtype=torch.int64)


def _python_state_from_tensor(t: torch.Tensor) -> tuple:
    import numpy as np

    values = t.tolist()
    version, internal, gauss_flag, gauss_bits = values[0], values[1:-2], values[-2], values[-1]
    gauss = float(np.int64(gauss_bits).view(np.float64)) if gauss_flag else None
    return (version, tuple(internal), gauss)


def _numpy_state_to_tensor(state: tuple) -> torch.Tensor:
    import numpy as np
    import torch

    _name, keys, pos, has_gauss, cached = state
    cached_bits = np.float64(cached).view(np.int64)
    head = np.array([pos, has_gauss, cached_bits], dtype=np.int64)
    return torch.from_numpy(np.concatenate([keys.astype(np.int64), head]))


def _numpy_state_from_tensor(t: torch.Tensor) -> tuple:
    import numpy as np

    values = t.numpy()
    keys = values[:-3].astype(np.uint32)
    pos, has_gauss, cached_bits = (int(v) for v in values[-3:])
    cached = float(np.int64(cached_bits).view(np.float64))
    return ("MT19937", keys, pos, has_gauss, cached)
