"""One benchmark's leaderboard (docs/design.md §3, §7; issue 9 item 4): every run of the benchmark in
params.yaml, measured, then the seeds' published rows (genvid.published), never mixed.

Read top to bottom like the table:

1. **Measured rows**, one per run of the benchmark, ordered by the headline metric, FVD (lowest
   first; runs without one last, ties in params order), copy-last marked ``baseline``, a run of a model
   without parameters (copy-last, the context median) marked ``learned: false``, each with its
   ``fvd_rank``: runs whose FVD 95 % intervals overlap are not separated by an FVD over these test clips,
   and share a rank (``ranked``). Each run's evaluate and
   train outputs must exist (a missing one is an error naming the file); a row holds
   PSNR/SSIM/LPIPS under the three rules of genvid.metrics.stats (best_seq, the headline;
   best_step; mean-of-N) with their 95 % intervals, FVD mean ± sd over repeats with its 95 % interval
   over the test clips, and the samples' diversity
   (pairwise LPIPS, with its interval; none with one sample per clip) and, on a benchmark with
   counterfactual clips, their fidelity (LPIPS), action sensitivity and direction with intervals
   (genvid.controllability) and, on a benchmark with motion labels, the motion accuracy of its
   futures (mean-of-N, best-of-N, and the real futures' ceiling, with intervals: genvid.metrics.motion)
   and, on a benchmark with a long-horizon protocol, its PSNR/SSIM/LPIPS under the three rules, FVD,
   diversity, the per-timestep LPIPS and SSIM (best of N per timestep, mean of N) and the first predicted
   frame at which the run's mean-of-N LPIPS exceeds the copy-last run's (``long_horizon``)
   (scores.json), bits per dimension where the model has a likelihood and the parameter count
   (train_metrics.json).
   metrics.json is only required, not read: evaluate writes it last, so it says the run's
   evaluation finished.
2. **Protocol check.** A run that could not honour the benchmark's protocol is flagged
   (``protocol_ok: false`` and the reason), never dropped or rescored: a
   ``protocol_deviation`` text in its train_metrics.json or protocol.json, or an evaluation
   whose context, horizon or N differs from ``benchmarks.<b>.protocol``.
3. **Published rows** of the benchmark, ``kind: "published"``, each with its source and its
   protocol differences against genvid's numbers as built here.

The long-horizon protocol's settings are the ones evaluate recorded (protocol.json's ``long_horizon``,
checked there against params), stated once in rows.json's ``long_horizon``: a benchmark's runs have
it all or none (a run without it beside runs with it is flagged, never dropped).

Files (``write_leaderboard``; atomic, sorted keys, floats to 7 significant digits, so the bytes
depend only on the inputs): ``leaderboard.json`` (numbers only, the headline keys of the
measured runs; a plain output: ``dvc metrics show`` lists the runs' metrics.json instead), ``rows.json`` (everything; the report reads it),
``leaderboard.tsv`` (one line per row, a ``kind`` column). Wall times are measurements of
the machine, not of the models: ``write_timings`` puts them in the untracked ``timings.tsv``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from genvid import params as P
from genvid import published as pub
from genvid.config import parse_config
from genvid.errors import GenvidError, ParamError
from genvid.io import atomic_write_text, dumps_json, read_json
from genvid.layout import run_paths

# The names genvid.evaluation and genvid.metrics.stats write (a test checks they agree; not
# imported, so the leaderboard needs neither torch nor the metric networks).
PREDICTIONS = "predictions"
IMAGE_METRICS = ("psnr", "ssim", "lpips")
RULES = ("best_seq", "best_step", "mean")
HEADLINE_RULE = "best_seq"
HEADLINE_METRIC = "fvd"  # what ranks the measured rows: the one score of whole videos (docs/design.md §7)
BASELINE_MODEL = "copy_last"
FVD_DECIMALS = 4  # FVD is in the hundreds: 4 decimals are far below its repeat-to-repeat sd (metrics.json: 2)

FLOAT_FORMAT = ".7g"
MEASURED, PUBLISHED = "measured", "published"


def _num(value: float) -> float:
    """A float rounded to FLOAT_FORMAT: the JSON and the TSV say the same number."""
    return float(format(float(value), FLOAT_FORMAT))


# ----------------------------------------------------------------------------- reading a run

def _read(path: Path, run: str, stage: str) -> dict:
    if not path.is_file():
        raise GenvidError(f"{path}: file not found (run '{run}' of the leaderboard; produce it with "
                          f"`dvc repro {stage}@{run}`)")
    data = read_json(path)
    if not isinstance(data, dict):
        raise GenvidError(f"{path}: expected a JSON object")
    return data


def _get(data: Any, path: Path, *keys: str) -> Any:
    node = data
    for i, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            raise GenvidError(f"{path}: key '{'.'.join(keys[:i + 1])}' missing")
        node = node[key]
    return node


def _float(value: Any, path: Path, key: str, decimals: int | None = None) -> float:
    """A number of a run's file, to FLOAT_FORMAT (first to ``decimals`` places where given)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GenvidError(f"{path}: '{key}' must be a number, got {value!r}")
    return _num(value if decimals is None else round(value, decimals))


def _average(scores: dict, path: Path, metric: str, rule: str, *within: str) -> dict[str, Any]:
    """{"mean", "ci95": [lo, hi] | None} of the predictions' time-averaged score under ``rule`` (of the
    section ``within``: the long horizon's)."""
    keys = (*within, "series", PREDICTIONS, metric, rule, "average")
    avg, where = _get(scores, path, *keys), ".".join(keys)
    if not isinstance(avg, dict) or "mean" not in avg:
        raise GenvidError(f"{path}: '{where}' must hold 'mean' and 'ci95'")
    ci = avg.get("ci95")
    if ci is not None and (not isinstance(ci, list) or len(ci) != 2):
        raise GenvidError(f"{path}: '{where}.ci95' must be [lo, hi] or null, got {ci!r}")
    return {"mean": _float(avg["mean"], path, f"{where}.mean"),
            "ci95": None if ci is None else [_float(c, path, f"{where}.ci95") for c in ci]}


def _fvd(scores: dict, path: Path) -> dict[str, Any] | None:
    """{"mean", "sd", "repeats"} of the predictions' FVD, None where evaluate skipped it."""
    fvd = _get(scores, path, "fvd")
    section = fvd.get(PREDICTIONS) if isinstance(fvd, dict) else None
    if section is None:
        return None
    out: dict[str, Any] = {"mean": _float(_get(scores, path, "fvd", PREDICTIONS, "mean"), path,
                                          f"fvd.{PREDICTIONS}.mean", FVD_DECIMALS)}
    sd = _get(scores, path, "fvd", PREDICTIONS, "sd")  # null for one repeat: a value, not a spread
    out["sd"] = None if sd is None else _float(sd, path, f"fvd.{PREDICTIONS}.sd", FVD_DECIMALS)
    values = section.get("values")
    out["repeats"] = len(values) if isinstance(values, list) else None
    ci = section.get("ci95")  # over the test clips (genvid.evaluation.fvd_interval); absent in older scores
    if ci is not None and (not isinstance(ci, list) or len(ci) != 2):
        raise GenvidError(f"{path}: 'fvd.{PREDICTIONS}.ci95' must be [lo, hi] or null, got {ci!r}")
    out["ci95"] = None if ci is None else [_float(c, path, f"fvd.{PREDICTIONS}.ci95", FVD_DECIMALS) for c in ci]
    return out


def _diversity(scores: dict, path: Path, *within: str) -> dict[str, Any] | None:
    """{"mean", "ci95"} of the predictions' pairwise LPIPS (genvid.evaluation.diversity), None where
    evaluate had one sample per clip."""
    section = _get(scores, path, *within, "diversity")
    if not isinstance(section, dict) or "skipped" in section:
        return None
    ci, where = section.get("ci95"), ".".join((*within, "diversity"))
    return {"mean": _float(section.get("mean"), path, f"{where}.mean"),
            "ci95": None if ci is None else [_float(c, path, f"{where}.ci95") for c in ci]}


def _controllability(scores: dict, path: Path) -> dict[str, Any] | None:
    """The counterfactual scores (genvid.controllability): {"cf_lpips", "cf_ssim", "sensitivity",
    "direction": {"mean", "ci95"} or None, "conditioned"}; None where the benchmark has no
    counterfactual clips."""
    section = scores.get("controllability")
    if not isinstance(section, dict) or section.get("skipped") is not None:
        return None

    def value(*keys: str) -> dict[str, Any] | None:
        node = _get(scores, path, "controllability", *keys)
        if not isinstance(node, dict) or "mean" not in node:
            return None
        ci = node.get("ci95")
        where = "controllability." + ".".join(keys)
        return {"mean": _float(node["mean"], path, f"{where}.mean"),
                "ci95": None if ci is None else [_float(c, path, f"{where}.ci95") for c in ci]}

    direction = section.get("direction") if isinstance(section.get("direction"), dict) else {}
    cue = direction.get("true_frames")
    return {"cf_lpips": value("fidelity", "lpips"), "cf_ssim": value("fidelity", "ssim"),
            "sensitivity": value("sensitivity"),
            "sensitivity_first": value("sensitivity_first") if "sensitivity_first" in section else None,
            "direction": value("direction"),
            "shift_gap": value("direction", "shift_gap") if "shift_gap" in direction else None,
            "direction_true_frames": None if cue is None else _float(cue, path, "controllability.direction.true_frames"),
            "clips": section.get("clips"), "sequences": section.get("sequences"),
            "conditioned": bool(section.get("conditioned"))}


def _motion(scores: dict, path: Path) -> dict[str, Any] | None:
    """The motion classifier's accuracy on the run's futures (genvid.metrics.motion): {"mean_of_n",
    "best_of_n", "real": {"mean", "ci95"}, "extrapolated": [{"name", "order", "mean", "ci95"}] or None}; None where
    the benchmark has no motion labels."""
    section = scores.get("motion")
    if not isinstance(section, dict) or section.get("skipped") is not None:
        return None
    out = {}
    for key in MOTION_RULES:
        node = _get(scores, path, "motion", key)
        ci = node.get("ci95") if isinstance(node, dict) else None
        out[key] = {"mean": _float(_get(scores, path, "motion", key, "mean"), path, f"motion.{key}.mean"),
                    "ci95": None if ci is None else [_float(c, path, f"motion.{key}.ci95") for c in ci]}
    refs = section.get("extrapolated")  # the reference futures' accuracy on the same clips (None: none)
    if refs is not None and (not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs)):
        raise GenvidError(f"{path}: 'motion.extrapolated' must be a list of mappings or null, got {refs!r}")
    out["extrapolated"] = None if refs is None else [
        {"name": str(_get(r, path, "name")), "order": int(_float(_get(r, path, "order"), path, "order")),
         "mean": _float(_get(r, path, "mean"), path, f"motion.extrapolated.{r.get('name')}.mean"),
         "ci95": _ci(r, path, f"motion.extrapolated.{r.get('name')}")} for r in refs]
    return out


def _ci(node: Any, path: Path, key: str) -> list[float] | None:
    ci = node.get("ci95") if isinstance(node, dict) else None
    return None if ci is None else [_float(c, path, f"{key}.ci95") for c in ci]


LONG_HORIZON = "long_horizon"  # genvid.evaluation's key in scores.json and protocol.json
LONG_CURVES = ("lpips", "ssim")  # per timestep in rows.json, under LONG_CURVE_RULES
LONG_CURVE_RULES = ("best_step", "mean")
LONG_SETTINGS = ("context_frames", "horizon", "num_samples", "clips", "fvd_repeats")


def _long_horizon(scores: dict, protocol: dict, path: dict[str, Path]) -> dict[str, Any] | None:
    """A run's long-horizon scores (genvid.evaluation): PSNR/SSIM/LPIPS averages under every rule, FVD
    (sd None with one repeat), diversity, the per-timestep LPIPS and SSIM curves and the settings it was
    evaluated with; None where the run has none."""
    section, settings = scores.get(LONG_HORIZON), protocol.get(LONG_HORIZON)
    if section is None and settings is None:
        return None
    if not isinstance(section, dict) or not isinstance(settings, dict):
        missing = path["scores"] if not isinstance(section, dict) else path["protocol"]
        raise GenvidError(f"{missing}: key '{LONG_HORIZON}' missing or not an object (the other evaluate output "
                          "has it: a stale evaluation)")
    evaluated = {}
    for key in LONG_SETTINGS:
        value = _get(protocol, path["protocol"], LONG_HORIZON, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GenvidError(f"{path['protocol']}: '{LONG_HORIZON}.{key}' must be a positive integer, got {value!r}")
        evaluated[key] = value
    where = path["scores"]
    out: dict[str, Any] = {m: {r: _average(scores, where, m, r, LONG_HORIZON) for r in RULES} for m in IMAGE_METRICS}
    fvd = _get(scores, where, LONG_HORIZON, "fvd")
    found = fvd.get(PREDICTIONS) if isinstance(fvd, dict) else None
    key = f"{LONG_HORIZON}.fvd.{PREDICTIONS}"
    mean = None if found is None else _get(scores, where, LONG_HORIZON, "fvd", PREDICTIONS, "mean")
    out["fvd"] = None if found is None else {
        "mean": _float(mean, where, f"{key}.mean", FVD_DECIMALS),
        "sd": None if found.get("sd") is None else _float(found["sd"], where, f"{key}.sd", FVD_DECIMALS),
        "repeats": len(found["values"]) if isinstance(found.get("values"), list) else None}
    out["fvd_skipped"] = fvd.get("skipped") if isinstance(fvd, dict) else None
    out["diversity"] = _diversity(scores, where, LONG_HORIZON)
    out["per_timestep"] = {}
    for metric in LONG_CURVES:
        out["per_timestep"][metric] = {}
        for rule in LONG_CURVE_RULES:
            keys = (LONG_HORIZON, "series", PREDICTIONS, metric, rule, "per_timestep", "mean")
            curve = _get(scores, where, *keys)
            if not isinstance(curve, list) or len(curve) != evaluated["horizon"]:
                raise GenvidError(f"{where}: '{'.'.join(keys)}' must be a list of {evaluated['horizon']} values "
                                  "(the long horizon)")
            out["per_timestep"][metric][rule] = [_float(v, where, ".".join(keys)) for v in curve]
    out["evaluated"] = evaluated
    return out


def worse_than_baseline_from(curve: list[float], baseline: list[float]) -> int | None:
    """The first predicted frame t (1-based) at which ``curve`` (an LPIPS, lower is better) exceeds the
    baseline's, or None where it never does within the horizon."""
    return next((t + 1 for t, (a, b) in enumerate(zip(curve, baseline)) if a > b), None)


def long_horizon_summary(measured: list[dict[str, Any]]) -> dict[str, Any] | None:
    """rows.json's ``long_horizon`` (None on a benchmark without one), and in place: each row's first frame
    worse than the baseline's, and a flag on a row without long-horizon scores beside rows with them."""
    rows = [r for r in measured if LONG_HORIZON in r["metrics"]]
    if not rows:
        return None
    for row in measured:
        if LONG_HORIZON not in row["metrics"]:
            reason = "no long-horizon scores, which the benchmark's other runs have (rerun its evaluate stage)"
            row["protocol_ok"] = False
            row["protocol_deviation"] = "; ".join(filter(None, (row["protocol_deviation"], reason)))
    base = next((r for r in rows if r["baseline"]), None)
    for row in rows:
        long = row["metrics"][LONG_HORIZON]
        long["baseline"] = None if base is None else base["run"]
        long["lpips_worse_than_baseline_from"] = None if base is None or row is base else worse_than_baseline_from(
            long["per_timestep"]["lpips"]["mean"], base["metrics"][LONG_HORIZON]["per_timestep"]["lpips"]["mean"])
    settings = {key: _agreed([r["metrics"][LONG_HORIZON]["evaluated"][key] for r in rows], "long-horizon scores")
                for key in LONG_SETTINGS}
    return {**settings, "baseline": None if base is None else base["run"],
            "worse_than_baseline": "the first predicted frame at which the run's mean-of-N LPIPS exceeds the "
                                   "baseline run's (null: never within the horizon, or no baseline run)"}


def _deviation(data: dict, path: Path) -> str | None:
    text = data.get("protocol_deviation")
    if text is not None and not (isinstance(text, str) and text.strip()):
        raise GenvidError(f"{path}: 'protocol_deviation' must be a non-empty text, got {text!r}")
    return text


def measured_row(name: str, model: str, benchmark: str, protocol: P.ProtocolConfig,
                 root: str | Path) -> dict[str, Any]:
    """One run's row from its evaluate outputs (metrics, scores, protocol) and train metrics."""
    paths = run_paths(name, benchmark, root)
    files = {"train_metrics": ("train", paths.report_dir / "train_metrics.json"),
             "metrics": ("evaluate", paths.report_dir / "metrics.json"),  # written last: evaluate finished
             "scores": ("evaluate", paths.report_dir / "scores.json"),
             "protocol": ("evaluate", paths.report_dir / "protocol.json")}
    data = {key: _read(path, name, stage) for key, (stage, path) in files.items()}
    path = {key: path for key, (_, path) in files.items()}

    metrics: dict[str, Any] = {m: {r: _average(data["scores"], path["scores"], m, r) for r in RULES}
                               for m in IMAGE_METRICS}
    metrics["fvd"] = _fvd(data["scores"], path["scores"])
    metrics["diversity"] = _diversity(data["scores"], path["scores"])
    metrics["controllability"] = _controllability(data["scores"], path["scores"])
    metrics["motion"] = _motion(data["scores"], path["scores"])
    long = _long_horizon(data["scores"], data["protocol"], path)
    if long is not None:  # absent, not null, on a benchmark without one: its rows.json stays as it was
        metrics[LONG_HORIZON] = long
    bits = data["train_metrics"].get("bits_per_dim")
    metrics["bits_per_dim"] = None if bits is None else _float(bits, path["train_metrics"], "bits_per_dim")
    parameters = _get(data["train_metrics"], path["train_metrics"], "parameters")
    if isinstance(parameters, bool) or not isinstance(parameters, int) or parameters < 0:
        raise GenvidError(f"{path['train_metrics']}: 'parameters' must be a count, got {parameters!r}")

    proto = data["protocol"]
    evaluated = {}
    for key in ("context_frames", "horizon", "num_samples", "clips"):
        value = _get(proto, path["protocol"], key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GenvidError(f"{path['protocol']}: '{key}' must be a positive integer, got {value!r}")
        evaluated[key] = value

    # A run that could not honour the protocol is flagged here, and scored as it was evaluated.
    reasons = [text for key in ("train_metrics", "protocol")
               if (text := _deviation(data[key], path[key])) is not None]
    wanted = (protocol.context_frames, protocol.horizon, protocol.num_samples)
    got = (evaluated["context_frames"], evaluated["horizon"], evaluated["num_samples"])
    if got != wanted:
        reasons.append(f"evaluated {got[0]} -> {got[1]} with N = {got[2]}; the benchmark's protocol is "
                       f"{wanted[0]} -> {wanted[1]} with N = {wanted[2]}")
    fvd_section = _get(data["scores"], path["scores"], "fvd")
    skipped = fvd_section.get("skipped") if isinstance(fvd_section, dict) else None
    return {
        "kind": MEASURED, "run": name, "model": model, "benchmark": benchmark, "baseline": model == BASELINE_MODEL,
        "learned": parameters > 0, "metrics": metrics, "fvd_skipped": skipped, "parameters": parameters, "evaluated": evaluated,
        "protocol_ok": not reasons, "protocol_deviation": "; ".join(reasons) if reasons else None,
    }


# ----------------------------------------------------------------------------- published rows

def published_row(row: pub.PublishedRow, numbers: pub.GenvidNumbers) -> dict[str, Any]:
    return {
        "kind": PUBLISHED, "model": row.model, "family": row.family, "benchmark": row.benchmark,
        "metrics": {m: {"value": _num(v.value), "pm": None if v.pm is None else _num(v.pm), "bound": v.bound}
                    for m, v in row.metrics},
        "source": {"seed": row.source.seed, "table": row.source.table, "where": row.source.where,
                   "cite": row.source.cite()},
        "differences": [{"item": d.item, "published": d.published, "genvid": d.genvid}
                        for d in pub.differences(row, numbers)],
        "note": row.note,
    }


def _agreed(values: list[int | None], what: str) -> int | str:
    """The runs' common value, or a text saying there is none."""
    known = sorted({v for v in values if v is not None})
    if not known:
        return f"unknown (no run with {what})"
    return known[0] if len(known) == 1 else "varies by run: " + ", ".join(map(str, known))


def genvid_numbers(protocol: P.ProtocolConfig, measured: list[dict[str, Any]]) -> pub.GenvidNumbers:
    """genvid's side of the numeric protocol items: params, and what the runs were evaluated on."""
    return pub.GenvidNumbers(
        protocol.context_frames, protocol.horizon, protocol.num_samples,
        _agreed([r["evaluated"]["clips"] for r in measured], "test clips evaluated"),
        _agreed([(r["metrics"]["fvd"] or {}).get("repeats") for r in measured], "an FVD"))


# ----------------------------------------------------------------------------- the table

def _runs_of(raw: dict, benchmark: str, params_path: str | Path) -> list[tuple[str, str]]:
    """(run, model) of every run of ``benchmark``, in params order (runs.<run>.benchmark/model)."""
    out, benchmarks = [], P.benchmark_names(raw, params_path)
    for name, entry in P.section(raw, "runs", params_path).items():
        if not isinstance(entry, dict):
            raise ParamError(f"{params_path}: runs.{name} must be a mapping")
        for key in ("benchmark", "model"):
            if not isinstance(entry.get(key), str):
                raise ParamError(f"{params_path}: runs.{name}.{key} must be a name, got {entry.get(key)!r}")
        if entry["benchmark"] not in benchmarks:  # a typo would drop the run from every leaderboard
            raise ParamError(f"{params_path}: runs.{name}.benchmark '{entry['benchmark']}' is not in benchmarks "
                             f"(known: {', '.join(benchmarks)})")
        if entry["benchmark"] == benchmark:
            out.append((str(name), entry["model"]))
    return out


def ranked(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Measured rows by FVD mean, lowest first; a run without FVD (skipped) after every run with one;
    ties keep params order (a stable sort). Each row gets ``fvd_rank``: 1 + the number of runs whose FVD
    95 % interval lies wholly below its own, so runs that an FVD over these test clips cannot separate
    share a rank (issue 48); null for a run without FVD or without an interval."""
    def key(row: dict[str, Any]) -> tuple[bool, float]:
        fvd = row["metrics"].get(HEADLINE_METRIC)
        return (fvd is None, fvd["mean"] if fvd is not None else 0.0)

    out = sorted(measured, key=key)
    intervals = [(row["metrics"].get(HEADLINE_METRIC) or {}).get("ci95") for row in out]
    for row, mine in zip(out, intervals):
        row["fvd_rank"] = None if mine is None else 1 + sum(
            1 for other in intervals if other is not None and other[1] < mine[0])
    return out


def build_rows(params_path: str | Path, benchmark: str, root: str | Path = ".") -> dict[str, Any]:
    """The leaderboard of ``benchmark``: its protocol, then measured rows, then published rows."""
    raw = P.read_params(params_path)
    names = P.benchmark_names(raw, params_path)
    if benchmark not in names:
        raise ParamError(f"{params_path}: benchmark '{benchmark}' is not in benchmarks (known: {', '.join(names)})")
    protocol = parse_config(P.ProtocolConfig, P.section(raw, f"benchmarks.{benchmark}.protocol", params_path),
                            f"benchmarks.{benchmark}.protocol", str(params_path))
    measured = ranked([measured_row(name, model, benchmark, protocol, root)
                       for name, model in _runs_of(raw, benchmark, params_path)])
    numbers = genvid_numbers(protocol, measured)
    published = [published_row(row, numbers) for row in pub.published_rows(benchmark)]
    long = long_horizon_summary(measured)
    return {
        "benchmark": benchmark,
        "protocol": {"context_frames": numbers.context_frames, "horizon": numbers.horizon,
                     "num_samples": numbers.num_samples, "test_videos": numbers.test_videos,
                     "fvd_repeats": numbers.fvd_repeats,
                     "items": dict(sorted(pub.GENVID_PROTOCOL.get(benchmark, {}).items()))},
        "note": pub.BENCHMARK_NOTES.get(benchmark),
        "rows": measured + published,  # measured first, always
        **({} if long is None else {LONG_HORIZON: long}),
    }


def headline(rows: dict[str, Any]) -> dict[str, dict[str, float]]:
    """leaderboard.json: per measured run, best-of-N per sequence PSNR/SSIM/LPIPS and FVD mean."""
    out = {}
    for row in rows["rows"]:
        if row["kind"] != MEASURED:
            continue
        m = row["metrics"]
        keys = {metric: m[metric][HEADLINE_RULE]["mean"] for metric in IMAGE_METRICS}
        if m["fvd"] is not None:
            keys["fvd"] = m["fvd"]["mean"]
        if m["diversity"] is not None:
            keys["diversity"] = m["diversity"]["mean"]
        for key, v in (m.get("controllability") or {}).items():
            if isinstance(v, dict) and key in CONTROL_COLUMNS:
                keys[key] = v["mean"]
        if m.get("motion"):
            keys.update({f"motion_{rule}": m["motion"][rule]["mean"] for rule in MOTION_RULES})
        long = m.get(LONG_HORIZON)
        if long is not None:
            keys["long_lpips"] = long["lpips"][HEADLINE_RULE]["mean"]
            if long["fvd"] is not None:
                keys["long_fvd"] = long["fvd"]["mean"]
        out[row["run"]] = keys
    return out


# issue 24: the counterfactual clips' scores; issue 46: the first predicted frame's sensitivity too
CONTROL_COLUMNS = ("cf_lpips", "sensitivity", "sensitivity_first", "direction")
MOTION_RULES = ("mean_of_n", "best_of_n", "real")  # issue 22 item 4: motion accuracy (labelled benchmarks only)
MOTION_COLUMNS = tuple(f"motion_{r}{e}" for r in MOTION_RULES for e in ("", "_lo", "_hi"))
# issue 23 item 2: the long-horizon protocol's headline (benchmarks with one only); rows.json has every rule
LONG_COLUMNS = ("long_fvd", "long_fvd_sd",
                *[f"long_{m}{e}" for m in ("lpips", "ssim", "psnr") for e in ("", "_lo", "_hi")],
                "long_diversity", "long_lpips_worse_than_baseline_from")
TSV_COLUMNS = (
    "kind", "name", "model", "baseline",
    *[f"{m}_{r}{e}" for m in IMAGE_METRICS for r in RULES for e in ("", "_lo", "_hi")],
    "fvd", "fvd_sd", "diversity", "diversity_lo", "diversity_hi",
    *[f"{c}{e}" for c in CONTROL_COLUMNS for e in ("", "_lo", "_hi")], "action_conditioned",
    "bits_per_dim", "parameters", "protocol_ok", "protocol_deviation",
    "published_pm", "source", "differences",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(value, FLOAT_FORMAT)
    return " ".join(str(value).split())  # no tab or newline inside a cell


def _measured_cells(row: dict[str, Any]) -> dict[str, Any]:
    m = row["metrics"]
    cells: dict[str, Any] = {"name": row["run"], "model": row["model"], "baseline": row["baseline"]}
    for metric in IMAGE_METRICS:
        for rule in RULES:
            avg = m[metric][rule]
            lo, hi = avg["ci95"] if avg["ci95"] is not None else (None, None)
            cells.update({f"{metric}_{rule}": avg["mean"], f"{metric}_{rule}_lo": lo, f"{metric}_{rule}_hi": hi})
    if m["fvd"] is not None:
        cells.update(fvd=m["fvd"]["mean"], fvd_sd=m["fvd"]["sd"])
    if m["diversity"] is not None:
        lo, hi = m["diversity"]["ci95"] or (None, None)
        cells.update(diversity=m["diversity"]["mean"], diversity_lo=lo, diversity_hi=hi)
    control = m.get("controllability")
    if control is not None:
        for key in CONTROL_COLUMNS:
            if control[key] is not None:
                lo, hi = control[key]["ci95"] or (None, None)
                cells.update({key: control[key]["mean"], f"{key}_lo": lo, f"{key}_hi": hi})
        cells["action_conditioned"] = control["conditioned"]
    for rule in MOTION_RULES if m.get("motion") else ():
        v = m["motion"][rule]
        lo, hi = v["ci95"] or (None, None)
        cells.update({f"motion_{rule}": v["mean"], f"motion_{rule}_lo": lo, f"motion_{rule}_hi": hi})
    long = m.get(LONG_HORIZON)
    if long is not None:
        for metric in ("lpips", "ssim", "psnr"):
            avg = long[metric][HEADLINE_RULE]
            lo, hi = avg["ci95"] or (None, None)
            cells.update({f"long_{metric}": avg["mean"], f"long_{metric}_lo": lo, f"long_{metric}_hi": hi})
        if long["fvd"] is not None:
            cells.update(long_fvd=long["fvd"]["mean"], long_fvd_sd=long["fvd"]["sd"])
        cells["long_diversity"] = None if long["diversity"] is None else long["diversity"]["mean"]
        worse = long.get("lpips_worse_than_baseline_from")
        if long.get("baseline") is not None and not row["baseline"]:
            cells["long_lpips_worse_than_baseline_from"] = "never" if worse is None else worse
    cells.update(bits_per_dim=m["bits_per_dim"], parameters=row["parameters"], protocol_ok=row["protocol_ok"],
                 protocol_deviation=row["protocol_deviation"])
    return cells


def _published_cells(row: dict[str, Any]) -> dict[str, Any]:
    """A published value sits in the column of the rule its source used (seed 004: the best of N
    per sequence, best_seq). Its ± goes to ``published_pm`` only, never to an interval or sd
    column: the sources do not always say what it is."""
    cells: dict[str, Any] = {"name": row["model"], "source": row["source"]["cite"],
                             "differences": "; ".join(d["item"] for d in row["differences"])}
    notes = []
    for metric, v in row["metrics"].items():
        column = metric if metric in ("fvd", "bits_per_dim") else f"{metric}_{HEADLINE_RULE}"
        cells[column] = v["value"]
        if v["pm"] is not None or v["bound"] != "=":
            notes.append(f"{metric}{' upper bound' if v['bound'] != '=' else ''}"
                         f"{'' if v['pm'] is None else ' ± ' + format(v['pm'], FLOAT_FORMAT)}")
    cells["published_pm"] = "; ".join(notes) or None
    return cells


def tsv_columns(rows: dict[str, Any]) -> tuple[str, ...]:
    """TSV_COLUMNS, with the motion accuracy's after ``action_conditioned`` on a benchmark whose runs have one,
    then the long horizon's on a benchmark with a long-horizon protocol."""
    measured = [r for r in rows["rows"] if r["kind"] == MEASURED]
    at = TSV_COLUMNS.index("action_conditioned") + 1
    extra = (MOTION_COLUMNS if any(r["metrics"].get("motion") for r in measured) else ()) + \
        (LONG_COLUMNS if LONG_HORIZON in rows else ())
    return TSV_COLUMNS[:at] + extra + TSV_COLUMNS[at:]


def tsv(rows: dict[str, Any]) -> str:
    columns = tsv_columns(rows)
    lines = ["\t".join(columns)]
    for row in rows["rows"]:
        cells = {"kind": row["kind"], **(_measured_cells(row) if row["kind"] == MEASURED else _published_cells(row))}
        lines.append("\t".join(_cell(cells.get(c)) for c in columns))
    return "\n".join(lines) + "\n"


def write_leaderboard(rows: dict[str, Any], out_dir: str | Path) -> None:
    """leaderboard.tsv, rows.json, then leaderboard.json, each atomically."""
    out = Path(out_dir)
    atomic_write_text(out / "leaderboard.tsv", tsv(rows))
    atomic_write_text(out / "rows.json", dumps_json(rows))
    atomic_write_text(out / "leaderboard.json", dumps_json(headline(rows)))


# ----------------------------------------------------------------------------- wall times (untracked)

TIMINGS_COLUMNS = ("run", "train_seconds", "sample_seconds", "sample_seconds_per_video")


def timings_tsv(rows: dict[str, Any], timings: dict[str, float]) -> str:
    """Per measured run: training and sampling wall time (stages train@<run>, sample@<run>) and
    sampling time per video = sample seconds / (clips x samples) of its samples file (as
    evaluate recorded it in protocol.json). Empty where this workspace holds no timing."""
    lines = ["\t".join(TIMINGS_COLUMNS)]
    for row in rows["rows"]:
        if row["kind"] != MEASURED:
            continue
        train, sample = timings.get(f"train@{row['run']}"), timings.get(f"sample@{row['run']}")
        videos = row["evaluated"]["clips"] * row["evaluated"]["num_samples"]
        per_video = None if sample is None else sample / videos
        lines.append("\t".join([row["run"], *(_cell(None if v is None else float(v))
                                              for v in (train, sample, per_video))]))
    return "\n".join(lines) + "\n"


def write_timings(rows: dict[str, Any], out_dir: str | Path, timings: dict[str, float]) -> None:
    """timings.tsv in ``out_dir``: never a DVC output, nor inside a folder a stage depends on (the
    report's dependency on the leaderboard folder once hashed the wall times into dvc.lock)."""
    atomic_write_text(Path(out_dir) / "timings.tsv", timings_tsv(rows, timings))
