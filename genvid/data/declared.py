"""The registry's declarations, as the report reads them: reports/figures/declared.json (stage figures writes it).

What the report says of a model beyond its run's files, the model's family declares in its registry spec
(genvid.models.family.ModelSpec) and keeps in its folder: a label and a citation, its rows of the design-choice
table (``Choice``), its source's findings against other registered models (``Claim``), the table of its
protocol-scored ablations (``AblationTable``) and, for a prior over a VQ-VAE's codes, its kind. The report
renders these generically and never imports model code (tests/test_imports.py), so it reads them from this
file, whose schema this module owns: {"models": {name: Declared as JSON}}.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genvid.errors import GenvidError
from genvid.io import read_json, write_json

# the kinds of prior over a VQ-VAE's codes (Declared.code_prior) that seed 002's noisy-VQ claims name
PIXELSNAIL_PRIOR, GAN_PRIOR = "PixelSNAIL", "GAN (WGAN-GP)"
# the findings the report knows how to check (genvid.report.findings), by the measure each compares
CLAIM_MEASURES = ("bits_per_dim", "sharpness", "fvd_ssim_lpips")


@dataclass(frozen=True)
class Choice:
    """One row of the report's design-choice table: where a family departs from its source, or fills in
    what the source leaves unstated. HTML; ``source`` and ``why`` cite a thesis as ``{001:Table 9.5}``, and
    ``{fvd_repeats}`` in ``genvid`` becomes the report's params' value. Families that share a choice share
    the object, and the report shows it once with every model that declares it."""

    setting: str  # what is chosen, with the params key or code that holds it
    genvid: str  # what genvid does
    source: str  # what the source says (or that it does not)
    why: str  # why, or the status of the choice


@dataclass(frozen=True)
class Claim:
    """A finding of the family's source against other registered models: seed 001 Table 9.5 (``bits_per_dim``:
    the others code in fewer bits), §9.3 (``sharpness``: the family's samples are sharper), seed 004 Table 4.3
    (``fvd_ssim_lpips``: the family beats the others on all three). The report checks it on the first run of
    each model of a benchmark that has them."""

    measure: str  # one of CLAIM_MEASURES
    against: tuple[str, ...]  # registered model names

    def __post_init__(self):
        if self.measure not in CLAIM_MEASURES:
            raise GenvidError(f"Claim.measure must be one of {', '.join(CLAIM_MEASURES)}, got {self.measure!r}")


@dataclass(frozen=True)
class AblationColumn:
    """A column of a protocol-scored ablation table: ``key`` of each model's protocol scores in
    ablation.json (genvid.ablation), shown with ``digits`` decimals (None: scientific where small); a list
    value (one per level) is joined with " / "."""

    header: str
    key: str
    digits: int | None = 3


@dataclass(frozen=True)
class AblationFinding:
    """One of the source's findings, tested by one variant: the run beats the variant on ``measure`` (lower
    wins), or with ``alike`` the two lie within that fraction of the run's value."""

    variant: str  # the name of the variant (params ablations.<run>.variants)
    claim: str  # the finding, HTML
    measure: str  # a key of the protocol scores
    published: str = ""  # the source's numbers where it prints them (shown apart, as published)
    alike: float | None = None


@dataclass(frozen=True)
class AblationTable:
    """The report's table of a family's protocol-scored ablation: the run, then each variant, each with the
    columns' scores; the variants that test a finding get the finding and whether it holds here.
    ``caption`` is HTML with "{001:§3}" citations and the placeholders {benchmark}, {run} and {alike} (the
    findings' ``alike`` in percent)."""

    caption: str
    run_row: str  # what the run itself is, in the "Changed" column
    source: str  # the seed number of the findings ("003"); "": none
    columns: tuple[AblationColumn, ...]
    findings: tuple[AblationFinding, ...] = ()


@dataclass(frozen=True)
class Declared:
    """Everything a registered model declares to the report."""

    label: str = ""  # the report's name for it ("SVG-LP"); "" shows the registry name
    citation: str = ""  # its source, HTML ("seed 004 §4.4"); "" shows "model <name>"
    choices: tuple[Choice, ...] = ()
    claims: tuple[Claim, ...] = ()
    ablation_table: AblationTable | None = None
    code_prior: str = ""  # the prior over a VQ-VAE's codes it samples, by kind; "": none


def _tuple(value: Any, cls: type, where: str) -> tuple:
    if not isinstance(value, list):
        raise GenvidError(f"{where} must be a list, got {type(value).__name__}")
    return tuple(_build(cls, v, f"{where}[{i}]") for i, v in enumerate(value))


def _build(cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise GenvidError(f"{where} must be a mapping, got {type(value).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise GenvidError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(fields)})")
    kw = {}
    for name, v in value.items():
        key = f"{where}.{name}"
        if name in ("choices", "claims", "columns", "findings"):
            kw[name] = _tuple(v, {"choices": Choice, "claims": Claim, "columns": AblationColumn,
                                  "findings": AblationFinding}[name], key)
        elif name == "ablation_table":
            kw[name] = None if v is None else _build(AblationTable, v, key)
        elif name == "against":
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise GenvidError(f"{key} must be a list of model names")
            kw[name] = tuple(v)
        else:
            kw[name] = v
    try:
        return cls(**kw)
    except TypeError as err:
        raise GenvidError(f"{where}: {err}") from None


def to_json(declared: dict[str, Declared]) -> dict:
    return {"models": {name: dataclasses.asdict(d) for name, d in declared.items()}}


def write_declared(path: str | Path, declared: dict[str, Declared]) -> None:
    write_json(path, to_json(declared))


def read_declared(path: str | Path) -> dict[str, Declared]:
    """{model: Declared} from stage figures' file; a malformed file is one line naming it and the key."""
    path = Path(path)
    if not path.is_file():
        raise GenvidError(f"{path}: missing (stage figures writes the registry's declarations; run it first)")
    data = read_json(path)
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise GenvidError(f"{path}: key 'models' must be a mapping of model names")
    return {name: _build(Declared, d, f"{path}: models.{name}") for name, d in models.items()}
