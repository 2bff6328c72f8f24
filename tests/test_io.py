import pytest
import torch

from genvid.errors import GenvidError
from genvid.io import atomic_path, dumps_json, fingerprint, read_json, save_torch, write_json


def test_atomic_path_renames_only_on_success(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole" and len(list(tmp_path.iterdir())) == 1


def test_json_is_stable_and_rejects_nan(tmp_path):
    assert dumps_json({"b": 1, "a": torch.tensor([1.5])}) == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}\n'
    with pytest.raises(ValueError, match="non-finite"):
        dumps_json({"x": float("nan")})
    write_json(tmp_path / "x.json", {"k": [1, 2]})
    assert read_json(tmp_path / "x.json") == {"k": [1, 2]}
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(GenvidError, match="bad.json: not valid JSON"):
        read_json(tmp_path / "bad.json")


def test_save_torch_bytes_do_not_depend_on_the_file_name(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3), "step": 3}
    save_torch(tmp_path / "a.pt", state)
    save_torch(tmp_path / "b.pt", state)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    assert torch.equal(torch.load(tmp_path / "a.pt", weights_only=True)["w"], state["w"])


def test_fingerprint_tracks_config_and_file_content(tmp_path):
    f = tmp_path / "data.bin"
    f.write_bytes(b"abc")
    a = fingerprint({"k": 1}, [f])
    assert a == fingerprint({"k": 1}, [f])
    assert a != fingerprint({"k": 2}, [f])
    f.write_bytes(b"abd")
    assert a != fingerprint({"k": 1}, [f])
