"""A shared DVC remote: push from one clone, pull into a fresh clone, and `dvc repro` there does nothing.

The cycle runs on the tiny profile's first stages of the driving benchmark through a copy_last run
(collect, split, normalize, train, sample: file and folder outputs in the cache, uncached outputs
in git), twice: against the default remote of `.dvc/config` (a directory beside the checkout) and
against an SSH remote on localhost (`make remote REMOTE=ssh://...`, dvc-ssh), served by an sshd this
module starts on a free port with a host key and a user key it makes. The SSH test is skipped, with
the reason, when sshd cannot be started.
"""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import copy_repo, venv_env

pytestmark = pytest.mark.slow

TARGET = "sample@driving-copy_last"  # with its upstream stages: the five stages below
STAGES = ("collect@driving", "split@driving", "normalize@driving", "train@driving-copy_last", TARGET)
CACHED = ("data/driving/frames.h5", "data/driving/split.json", "data/driving/stats.json",
          "data/driving/counterfactuals.h5", "models/driving-copy_last/run.json",
          "data/driving/samples/driving-copy_last.h5")
UNCACHED = ("reports/driving/runs/driving-copy_last/train_metrics.json",)  # `cache: false`: git carries it
GIT_ID = ("-c", "user.name=genvid-test", "-c", "user.email=test@genvid.invalid")


def run(path: Path, *cmd: str, env: dict | None = None) -> str:
    result = subprocess.run(cmd, cwd=path, env=env or venv_env(), capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)}:\n" + (result.stdout + result.stderr)[-3000:]
    return result.stdout + result.stderr


def make(path: Path, target: str, *variables: str, env: dict | None = None) -> str:
    """`make <target>` in a clone, with the test's venv instead of a venv of the clone's own."""
    return run(path, "make", target, f"BIN={Path(sys.executable).parent}", "STAMP=", *variables, env=env)


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """A git repo of the working tree on the tiny profile, its first five driving stages reproduced and committed."""
    path = tmp_path_factory.mktemp("remote") / "origin"
    path.mkdir()
    copy_repo(path)
    run(path, "python", "-m", "genvid.profiles", "tiny")
    out = run(path, "dvc", "repro", TARGET)
    assert all(f"Running stage '{stage}'" in out for stage in STAGES), out[-2000:]
    run(path, "git", "add", "-A")
    run(path, "git", *GIT_ID, "commit", "-q", "-m", "tiny profile, first driving stages")
    return path


def push_clone_pull(origin: Path, fresh: Path, env: dict, local_config: tuple[str, ...] = ()) -> None:
    """`make push` in origin, `git clone` + `make pull` into fresh; fresh must then be up to date."""
    for option in local_config:  # per-machine settings live in the git-ignored .dvc/config.local
        run(origin, "dvc", "remote", "modify", "--local", "shared", *option.split("=", 1), env=env)
    pushed = make(origin, "push", f"DVC_ARGS=--with-deps {TARGET}", env=env)
    assert f"{len(CACHED) + 1} files pushed" in pushed, pushed  # + the folder output's .dir manifest

    run(fresh.parent, "git", "clone", "-q", str(origin), fresh.name)
    for rel in CACHED:  # git does not carry the cached outputs: only the remote can
        assert not (fresh / rel).exists(), rel
    for option in local_config:
        run(fresh, "dvc", "remote", "modify", "--local", "shared", *option.split("=", 1), env=env)
    pulled = make(fresh, "pull", f"DVC_ARGS=--with-deps {TARGET}", env=env)
    assert f"{len(CACHED) + 1} files fetched" in pulled, pulled

    for rel in CACHED + UNCACHED:
        assert (fresh / rel).read_bytes() == (origin / rel).read_bytes(), rel
    status = run(fresh, "dvc", "status", "--with-deps", TARGET, env=env)
    assert "Data and pipelines are up to date" in status, status
    repro = run(fresh, "dvc", "repro", TARGET, env=env)
    assert "Running stage" not in repro, repro
    for stage in STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in repro, repro
    assert run(fresh, "git", "status", "--porcelain", env=env) == ""  # repro rewrote nothing tracked


def test_default_remote_is_a_directory_beside_the_checkout(origin, tmp_path):
    listed = run(origin, "dvc", "remote", "list")
    assert listed.split() == ["shared", str(origin.parent / "genvid-remote"), "(default)"], listed
    store = origin.parent / "genvid-remote"
    push_clone_pull(origin, origin.parent / "fresh-local", venv_env())
    # content-addressed by md5: the frames, split, stats, samples and run.json, plus the folder's manifest
    stored = [p for p in (store / "files" / "md5").rglob("*") if p.is_file()]
    assert len(stored) == len(CACHED) + 1
    assert any(p.name.endswith(".dir") for p in stored)


def test_make_remote_rewrites_the_default(origin):
    """`make remote REMOTE=...` is the documented command: it sets the url of the default remote."""
    try:
        make(origin, "remote", "REMOTE=/srv/genvid-remote")
        assert run(origin, "dvc", "remote", "list").split() == ["shared", "/srv/genvid-remote", "(default)"]
        assert "url = /srv/genvid-remote" in (origin / ".dvc/config").read_text()
    finally:
        run(origin, "git", "checkout", "--", ".dvc/config")


# -- SSH ------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """An sshd on 127.0.0.1 with its own config, host key and one authorised user key, all made here."""
    binary = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.access(binary, os.X_OK):
        pytest.skip("sshd not found: install Debian's openssh-server (apt-get install -y openssh-server)")
    if not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen not found (openssh-client)")
    privsep = Path("/run/sshd")  # sshd refuses to start without its privilege-separation directory
    if not privsep.is_dir():
        if os.geteuid() != 0:
            pytest.skip("sshd needs /run/sshd, which is missing, and creating it needs root")
        privsep.mkdir(mode=0o755, parents=True)
    root = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(root / name)],
                       check=True, capture_output=True)
    shutil.copy(root / "user_key.pub", root / "authorized_keys")
    port = free_port()
    config = root / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1",
        f"HostKey {root / 'host_key'}", f"AuthorizedKeysFile {root / 'authorized_keys'}",
        f"PidFile {root / 'sshd.pid'}", "PubkeyAuthentication yes", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "UsePAM no",
        "StrictModes no",  # pytest's temporary directories are not the owner-only ones sshd wants
        "Subsystem sftp internal-sftp",  # dvc-ssh talks SFTP
    ]) + "\n")
    checked = subprocess.run([binary, "-t", "-f", str(config)], capture_output=True, text=True)
    if checked.returncode != 0:
        pytest.skip(f"sshd rejects its test config: {checked.stderr.strip()}")
    log = open(root / "sshd.log", "w")
    proc = subprocess.Popen([binary, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                pytest.skip(f"sshd exited at start: {(root / 'sshd.log').read_text().strip()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.skip(f"sshd did not listen on port {port} within 15 s")
                time.sleep(0.1)
        # A HOME of the test's own: asyncssh (dvc-ssh) checks the server against ~/.ssh/known_hosts.
        home = root / "home"
        (home / ".ssh").mkdir(parents=True)
        host_key = " ".join((root / "host_key.pub").read_text().split()[:2])
        (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
        yield {"port": port, "key": root / "user_key", "home": home, "root": root, "log": root / "sshd.log"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_ssh_remote_push_pull_repro(origin, sshd):
    store = sshd["root"] / "store"
    url = f"ssh://{getpass.getuser()}@127.0.0.1:{sshd['port']}{store}"
    env = venv_env() | {"HOME": str(sshd["home"])}
    head = run(origin, "git", "rev-parse", "HEAD").strip()
    try:
        make(origin, "remote", f"REMOTE={url}", env=env)  # the url every machine shares: committed
        assert f"url = {url}" in (origin / ".dvc/config").read_text()
        run(origin, "git", *GIT_ID, "commit", "-q", "-m", "remote: ssh", "--", ".dvc/config", env=env)
        push_clone_pull(origin, origin.parent / "fresh-ssh", env, (f"keyfile={sshd['key']}",))
    finally:  # origin back to the default remote for the other tests
        (origin / ".dvc/config.local").unlink(missing_ok=True)
        run(origin, "git", "checkout", head, "--", ".dvc/config")
        if run(origin, "git", "status", "--porcelain", "--", ".dvc/config"):
            run(origin, "git", *GIT_ID, "commit", "-q", "-m", "remote: default", "--", ".dvc/config")
    stored = [p for p in (store / "files" / "md5").rglob("*") if p.is_file()]
    assert len(stored) == len(CACHED) + 1  # written over SFTP by the sshd above
    assert "Accepted publickey for" in sshd["log"].read_text()
