"""Drive a trained run's learned simulator in a browser: serves a local page (make drive).

    python -m genvid.drive --run driving-svg_lp_action [--port 8765] [--host 127.0.0.1]

Bad input (an unknown run, a missing model folder, a benchmark without frames, a port in use) is
one line ``error: ...`` and exit code 2, as for every stage.
"""
from __future__ import annotations

import argparse

import torch

from genvid.cli import stage_parser
from genvid.determinism import configure_torch
from genvid.drive.app import DEFAULT_HOST, DEFAULT_PORT, listen, make_server
from genvid.drive.loading import load_engine
from genvid.stage import cli_main, int_at_least

DEFAULT_RUN = "driving-svg_lp_action"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def port(text: str) -> int:
    value = int_at_least(0)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number in [0, 65535], got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = stage_parser(__doc__.splitlines()[0])
    p.add_argument("--run", default=DEFAULT_RUN, help="a key of params.yaml: runs (default: %(default)s)")
    p.add_argument("--root", default=".", help="folder the artefact paths are relative to")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s, this machine only)")
    p.add_argument("--port", type=port, default=DEFAULT_PORT, help="port (default: %(default)s; 0: any free one)")
    p.add_argument("--frames-per-press", type=int_at_least(1), default=1,
                   help="frames each press generates, at most the protocol's horizon (default: %(default)s)")
    p.add_argument("--seed", type=int_at_least(0), default=None, help="the presses' generator seed (default: params sample.seed)")
    # one thread: the models a page drives are small, and a second thread waits at every op's barrier
    # whenever the other core is busy (benchmarks/drive.py --threads 2 measures it)
    p.add_argument("--threads", type=int_at_least(1), default=1, help="torch threads for sampling (default: %(default)s)")
    p.add_argument("--max-sessions", type=int_at_least(1), default=16, help="sessions kept in memory (default: %(default)s)")
    return p


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    configure_torch()
    torch.set_num_threads(args.threads)
    engine = load_engine(args.params, args.run, args.root, seed=args.seed, frames_per_press=args.frames_per_press,
                         max_sessions=args.max_sessions)
    sock = listen(args.host, args.port)
    host, number = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"drive {engine.run}: http://{shown}:{number}/ ({len(engine.clips)} test clips; Ctrl-C stops)", flush=True)
    if args.host not in LOOPBACK:
        print(f"note: --host {args.host} lets other machines reach the page and the model", flush=True)
    make_server(engine, log_level="warning").run(sockets=[sock])


if __name__ == "__main__":
    main()
