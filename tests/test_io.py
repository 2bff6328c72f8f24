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


WRITER = '''
import sys, time
from genvid.io import atomic_path
from genvid.stage import cli_main

@cli_main
def main(argv=None):
    with atomic_path(sys.argv[1]) as tmp:
        tmp.write_bytes(b"half")
        print("writing", flush=True)
        time.sleep(120)

main()
'''


@pytest.mark.parametrize("argv", [None, []])
def test_a_stage_stopped_by_sigterm_leaves_no_temporary_file(tmp_path, argv):
    """A CLI run (dvc's, Slurm's) stopped by SIGTERM exits 143 through every writer's clean-up, with one line
    saying so; a stage called in-process with argv leaves the caller's SIGTERM alone (Python's default kills)."""
    import signal
    import subprocess
    import sys

    from conftest import ROOT, venv_env

    out = tmp_path / "out"
    out.mkdir()
    script = WRITER if argv is None else WRITER.replace("main()\n", f"main(argv={argv!r})\n")
    writer = subprocess.Popen([sys.executable, "-c", script, str(out / "frames.h5")], cwd=ROOT, env=venv_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "writing\n"
    assert len(list(out.iterdir())) == 1  # the writer's hidden temporary file
    writer.send_signal(signal.SIGTERM)
    _, err = writer.communicate(timeout=60)
    if argv is None:
        assert writer.returncode == 128 + signal.SIGTERM and list(out.iterdir()) == []
        assert err.strip().splitlines() == ["error: stopped by SIGTERM: its temporary files removed; a rerun "
                                            "resumes from the last checkpoint"]
    else:
        assert writer.returncode == -signal.SIGTERM and len(list(out.iterdir())) == 1
