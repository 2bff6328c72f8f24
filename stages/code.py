"""Stage code: each stage's and each registered model's code, hashed (what DVC reruns on a code change).

Writes deps/stages/<stage>.json for every other stage module (genvid.codegraph.stage_code: the files of genvid and
stages it reaches, outside genvid/models) and deps/models/<model>.json for every model of the registry (issue
45: genvid.codegraph.model_code, the shared core and the family folders its own modules reach), each with its
files' md5. A stage depends on its own file, a run's stages also on their model's: a change inside one family's
folder reruns that family's runs (and what reads them) and leaves every other run up to date, and dvc.lock holds
one entry per stage for its code, not one per file. A file of a stage or model that no longer exists is removed.
"""
from __future__ import annotations

from pathlib import Path

from genvid.cli import stage_parser
from genvid.codegraph import CODE_DIR, STAGE_CODE_DIR, manifest, stage_manifest, stage_modules
from genvid.io import write_json
from genvid.models.registry import MODELS
from genvid.stage import cli_main


def write_all(out: Path, manifests: dict[str, dict], what: str) -> None:
    """One file per name, and the files of names no longer there removed."""
    out.mkdir(parents=True, exist_ok=True)
    for name, data in manifests.items():
        write_json(out / f"{name}.json", data)
        print(f"code: {what} {name}: {len(data['files'])} files")
    for stale in sorted(set(out.glob("*.json")) - {out / f"{n}.json" for n in manifests}):
        stale.unlink()
        print(f"code: removed {stale.relative_to(out.parent.parent).as_posix()} (no such {what})")


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--root", default=".", help="folder the output paths are relative to")
    args = parser.parse_args(argv)
    root = Path(args.root)
    stage_names = [m.rsplit(".", 1)[1] for m in stage_modules() if m != __spec__.name]  # not this stage's (a cycle)
    write_all(root / STAGE_CODE_DIR, {name: stage_manifest(name) for name in stage_names}, "stage")
    write_all(root / CODE_DIR, {name: manifest(spec) for name, spec in MODELS.items()}, "model")


if __name__ == "__main__":
    main()
