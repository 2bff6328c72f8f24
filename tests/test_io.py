import pytest
import torch

from conftest import ROOT
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
        for _ in range(1200):  # short sleeps: Python runs a signal's handler between them, and SIGTERM may land on
            time.sleep(0.1)    # another thread (one 120 s sleep then ran it only at its end: the test timed out)

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


def test_load_yaml_reads_what_safe_load_reads_and_fails_as_it_does():
    """genvid.io.load_yaml (libyaml) in place of yaml.safe_load: the same values on every YAML file the
    project reads (params, profiles, dvc.yaml, dvc.lock), YAML 1.1's scalars included, and a YAMLError
    on broken text."""
    import yaml

    from genvid.io import load_yaml

    files = [ROOT / name for name in ("params.yaml", "dvc.yaml", "dvc.lock")] + sorted((ROOT / "profiles").glob("*.yaml"))
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert load_yaml(text) == yaml.safe_load(text), path.name
    scalars = "a: 1e3\nb: yes\nc: 0o17\nd: 1_000\ne: .inf\nf: ~\ng: 2001-12-14\nh: '3'\ni: 0x1f\nj: 1.5\n"
    assert load_yaml(scalars) == yaml.safe_load(scalars) == {
        "a": "1e3", "b": True, "c": "0o17", "d": 1000, "e": float("inf"), "f": None,
        "g": __import__("datetime").date(2001, 12, 14), "h": "3", "i": 31, "j": 1.5}
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: [1, 2")
