"""The DAG's commands in an order that respects it, as a shell script, for a machine without DVC.

    python -m workflow.plan > plan.sh                       # every stage of params.yaml's DAG
    python -m workflow.plan --only 'leaderboard@smmnist'    # that stage and every stage it needs

A lent GPU machine may have no DVC (and no Snakemake): resolve the plan here, where DVC is, with
the profile already applied to params.yaml, and run ``bash plan.sh`` there. Each stage validates
its inputs and params itself. The script can be stopped and run again (a device call has a time
limit): a stage that finished leaves ``.plan/<stage>`` holding its command and is skipped while
that file says so, and a training stage killed part-way resumes from its checkpoint. It knows
nothing of changed params or code (DVC's job): ``rm -rf .plan`` starts over. Nor does it keep
DVC's lock: bring the outputs back and ``dvc commit`` them where DVC is, or rerun with it.

``PLAN_JOBS=N bash plan.sh`` runs up to N stages at once: the script holds the DAG as waves (a stage's
wave comes after every wave holding a stage it needs), and a wave's stages run concurrently, each with
its output in ``.plan/logs/<stage>.log`` (shown when it fails). A stage's bytes do not depend on what
runs beside it (each is its own seeded, deterministic process), so this only changes the wall time: a
GPU's small trainings are bound by kernel launches, and several of them share one GPU well. The
default, 1, runs the stages one at a time in the same order as before, their output in the script's.
"""
from __future__ import annotations

import argparse
import re
import shlex
from graphlib import TopologicalSorter
from pathlib import Path

from workflow.dag import StageSpec, edges, load_stages


def _upstream(stages: list[StageSpec]) -> dict[str, set[str]]:
    """Each stage's name -> the names of the stages whose outputs it reads."""
    upstream: dict[str, set[str]] = {stage.name: set() for stage in stages}
    for before, after in edges(stages):
        upstream[after].add(before)
    return upstream


def plan(stages: list[StageSpec], only: str | None = None) -> list[StageSpec]:
    """``stages`` in a topological order (ties in dvc.yaml's order); with ``only``, a regex over stage
    names, just the matching stages and everything upstream of them."""
    upstream = _upstream(stages)
    wanted = set(upstream)
    if only is not None:
        pattern = re.compile(only)
        wanted, todo = set(), [name for name in upstream if pattern.fullmatch(name)]
        if not todo:
            raise SystemExit(f"error: --only {only!r} matches no stage of dvc.yaml")
        while todo:
            name = todo.pop()
            if name not in wanted:
                wanted.add(name)
                todo.extend(upstream[name])
    position = {stage.name: i for i, stage in enumerate(stages)}
    sorter = TopologicalSorter({name: upstream[name] & wanted for name in wanted})
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order.extend(ready)
        sorter.done(*ready)
    by_name = {stage.name: stage for stage in stages}
    return [by_name[name] for name in order]


DONE = ".plan"  # one file per finished stage, holding its command

STEP = f"""step() {{  # name, command[, log]: run it unless {DONE}/name holds that command (it finished)
  if [ -f "{DONE}/$1" ] && [ "$(cat "{DONE}/$1")" = "$2" ]; then echo "== $1 (done)"; return 0; fi
  echo "== $1"
  local start=$SECONDS
  if [ -n "${{3:-}}" ]; then
    (eval "$2") > "$3" 2>&1 || {{ local rc=$?; echo "-- $1 failed (exit $rc); the end of $3:"; tail -n 20 "$3"; return $rc; }}
  else
    (eval "$2") || return $?
  fi
  mkdir -p {DONE} && printf '%s' "$2" > "{DONE}/$1.tmp" && mv "{DONE}/$1.tmp" "{DONE}/$1"
  echo "-- $1 finished ($((SECONDS - start)) s)"
}}
wave() {{  # name, command pairs, none needing another: in turn, or $PLAN_JOBS at once; fails if one fails
  if [ "${{PLAN_JOBS:-1}}" -le 1 ]; then
    while [ $# -gt 0 ]; do step "$1" "$2"; shift 2; done
    return 0
  fi
  mkdir -p {DONE}/logs
  local running=0 failed=0
  while [ $# -gt 0 ] && [ $failed = 0 ]; do
    if [ $running -ge "$PLAN_JOBS" ]; then wait -n || failed=1; running=$((running - 1)); fi
    if [ $failed = 0 ]; then step "$1" "$2" "{DONE}/logs/$1.log" & running=$((running + 1)); fi
    shift 2
  done
  while [ $running -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done
  return $failed
}}"""


def waves(stages: list[StageSpec]) -> list[list[StageSpec]]:
    """``stages`` (in an order ``plan`` gave) grouped by depth: a stage's wave is one after the deepest
    wave holding a stage it needs, so a wave's stages need none of each other."""
    upstream = _upstream(stages)
    depth: dict[str, int] = {}
    for stage in stages:  # plan's order puts every stage after those it needs
        depth[stage.name] = 1 + max((depth[name] for name in upstream[stage.name]), default=-1)
    out: list[list[StageSpec]] = [[] for _ in range(1 + max(depth.values(), default=-1))]
    for stage in stages:
        out[depth[stage.name]].append(stage)
    return out


def script(stages: list[StageSpec]) -> str:
    """A bash script running the stages wave by wave (one at a time unless ``PLAN_JOBS`` says more),
    stopping at the first failure and skipping the stages a previous run of it finished (``DONE``)."""
    lines = ["#!/usr/bin/env bash", "# written by python -m workflow.plan: the DAG's commands in order, without DVC",
             f"# a finished stage is skipped while {DONE}/<stage> holds its command: rm -rf {DONE} to start over;",
             "# PLAN_JOBS=N runs up to N stages of a wave at once",
             "set -euo pipefail", STEP]
    for wave in waves(stages):
        pairs = [f"{shlex.quote(stage.name)} {shlex.quote(stage.cmd)}" for stage in wave]
        lines.append(f"step {pairs[0]}" if len(pairs) == 1 else "wave \\\n  " + " \\\n  ".join(pairs))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="a regex over stage names: those stages and everything upstream of them")
    parser.add_argument("--root", type=Path, default=Path("."), help="the project (default: here)")
    args = parser.parse_args(argv)
    print(script(plan(load_stages(args.root), args.only)), end="")


if __name__ == "__main__":
    main()
