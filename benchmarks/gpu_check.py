"""Benchmark: the GPU check (issue 44), one command that spends a lent GPU's few minutes in order.

    make gpu-check-prepare                   # here, where DVC is: .gpu-check/prepared (carry .gpu-check)
    make gpu-check                           # there, again and again, until it prints "gpu-check: done"
    GPU_CHECK_DEVICE=cpu make gpu-check      # the smoke mode: every part at tiny sizes on the CPU (CI)

A lent GPU comes for a few minutes (15 in 2026-11, its start included), in calls of at most 10, on a
bare machine without DVC (its Python has torch with CUDA, h5py, numpy, yaml, tqdm;
``benchmarks/gpu_check_wheels.txt`` lists what it lacks, with the command that fetches the wheels). So the check runs in parts, in priority order,
each recorded as it finishes, and a call runs parts until ``--budget`` seconds (default 510: under
9 minutes) would be passed; the next call resumes at the first part not done. A part cut off by the
budget starts again next call (the DAG part resumes inside: its plan skips finished stages, a killed
training resumes from its checkpoint, a killed sampling from the calls it kept); one cut off twice is
recorded as failed, so the check always ends. Each part prints one status line.

The parts, most important first, so that a run cut short still brings the most important figures:
1. ``identity``: every network trained twice for three steps in bf16 with channels-last weights
   (``tests/_golden_cases.py --train-only``, the CUDA golden test), in two processes: the same bytes?
   ``identity-compiled``: the same with the priors compiled (``device.compile``);
2. ``bench:<component>``: ``benchmarks/gpu.py`` for each component at the thesis (VQ) and paper (pixel
   models) sizes: step time, peak memory, FLOP/s, the profile's implied hours, two runs' bytes;
3. ``smmnist``: the ``gpu`` profile's SM-MNIST stages (train, sample, evaluate, leaderboard) through the
   plan that ``prepare`` wrote with ``workflow.plan``, ``--jobs`` stages at once (its eleven trainings share
   the GPU); its leaderboard, training times and, per metric, whether the best learned model beats
   copy-last and by how much;
4. ``learning:<run>``: ``benchmarks/learning.py`` curves of the gpu profile's SM-MNIST models.

Everything measured goes to one folder, ``.gpu-run/gpu-<device>-<date>-<commit>/`` (under ``--root``; git-ignored
and not carried, so it stays on the device machine between calls; its name is fixed by the first call
on a device): ``environment.json`` (device, driver, torch, CUDA and cuDNN versions, the commit),
``state.json`` (the parts done, their seconds and status) and one file per part. ``--copy-to``
(``make gpu-check`` passes ``$OUT`` when set) gets the folder as one tarball after every part, so what a
call measured comes back even if the next is cut (the device tool brings back at most 8 files), and
``gpu_check.py collect <tarball>`` puts it in ``benchmarks/results/`` here, to commit.

The smoke mode (``GPU_CHECK_DEVICE=cpu``) runs the same parts on the CPU at tiny sizes: one network per
identity part (no compiling: that needs CUDA here), one bench component, the tiny profile's data
stages as the DAG part, and no learning curve; it writes to ``gpu-cpu-smoke-<date>-<commit>`` and exists so the
script cannot rot between GPU runs (tests/test_gpu_check.py stops it after one part and resumes it).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
PREPARED = Path(".gpu-check") / "prepared"  # under --root: what `prepare` writes, carried to the GPU
WHEELS = Path(".gpu-check") / "wheels"  # under --root: benchmarks/gpu_check_wheels.txt's wheels (prepare)
SITE = Path(".gpu-check") / "site"  # under --root: where the run installs them
# Under --root, the results folder being filled: git-ignored and outside the carried .gpu-check, so that it
# stays on the device machine between calls (the device tool re-sends the working tree and replaces what
# is carried), and `collect` puts it in benchmarks/results/ here.
WORK = Path(".gpu-run")
CURRENT = WORK / "current"  # the name of the results folder being filled
MAX_COPY_BYTES = 16 << 20  # the device tool brings back files of at most 16 MiB, at most 8 of them
DEFAULT_BUDGET = 510.0
# The SM-MNIST plan's stages at once: its eleven trainings are small and bound by kernel launches on a GPU,
# so several can share it; each is its own seeded process with deterministic kernels, so its bytes do not
# change. The lent machine has 16 CPU cores (2 threads a stage) and one GPU of 141 GB.
DEFAULT_JOBS = 6
SMOKE = os.environ.get("GPU_CHECK_DEVICE", "cuda") == "cpu"
CUDA_FLAGS = ("--device", "cuda", "--precision", "bf16", "--channels-last")
GPU_LEARNING_RUNS = ("smmnist-svg_lp", "smmnist-hvrnn", "smmnist-rfn")  # gpu profile runs with CPU curves to compare


@dataclass(frozen=True)
class Part:
    name: str
    run: Callable[["Check", float], dict]  # (check, seconds left) -> its record


class Check:
    def __init__(self, root: Path, copy_to: Path | None, jobs: int = 1):
        self.root, self.copy_to, self.jobs = root, copy_to, jobs
        self.folder = self._folder()
        self.state_path = self.folder / "state.json"
        self.state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {"parts": {}}

    def _folder(self) -> Path:
        current = self.root / CURRENT
        if current.exists():
            folder = self.root / WORK / current.read_text().strip()
            if folder.exists():
                return folder
        env = environment(self.root)  # the commit in the name: two checks of one device on one day stay apart
        name = f"gpu-{device_slug()}-{datetime.date.today().isoformat()}-{str(env.get('commit') or 'unknown')[:7]}"
        folder = self.root / WORK / name
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(current, name)
        write_atomic(folder / "environment.json", json.dumps(env, indent=2) + "\n")
        return folder

    def record(self, name: str, entry: dict) -> None:
        self.state["parts"][name] = entry
        write_atomic(self.state_path, json.dumps(self.state, indent=2) + "\n")
        if self.copy_to is not None:
            pack(self.folder, self.copy_to / f"{self.folder.name}.tar.gz")

    def env(self) -> dict[str, str]:
        """This process's environment, the carried wheels' site first on PYTHONPATH, and this Python
        first on PATH (the plan's stages call `python`)."""
        site = self.root / SITE
        paths = [str(site)] if site.exists() else []
        return {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]).strip(os.pathsep),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def python(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=self.root, capture_output=True, text=True,
                              timeout=max(1.0, timeout), env=self.env())

    def install_wheels(self) -> None:
        wheels = sorted((self.root / WHEELS).glob("*.whl"))
        if wheels and not (self.root / SITE).exists():
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                            "--target", str(self.root / SITE), *map(str, wheels)], check=True)


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def pack(folder: Path, target: Path) -> None:
    """``folder`` as one gzipped tar at ``target`` (written beside it, then renamed): the device tool brings
    back at most 8 files, so the results travel as one."""
    import tarfile
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for f in sorted(folder.iterdir()):
            if f.is_file():
                tar.add(f, arcname=f"{folder.name}/{f.name}")
    if tmp.stat().st_size > MAX_COPY_BYTES:
        print(f"gpu-check: warning: {target.name} is {tmp.stat().st_size >> 20} MiB, over the 16 MiB the device "
              f"tool brings back", file=sys.stderr, flush=True)
    os.replace(tmp, target)


def collect(root: Path, tarball: Path, name: str | None = None) -> Path:
    """Unpack a results tarball (``--copy-to``'s) into benchmarks/results/<its folder, or ``name``>/, replacing an
    earlier tarball of the same check there, and refusing to replace another check's folder."""
    import tarfile
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
        names = {Path(m.name).parts[0] for m in members}
        bad = [m.name for m in members if not m.isfile() or len(Path(m.name).parts) != 2 or ".." in m.name]
        if len(names) != 1 or bad or not next(iter(names)).startswith("gpu-"):
            raise SystemExit(f"error: {tarball}: not a GPU check's results (one gpu-* folder of plain files)")
        packed = names.pop()
        name = name or packed
        if not name.startswith("gpu-") or "/" in name:
            raise SystemExit(f"error: --name {name!r}: a results folder's name starts with gpu- and has no /")
        target = root / "benchmarks" / "results" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            tar.extractall(tmp, filter="data")
            if not (Path(tmp) / packed / "state.json").exists():
                raise SystemExit(f"error: {tarball}: {packed}/state.json is missing")
            new_env, old_env = Path(tmp) / packed / "environment.json", target / "environment.json"
            if old_env.exists() and (not new_env.exists() or new_env.read_bytes() != old_env.read_bytes()):
                raise SystemExit(f"error: {target.relative_to(root)} holds another GPU check (its environment.json "
                                 f"differs): collect this one under another name (--name gpu-...)")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(Path(tmp) / packed, target)
    return target


def device_slug() -> str:
    if SMOKE:
        return "cpu-smoke"
    import torch
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(0).lower()).strip("-")


def environment(root: Path) -> dict:
    """The device, driver, torch, CUDA and cuDNN versions and the commit the figures belong to."""
    import torch
    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
           "smoke": SMOKE, "cpu": platform.processor() or platform.machine()}
    if not SMOKE:
        env["device"] = torch.cuda.get_device_name(0)
        smi = shutil.which("nvidia-smi")
        if smi:
            out = subprocess.run([smi, "--query-gpu=driver_version,memory.total", "--format=csv,noheader"],
                                 capture_output=True, text=True)
            env["driver"] = out.stdout.strip() or None
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    prepared = root / PREPARED / "commit"  # a copy of the tree without .git: the commit prepare saw
    env["commit"] = commit.stdout.strip() or (prepared.read_text().strip() if prepared.exists() else None)
    return env


# ----------------------------------------------------------------------------- the parts

def _identity(flags: tuple[str, ...], only: str | None) -> Callable[[Check, float], dict]:
    def run(check: Check, left: float) -> dict:
        args = ["tests/_golden_cases.py", "1", "--train-only", "--keep-going", *flags, *(["--only", only] if only else [])]
        runs = []
        for _ in range(2):
            started = time.monotonic()
            out = check.python(args, left)
            left -= time.monotonic() - started
            if out.returncode != 0:
                return {"status": "failed", "error": out.stderr.strip().splitlines()[-1:] or ["exit status"]}
            runs.append(json.loads(out.stdout))
        failed = sorted(case for case in runs[0] if str(runs[0][case]).startswith("error: "))
        differ = sorted(case for case in runs[0] if case not in failed and runs[0][case] != runs[1].get(case))
        status = "failed" if failed else "differ" if differ else "ok"
        return {"status": status, "flags": list(flags), "cases": runs[0], "differ": differ, "failed": failed,
                "summary": f"{len(runs[0])} networks, {len(differ)} differ, {len(failed)} failed"
                           + "".join(f"; {case}: {runs[0][case]}" for case in failed)}
    return run


def _bench(component: str) -> Callable[[Check, float], dict]:
    def run(check: Check, left: float) -> dict:
        out_json = check.folder / f"bench-{component}.json"
        args = ["benchmarks/gpu.py", "--only", component, "--json", str(out_json)]
        args += (["--device", "cpu", "--threads", "1", "--profile", "tiny", "--vq-profile", "tiny", "--batch", "1",
                  "--steps", "2", "--warmup", "1", "--identity-steps", "2"] if SMOKE
                 else ["--precision", "bf16", "--channels-last", *(["--compile"] if component.startswith("prior") else [])])
        out = check.python(args, left)
        if not out_json.exists():
            return {"status": "failed", "error": out.stderr.strip().splitlines()[-1:] or ["no JSON written"]}
        row = json.loads(out_json.read_text()).get("components", {}).get(component, {})
        summary = {k: row[k] for k in ("step_seconds", "peak_memory_bytes", "implied_hours") if k in row}
        summary["identical"] = row.get("identity", {}).get("identical")
        return {"status": "ok" if out.returncode == 0 else "failed", "file": out_json.name, "summary": summary,
                **({"error": [row["error"]]} if "error" in row else {})}
    return run


# The metric weights travel xz-packed: the device tool carries at most 64 MiB with the working tree, and
# I3D's and LPIPS's weights alone are 61 MB (packed, about 6 MB less).
PACKED = ".xz"


def _pack(path: Path) -> None:
    """Replace ``path`` by ``path.xz`` (written beside it, then renamed)."""
    import lzma
    tmp = path.with_name(path.name + PACKED + ".tmp")
    tmp.write_bytes(lzma.compress(path.read_bytes(), preset=1))
    tmp.replace(path.with_name(path.name + PACKED))
    path.unlink()


def _unpack(packed: Path) -> None:
    """Replace ``<name>.xz`` by ``<name>`` (written beside it, then renamed)."""
    import lzma
    target = packed.with_name(packed.name[: -len(PACKED)])
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(lzma.decompress(packed.read_bytes()))
    tmp.replace(target)
    packed.unlink()


def _dag(check: Check, left: float) -> dict:
    prepared = check.root / PREPARED
    for marker in (prepared / "done").glob("*"):  # stages whose outputs travelled (the metric weights)
        (check.root / ".plan").mkdir(exist_ok=True)
        shutil.copyfile(marker, check.root / ".plan" / marker.name)
    if (prepared / "models").exists():
        shutil.copytree(prepared / "models", check.root / "models", dirs_exist_ok=True)
        for packed in (check.root / "models").rglob("*" + PACKED):
            _unpack(packed)
    # the stages read ./params.yaml: the profile's while the plan runs, the project's own again after it
    # (a backup first, so a call killed mid-plan leaves it to be restored by the next)
    params, backup = check.root / "params.yaml", check.root / ".gpu-check" / "params.yaml.orig"
    if backup.exists():
        shutil.copyfile(backup, params)
    shutil.copyfile(params, backup)
    shutil.copyfile(prepared / "params.yaml", params)
    started = time.monotonic()
    log = check.folder / "dag.log"
    try:
        out = run_group(["bash", str(prepared / "plan.sh")], check.root, max(1.0, left),
                        {**check.env(), "PLAN_JOBS": str(check.jobs)})
    except subprocess.TimeoutExpired as cut:  # keep what the plan printed and how far it got, then let it count as a cut
        printed = _text(cut.stdout)
        with log.open("a") as f:
            f.write(printed + _text(cut.stderr))
        cut.progress = {**plan_progress(printed), "jobs": check.jobs, **_train_seconds(check.root)}
        raise
    finally:
        shutil.copyfile(backup, params)
        backup.unlink()
    with log.open("a") as f:
        f.write(out.stdout + out.stderr)
    if out.returncode != 0:
        return {"status": "failed", "error": out.stderr.strip().splitlines()[-1:] or ["exit status"]}
    record = {"status": "ok", "seconds": round(time.monotonic() - started, 1), "jobs": check.jobs,
              "stages": plan_progress(out.stdout)["stages_done"]}
    board = check.root / "reports" / "smmnist" / "leaderboard" / "leaderboard.json"
    if board.exists():
        shutil.copyfile(board, check.folder / "leaderboard-smmnist.json")
        import yaml
        runs = yaml.safe_load((prepared / "params.yaml").read_text()).get("runs", {})
        rows = json.loads((board.parent / "rows.json").read_text())["rows"]
        references = frozenset(r["run"] for r in rows if r.get("kind") == "measured" and r.get("learned") is False)
        record["versus_copy_last"] = versus_copy_last(json.loads(board.read_text()), runs, references)
        record["summary"] = ", ".join(f"{m} {'beats' if v['beats'] else 'behind'} copy-last by {abs(v['margin']):.3g}"
                                      for m, v in record["versus_copy_last"].items())
    return {**record, **_train_seconds(check.root)}


def run_group(cmd: list[str], cwd: Path, timeout: float, env: dict[str, str]) -> subprocess.CompletedProcess:
    """subprocess.run in a process group of its own, all of which is killed at the timeout: a plan cut by
    the budget must not leave its stages (several at once with PLAN_JOBS) training beside the next part."""
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as cut:
            os.killpg(proc.pid, signal.SIGKILL)
            cut.stdout, cut.stderr = proc.communicate()
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def _text(stream: bytes | str | None) -> str:
    """A cut subprocess's partial output, which subprocess leaves as bytes even with text=True."""
    return stream.decode(errors="replace") if isinstance(stream, bytes) else stream or ""


def _train_seconds(root: Path) -> dict:
    """{"train_seconds": {run: seconds}} of the SM-MNIST trainings the plan finished; {} before the first."""
    timings = sorted((root / "logs" / "timings").glob("train@smmnist-*.json"))
    seconds = {t.stem.split("@", 1)[1]: json.loads(t.read_text()).get("seconds") for t in timings}
    return {"train_seconds": seconds} if seconds else {}


def plan_progress(printed: str) -> dict:
    """How far a plan got, from what it printed (``== <stage>`` as each starts, ``== <stage> (done)`` for one a
    former call finished, ``-- <stage> finished (N s)`` as each ends): {stages_done, stage_running}, the
    running stages comma-separated (several at once with PLAN_JOBS)."""
    lines = printed.splitlines()
    started = [line[3:] for line in lines if line.startswith("== ") and not line.endswith(" (done)")]
    done = {line[3:].removesuffix(" (done)") for line in lines if line.startswith("== ") and line.endswith(" (done)")}
    done |= {line[3:].split(" finished (", 1)[0] for line in lines if line.startswith("-- ") and " finished (" in line}
    running = [name for name in dict.fromkeys(started) if name not in done]
    return {"stages_done": len(done), **({"stage_running": ", ".join(running)} if running else {})}


def versus_copy_last(board: dict, runs: dict, references: frozenset[str] = frozenset()) -> dict:
    """Per metric, the best learned run of a leaderboard ({run: {metric: value}}) against the benchmark's
    copy-last run (``runs``: params' runs section): {metric: {run, value, copy_last, margin, beats}}, the
    margin positive when the run is better (lower FVD and LPIPS, higher PSNR and SSIM). ``references``: the
    runs that learn nothing besides copy-last (rows.json's ``learned: false``), never the best learned run."""
    base = next((r for r in board if runs.get(r, {}).get("model") == "copy_last"), None)
    if base is None:
        return {}
    out = {}
    for metric in ("psnr", "ssim", "lpips", "fvd"):
        lower = metric in ("lpips", "fvd")
        scored = [r for r in board if r != base and r not in references and isinstance(board[r].get(metric), (int, float))]
        if not scored or not isinstance(board[base].get(metric), (int, float)):
            continue
        best = (min if lower else max)(scored, key=lambda r: board[r][metric])
        value, baseline = board[best][metric], board[base][metric]
        margin = baseline - value if lower else value - baseline
        out[metric] = {"run": best, "value": value, "copy_last": baseline, "margin": margin, "beats": margin > 0}
    return out


def _learning(run_name: str) -> Callable[[Check, float], dict]:
    def run(check: Check, left: float) -> dict:
        import yaml
        params = check.root / PREPARED / "params.yaml"
        raw = yaml.safe_load(params.read_text())
        run_cfg = raw["runs"][run_name]
        steps = run_cfg.get("overrides", {}).get("train", {}).get("steps") or raw["train"][run_cfg["model"]]["steps"]
        out_json = check.folder / "learning.json"
        args = ["benchmarks/learning.py", "--run", run_name, "--params", str(params),
                "--every", str(max(1, steps // 4)), "--label", "gpu profile", "--scratch", str(check.root / ".gpu-check" / "learning"),
                "--out", str(out_json)]
        out = check.python(args, left)
        if out.returncode != 0:
            return {"status": "failed", "error": out.stderr.strip().splitlines()[-1:] or ["exit status"]}
        return {"status": "ok", "file": out_json.name, "summary": out.stdout.strip().splitlines()[-1:]}
    return run


def bench_components() -> list[str]:
    """benchmarks/gpu.py's components: the VQ family's three networks, then every registered one-network model."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu
    return list(gpu.COMPONENTS)


def parts() -> list[Part]:
    if SMOKE:
        return [Part("identity", _identity((), "train:svg_lp")),
                Part("identity-compiled", _identity((), "train:feature_flow")),  # compiling needs CUDA here
                Part("bench:svg_lp", _bench("svg_lp")),
                Part("smmnist", _dag)]
    return [Part("identity", _identity(CUDA_FLAGS, None)),
            Part("identity-compiled", _identity((*CUDA_FLAGS, "--compile"), None)),
            *(Part(f"bench:{c}", _bench(c)) for c in bench_components()),
            Part("smmnist", _dag),
            *(Part(f"learning:{r}", _learning(r)) for r in GPU_LEARNING_RUNS)]


def selected(pattern: str | None) -> list[Part]:
    """The parts whose names ``pattern`` matches whole (a regex; None: every part), in priority order."""
    try:
        chosen = [p for p in parts() if pattern is None or re.fullmatch(pattern, p.name)]
    except re.error as exc:
        raise SystemExit(f"error: --parts {pattern!r} is not a regular expression: {exc}") from None
    if not chosen:
        raise SystemExit(f"error: --parts {pattern!r} matches no part; the parts: {', '.join(p.name for p in parts())}")
    return chosen


def run_check(root: Path, budget: float, copy_to: Path | None, stop_after: int | None = None,
              only: str | None = None, jobs: int = 1) -> int:
    """Run the parts not done yet (of those ``only`` matches) within ``budget`` seconds, the SM-MNIST plan
    ``jobs`` stages at once; 0 when they are all done."""
    chosen = selected(only)
    check = Check(root, copy_to, jobs)
    check.install_wheels()
    started, ran = time.monotonic(), 0
    for part in chosen:
        entry = check.state["parts"].get(part.name, {})
        if entry.get("status") in ("ok", "differ", "failed"):
            continue
        left = budget - (time.monotonic() - started)
        if left <= 5 or (stop_after is not None and ran >= stop_after):
            break
        t0 = time.monotonic()
        try:
            record = part.run(check, left)
        except subprocess.TimeoutExpired as exc:
            cuts = entry.get("cut", 0) + 1
            progress = getattr(exc, "progress", {})  # a part that knows how far it got says so
            where = (f": {progress['stages_done']} stage(s) done, {progress['stage_running']} running"
                     if "stage_running" in progress else "")
            record = {"status": "failed" if cuts >= 2 else "cut", "cut": cuts,
                      "error": [f"past the budget {cuts} time(s){where}"], **progress}
        record["seconds"] = record.get("seconds", round(time.monotonic() - t0, 1))
        check.record(part.name, record)
        ran += 1
        print(f"gpu-check: {part.name} {record['status']} ({record['seconds']} s)"
              + (f": {record['summary']}" if "summary" in record else "")
              + (f": {record['error'][0]}" if record.get("error") else ""), flush=True)
        if record["status"] == "cut":
            break
    left_parts = [p.name for p in chosen if check.state["parts"].get(p.name, {}).get("status")
                  not in ("ok", "differ", "failed")]
    if left_parts:
        print(f"gpu-check: {len(left_parts)} part(s) left ({left_parts[0]} next): run it again", flush=True)
        return 3
    names = {p.name for p in chosen}
    failed = [n for n, e in check.state["parts"].items() if n in names and e.get("status") != "ok"]
    print(f"gpu-check: done, {len(failed)} not ok{': ' + ', '.join(failed) if failed else ''} -> "
          f"{check.folder.relative_to(root)}", flush=True)
    return 0


def prepare(root: Path, profile: str, only: str, wheels: bool) -> None:
    """Where DVC is: the profile's params and the plan of ``only`` for it (resolved by DVC in a scratch
    project holding dvc.yaml and those params), the metric weights with their plan markers, and (with
    ``wheels``) benchmarks/gpu_check_wheels.txt's wheels."""
    sys.path.insert(0, str(root))
    import yaml
    from genvid import params as P
    from genvid.profiles import apply, load_profile
    from workflow.plan import DONE, plan, script
    from workflow.dag import load_stages

    out = root / PREPARED
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    applied = apply(P.read_params(root / "params.yaml"), load_profile(profile, root / "profiles"))
    (out / "params.yaml").write_text(yaml.safe_dump(applied, sort_keys=False))
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        shutil.copyfile(root / "dvc.yaml", scratch / "dvc.yaml")
        shutil.copyfile(out / "params.yaml", scratch / "params.yaml")
        (scratch / ".dvc").mkdir()
        (scratch / ".dvc" / "config").write_text("[core]\n    no_scm = True\n")
        stages = plan(load_stages(scratch), only)
    (out / "plan.sh").write_text(script(stages))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    (out / "commit").write_text(commit + "\n")
    weights = root / "models" / "metrics"
    carried = [s for s in stages if s.name == "metric_weights"]
    if carried and weights.exists():
        shutil.copytree(weights, out / "models" / "metrics")
        for f in sorted((out / "models").rglob("*")):
            if f.is_file() and f.stat().st_size > 1 << 20:
                _pack(f)
        (out / "done").mkdir()
        for stage in carried:
            (out / "done" / stage.name).write_text(stage.cmd)
    if wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
                        "--platform", "manylinux2014_x86_64", "-d", str(root / WHEELS),
                        "-r", str(root / "benchmarks" / "gpu_check_wheels.txt")], check=True)
    print(f"gpu-check: prepared {len(stages)} stages of the {profile} profile ({only}) in {PREPARED}; "
          f"the plan skips what {DONE}/ marks done")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", nargs="?", default="run", choices=("run", "prepare", "collect"))
    p.add_argument("tarball", nargs="?", type=Path, help="collect: the results tarball the device brought back")
    p.add_argument("--root", type=Path, help="the project (default: this checkout; the smoke mode needs a copy)")
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET, help="seconds this call may run parts for")
    p.add_argument("--copy-to", type=Path, help="a folder that gets the results as one tarball after every part ($OUT)")
    p.add_argument("--name", help="collect: the folder's name in benchmarks/results (default: the tarball's)")
    p.add_argument("--stop-after", type=int, help="run at most this many parts (tests: a stop between parts)")
    p.add_argument("--parts", metavar="REGEX", help="run only the parts whose names this matches whole, e.g. "
                   "'smmnist|learning:.*' when a committed check of the same models already holds the others")
    p.add_argument("--jobs", type=int, default=2 if SMOKE else DEFAULT_JOBS,
                   help=f"stages of the SM-MNIST plan run at once (PLAN_JOBS; default {DEFAULT_JOBS}, 2 in the smoke mode)")
    p.add_argument("--profile", default="tiny" if SMOKE else "gpu", help="prepare: the profile (default gpu)")
    p.add_argument("--no-wheels", action="store_true", help="prepare: fetch no wheels (the smoke mode needs none)")
    p.add_argument("--only", default="normalize@smmnist" if SMOKE else "leaderboard@smmnist",
                   help="prepare: the stages planned, a regex over stage names (and everything upstream)")
    args = p.parse_args(argv)
    root = (args.root or ROOT).resolve()
    if args.command == "run" and SMOKE and args.root is None:
        print("error: the smoke mode writes the tiny profile's SM-MNIST data under its root: run it on a copy "
              "(--root DIR), as tests/test_gpu_check.py does", file=sys.stderr)
        return 2
    if args.command == "collect":
        if args.tarball is None:
            p.error("collect needs the tarball: gpu_check.py collect FILES_AT/gpu-<device>-<date>-<commit>.tar.gz")
        print(f"gpu-check: collected {collect(root, args.tarball, args.name).relative_to(root)}")
        return 0
    if args.command == "prepare":
        prepare(root, args.profile, args.only, not (args.no_wheels or SMOKE))
        return 0
    if not (root / PREPARED / "plan.sh").exists():  # a set-up error, not a part's failure: nothing is recorded
        print(f"error: {root / PREPARED / 'plan.sh'} is missing: run `make gpu-check-prepare` where DVC is and "
              f"carry .gpu-check", file=sys.stderr)
        return 2
    if not SMOKE:
        import torch
        if not torch.cuda.is_available():
            print("error: no CUDA device (GPU_CHECK_DEVICE=cpu runs the smoke mode)", file=sys.stderr)
            return 2
    if args.jobs < 1:
        p.error(f"--jobs must be at least 1, not {args.jobs}")
    return run_check(root, args.budget, args.copy_to, args.stop_after, args.parts, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
