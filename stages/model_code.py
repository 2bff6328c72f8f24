"""Stage model_code: each registered model's code, hashed (issue 45: per-family dependencies).

Writes deps/models/<model>.json for every model of the registry: the files of genvid/models it runs (the
shared core and the family folders its own modules reach, genvid.codegraph.model_code) with their md5. A run's
stages depend on its model's file instead of all of genvid/models, so a change inside one family's folder
reruns that family's runs (and what reads them) and leaves every other run up to date. A file of a model no
longer registered is removed.
"""
from __future__ import annotations

from pathlib import Path

from genvid.cli import stage_parser
from genvid.codegraph import CODE_DIR, manifest
from genvid.io import write_json
from genvid.models.registry import MODELS
from genvid.stage import cli_main


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--root", default=".", help="folder the output path is relative to")
    args = parser.parse_args(argv)
    out = Path(args.root) / CODE_DIR
    out.mkdir(parents=True, exist_ok=True)
    for name, spec in MODELS.items():
        data = manifest(spec)
        write_json(out / f"{name}.json", data)
        print(f"model_code: {name}: {len(data['files'])} files")
    for stale in sorted(set(out.glob("*.json")) - {out / f"{n}.json" for n in MODELS}):
        stale.unlink()
        print(f"model_code: removed {stale.name} (not registered)")


if __name__ == "__main__":
    main()
