"""Parameter profiles: deep-merge ``profiles/<name>.yaml`` over ``params.yaml``.

    python -m genvid.profiles thesis            # rewrite params.yaml with the thesis values
    python -m genvid.profiles thesis --dvc-set  # print `-S key=value` args for `dvc exp run`

params.yaml stays the one file DVC tracks; a profile is only a set of overrides, so switching
back is `git checkout params.yaml`.
"""
from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import yaml

from genvid.errors import GenvidError
from genvid.stage import cli_main
from genvid.io import atomic_write_text
from genvid.params import PARAMS_FILE, read_params

PROFILES_DIR = Path("profiles")


# Sections of named entries a profile may add to (a bigger DAG: the paper profile's noisy-VQ study of
# driving), and an ablation's variants (the paper profile's costlier ones); below an entry, and
# everywhere else, a key absent from params.yaml is a typo.
ADDABLE = ("runs", "ablations", "noisy_vq")


def _addable(path: str) -> bool:
    """``path`` (dotted, no trailing dot) is a section a profile may add entries to."""
    parts = path.split(".")
    return path in ADDABLE or (len(parts) == 3 and parts[0] == "ablations" and parts[2] == "variants")


def merge(base: dict, overrides: dict, path: str = "") -> dict:
    """Deep merge; an override key absent from ``base`` is an error (a typo, not a new param), but for a
    new entry directly under an ADDABLE section or an ablation's variants."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        dotted = f"{path}{key}"
        if key not in merged and _addable(path.rstrip(".")) and isinstance(value, dict):
            merged[key] = copy.deepcopy(value)
            continue
        if key not in merged:
            raise GenvidError(f"profile key {dotted} does not exist in {PARAMS_FILE}")
        if isinstance(value, dict) and isinstance(merged[key], dict):
            merged[key] = merge(merged[key], value, dotted + ".")
        else:
            merged[key] = value
    return merged


REMOVE = "remove"  # a profile's list of dotted params keys it deletes before merging (runs, variants, a run's budget)


def remove(params: dict, dotted_keys: list[str]) -> dict:
    """``params`` without each dotted key (``runs.driving-rfn``); a key that does not exist is an error."""
    out = copy.deepcopy(params)
    for dotted in dotted_keys:
        *parents, last = dotted.split(".")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or last not in node:
            raise GenvidError(f"profile {REMOVE}: {dotted} does not exist in {PARAMS_FILE}")
        del node[last]
    return out


def apply(params: dict, profile: dict) -> dict:
    """``params`` without the profile's ``remove`` keys, then the profile's overrides merged over it; a
    training setting the profile gives a family that a run of params.yaml would silently override is an
    error (check_run_budgets)."""
    overrides = {k: v for k, v in profile.items() if k != REMOVE}
    base = remove(params, list(profile.get(REMOVE) or []))
    check_run_budgets(base, overrides)
    return merge(base, overrides)


def check_run_budgets(params: dict, overrides: dict) -> None:
    """A run's ``overrides.train`` in params.yaml is the default profile's CPU budget for that run (the steps
    and batch its learning curve chose). It deep-merges over ``train.<model>`` after any profile, so a profile
    that sets the same key for the family would lose it on that run without a word: the paper profile's
    180,000 SVG-LP steps would train the steered run 1,200. Raise where that would happen."""
    family_train = overrides.get("train") or {}
    profile_runs = overrides.get("runs") or {}
    for name, entry in (params.get("runs") or {}).items():
        if not isinstance(entry, dict):
            continue
        budget = flatten(((entry.get("overrides") or {}).get("train")) or {})
        if not budget:
            continue
        from_profile = flatten(family_train.get(entry.get("model")) or {})
        restated = flatten((((profile_runs.get(name) or {}).get("overrides") or {}).get("train")) or {})
        for key in budget:
            if key in from_profile and key not in restated:
                raise GenvidError(
                    f"the profile sets train.{entry.get('model')}.{key}, but {PARAMS_FILE}'s runs.{name}.overrides."
                    f"train.{key} (the default profile's budget for that run) would override it there: add "
                    f"runs.{name}.overrides.train to the profile's {REMOVE} list, or restate the key under "
                    f"runs.{name}.overrides.train in the profile")


def flatten(overrides: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in overrides.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def load_profile(name: str, profiles_dir: Path = PROFILES_DIR) -> dict:
    path = Path(profiles_dir) / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in Path(profiles_dir).glob("*.yaml")))
        raise GenvidError(f"{path}: no such profile (known: {known})")
    return read_params(path)


def apply_profile(name: str, params_path: str | Path = PARAMS_FILE,
                  profiles_dir: Path = PROFILES_DIR) -> dict:
    merged = apply(read_params(params_path), load_profile(name, profiles_dir))
    header = f"# genvid parameters with profile '{name}' applied (profiles/{name}.yaml).\n"
    atomic_write_text(params_path, header + yaml.safe_dump(merged, sort_keys=False))
    return merged


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile")
    parser.add_argument("--params", default=PARAMS_FILE)
    parser.add_argument("--dvc-set", action="store_true", help="print dvc exp run -S arguments instead")
    args = parser.parse_args(argv)
    if args.dvc_set:
        profile = load_profile(args.profile)
        if profile.get(REMOVE):
            raise GenvidError(f"profile {args.profile} removes params keys, which `dvc exp run -S` cannot do; "
                              f"apply it with `python -m genvid.profiles {args.profile}`")
        check_run_budgets(read_params(args.params), profile)  # what `apply` refuses, `dvc exp run -S` must not do
        flat = flatten(profile)
        print(" ".join(f"-S {key}={json.dumps(value)}" for key, value in flat.items()))
        return
    apply_profile(args.profile, args.params)
    print(f"{args.params}: applied profile '{args.profile}'")


if __name__ == "__main__":
    main()
