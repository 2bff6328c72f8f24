"""A stage server for the tests' tiny DAG: ``python -m stages.<name> ...`` started as a fork of one
interpreter that has already imported PyTorch, rather than as a fresh one.

Most of a tiny stage's CPU time goes to importing PyTorch, and make test builds the tiny DAG's 70 stages
beside another worker, on two cores. Here one server process does what every stage process does first
(``import stages``: the pins of genvid.determinism and genvid.allocator, for this project's params) and
imports numpy, h5py and torch, which read those pins once, at load; then it waits. A ``python`` shim early
on the PATH hands ``python -m stages.<name> ...`` to it: the server forks, the child takes the caller's
stdin, stdout, stderr, working folder and environment, runs the stage module as ``__main__`` exactly as
``python -m`` does, and its exit status becomes the caller's. Every other ``python`` command runs as ever.

What a fresh interpreter would do differently, the child refuses to guess: a caller whose working folder
differs from the server's, or whose environment does once the stage's own pins are applied to it (PATH
aside; the pins carry its params file's thread count), gets a fresh interpreter (the child replaces itself
with ``python -m ...``), so a stage's pins and thread count are always its own. Of genvid, only what ``stages`` imports for the pins is loaded before the fork, so each
stage imports its own code. The bytes are the same either way: tests/test_pipeline_e2e.py builds the data
stages and a training run both ways.

    python tests/_stage_server.py serve SOCKET [--params FILE]   # in the project folder, environment as the stages'
    python tests/_stage_server.py serve-scripts SOCKET            # scripts: no pins (the smoke rows)
    python -I -S tests/_stage_server.py client -m stages.<name> ...    # what the shim runs (or: client SCRIPT ...)

Only the standard library is imported at the top: the client starts in milliseconds.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from typing import Iterator

VARIABLE = "GENVID_STAGE_SERVER"  # the server's socket; set only where the shim is on the PATH
# Variables a stage's environment may differ in from the server's: a shell's own; the socket; and what nothing
# reads before the fork: snakemake sets each job's thread counts and temporary folder, but the pins overwrite
# OMP_, MKL_ and OPENBLAS_NUM_THREADS (compared after pinning both), OpenBLAS reads OPENBLAS_NUM_THREADS before
# GOTO_NUM_THREADS, numexpr and Apple's vecLib never load, and tempfile reads the folder at first use (the
# child forgets the server's).
_IGNORED = ("PATH", VARIABLE, "_", "PWD", "OLDPWD", "SHLVL", "GOTO_NUM_THREADS", "NUMEXPR_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS", "TMPDIR", "TEMP", "TMP", "TEMPDIR")


def shim(folder: os.PathLike | str, python: str) -> str:
    """Write ``folder/python``, the shim, and return the folder (put it first on the PATH)."""
    path = os.path.join(os.fspath(folder), "python")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                f'if [ "$1" = "-m" ] && [ -n "${VARIABLE}" ]; then case "$2" in stages.*) '
                f'exec "{python}" -I -S "{os.path.abspath(__file__)}" client "$@" ;; esac; fi\n'
                f'exec "{python}" "$@"\n')
    os.chmod(path, 0o755)
    return os.fspath(folder)


def _comparable(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in _IGNORED}


@contextlib.contextmanager
def serving(project: os.PathLike | str, env: dict[str, str], scripts: bool = False,
            params: os.PathLike | str | None = None) -> Iterator[tuple[dict[str, str], str]]:
    """A server for ``project`` started with ``env`` (the stages' environment) and pinned for ``params``
    (default: the project's params.yaml); yields the environment whose ``python -m stages.<name>`` it
    serves, and the path of its log (a line per command it forked). ``scripts``: a server of scripts
    instead, which pins nothing: a script pins what it needs itself, in its own subprocesses."""
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="genvid-stages-") as tmp:
        address, log = os.path.join(tmp, "socket"), os.path.join(tmp, "server.log")
        with open(log, "w") as err:
            pins = [] if params is None else ["--params", os.fspath(params)]  # what `import stages` reads
            server = subprocess.Popen([python, os.path.abspath(__file__), "serve-scripts" if scripts else "serve",
                                       address, *pins], cwd=project, env=env, stdout=subprocess.PIPE, stderr=err,
                                      text=True)
        try:
            if server.stdout.readline().strip() != "ready":
                server.wait(30)
                raise RuntimeError(f"the stage server did not start:\n{open(log).read()[-3000:]}")
            yield {**env, VARIABLE: address, "PATH": f"{shim(tmp, python)}{os.pathsep}{env['PATH']}"}, log
        finally:
            server.terminate()
            server.wait(30)
            server.stdout.close()


def command(*argv: os.PathLike | str) -> list[str]:
    """``python argv...`` (``-m stages.<name> ...`` or ``script ...``) through the server whose environment
    the caller passes (``serving``)."""
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), "client", *map(os.fspath, argv)]


# ----------------------------------------------------------------------------- the server

def serve(address: str, scripts: bool) -> None:
    log = os.fdopen(os.dup(2), "w", buffering=1)  # stays the server's log in every child
    if not scripts:
        import stages  # noqa: F401  (the pins, for this folder's params.yaml, as every stage process does first)
    server_env = dict(os.environ)
    import h5py  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401
    import yaml  # noqa: F401

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(address)
    listener.listen(16)
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    children: dict[int, socket.socket] = {}
    while True:
        listener.settimeout(0.02 if children else None)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            conn = None
        if conn is not None:
            conn.settimeout(None)
            message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
            request = json.loads(message)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                listener.close()
                conn.close()
                _child(request, fds, server_env, log, scripts)  # never returns
            for fd in fds:
                os.close(fd)
            conn.sendall(json.dumps({"pid": pid}).encode())
            children[pid] = conn
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            code = os.waitstatus_to_exitcode(status)
            done = children.pop(pid)
            done.sendall(json.dumps({"code": 128 - code if code < 0 else code}).encode())
            done.close()


def _why_fresh(request: dict, server_env: dict[str, str], server_cwd: str, scripts: bool) -> str:
    """Why this command needs a fresh interpreter ("" if a fork runs it exactly); pins ``request["env"]``
    as the stage's own pins would."""
    env, argv = request["env"], request["argv"]
    if not scripts:
        if os.path.realpath(request["cwd"]) != os.path.realpath(server_cwd):
            return f"another folder, {request['cwd']}"
        from genvid.determinism import params_path_from_argv, pin_environment, threads_from_params

        try:
            pin_environment(threads_from_params(params_path_from_argv(argv[2:])), env)
        except Exception as err:  # noqa: BLE001  (the fresh stage says what is wrong, as it always does)
            return f"its pins failed: {err}"
    differ = sorted(k for k in set(_comparable(env)) | set(_comparable(server_env)) if env.get(k) != server_env.get(k))
    return f"environment differs in {differ}" if differ else ""


def _child(request: dict, fds: list[int], server_env: dict[str, str], log, scripts: bool) -> None:
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    argv, python = request["argv"], request["python"]
    server_cwd = os.getcwd()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    reason = _why_fresh(request, server_env, server_cwd, scripts)
    if reason:
        print(f"fresh {' '.join(argv)}: {reason}", file=log)
        os.execv(python, [python, *argv])  # a fresh interpreter: its pins are its own
    print(f"forked {' '.join(argv)}", file=log)
    log.close()
    os.environ.update(request["env"])  # now with the pins _why_fresh applied to it, as the stage's own would
    import atexit
    import runpy
    import tempfile
    import traceback

    tempfile.tempdir = None
    sys.orig_argv = [python, *argv]
    code: object = 0
    try:
        if argv[0] == "-m":
            sys.argv = argv[1:]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:  # python script args: the script's folder first on the path, as the interpreter puts it
            sys.argv = list(argv)
            sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as stop:
        code = stop.code
    except BaseException:  # noqa: BLE001  (as the interpreter would: the traceback, status 1)
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


# ----------------------------------------------------------------------------- the client

def client(argv: list[str]) -> int:
    """``python argv...`` (``-m stages.<name> args...`` or ``script args...``) run by the server; returns its
    exit status."""
    request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "python": sys.executable}
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(os.environ[VARIABLE])
    except OSError:  # no server (any more): the command as it was
        os.execv(sys.executable, [sys.executable, *argv])
    socket.send_fds(sock, [json.dumps(request).encode()], [0, 1, 2])
    pid = json.loads(sock.recv(1 << 16))["pid"]
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # a stopped caller stops the stage
        signal.signal(signum, lambda s, _f: os.kill(pid, s))
    reply = sock.recv(1 << 16)
    if not reply:  # the server is gone, and with it the status of the stage it started
        print(f"error: the stage server ended while {' '.join(argv)} ran (pid {pid})", file=sys.stderr)
        return 1
    return int(json.loads(reply)["code"])


if __name__ == "__main__":
    if sys.argv[1:2] in (["serve"], ["serve-scripts"]):
        sys.path[0] = os.getcwd()  # the project's stages and genvid, as python -m finds them (not tests/)
        serve(sys.argv[2], scripts=sys.argv[1] == "serve-scripts")
    elif sys.argv[1:2] == ["client"]:
        sys.exit(client(sys.argv[2:]))
    else:
        sys.exit("usage: _stage_server.py serve|serve-scripts SOCKET | client -m stages.<name> ... | client SCRIPT ...")
