"""The family protocol: what a registered model declares, and what it gets from the training loop.

A family is a folder of genvid/models plus one line of genvid/models/registry.py. Its ModelSpec says

    train(ctx, fit) -> training metrics    the family's recipe: which components, in which order
    predictor(ctx) -> Predictor            the trained family, loaded from ctx.model_dir
    init(ctx, height, width, channels)     untrained weights in ctx.model_dir (the contract tests)
    extras                                 series ``predict_with_diagnostics`` adds to the samples file
    network(section, channels, resolution, context)   a one-network family's nn.Module (benchmarks)
    figures                                {name: figure(ctx, ...)}: the report's frames it can draw
    conditioning                           the per-frame inputs it reads besides frames ("action")
    diagnostics                            family-only measures of a protocol-scored ablation
    label, citation, choices               how the report names it, cites its source, and where it departs
                                           from that source (its rows of the design-choice table)
    claims                                 its source's findings against other registered models, which the
                                           report checks wherever a benchmark runs them all
    ablation_table                         how the report tables a protocol-scored ablation of its runs
                                           (stage ablate): caption, columns, the source's findings
    code_prior                             the kind of prior over a VQ-VAE's codes it samples (seed 002's
                                           noisy-VQ claims name the kind: "PixelSNAIL", "GAN (WGAN-GP)")

The report reads these declarations and the run's files; it never asks for a model by name.

``fit`` is the one training loop (genvid.train.run.fit_component), handed in by the train stage, so
that model code never imports the loop: a family describes each network it trains as a
Component (how to build it, its objective, its data, its optimisers' parameter groups) and
``fit(component)`` seeds, builds, trains (resumably, in ``checkpoints/<run>/<component>``),
writes the curves to ``reports/<benchmark>/runs/<run>/curves/<component>`` and returns the
trained network on the run's device in eval mode. Each named optimiser takes its lr, betas,
weight decay and update ratio from ``train.<model>[.<component>].optimizers.<name>`` (the
component's own values where unset).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from torch import nn
from torch.utils.data import Dataset

from genvid.context import RunContext
from genvid.data.declared import AblationTable, Choice, Claim, Declared
from genvid.data.samples import Extra

# (model, batch on its device, step) -> (loss, or {optimiser name: loss}; scalars to log)
Objective = Callable[[nn.Module, Any, int], tuple[Any, dict[str, float]]]


@dataclass(frozen=True)
class Component:
    """One network of a family, as the training loop needs it."""

    name: str  # checkpoint and curve folder names
    build: Callable[[], nn.Module]  # called right after seeding with the component's train seed
    objective: Objective
    train_set: Dataset
    val_set: Dataset | None
    fingerprint: str  # config + data identity: a checkpoint with another is not resumed
    train_params: dict  # its block of params.yaml train: (genvid.train.config.TrainConfig)
    section: str  # that block's dotted name, for error messages ("train.vq.vqvae")
    # named parameter groups, one optimiser each (a GAN's "g" and "d"); None: one over every parameter
    optimizers: Callable[[nn.Module], dict[str, list[nn.Parameter]]] | None = None
    desc: str = ""  # progress-bar label


@dataclass
class Fitted:
    """A trained component: the network (on the run's device, eval mode), its curves and last validation."""

    model: nn.Module
    curves: list[dict[str, Any]]
    val: dict[str, float]


class Fit(Protocol):
    def __call__(self, component: Component) -> Fitted: ...


# seeds 001 and 004 sample FVD five times; the families that report against them share this row
FVD_REPEATS = Choice(
    "FVD repeats (<code>evaluate.fvd_repeats</code>)",
    "this report's params: {fvd_repeats}; paper profile: 5",
    "{001:Table 9.3} and {004:§4.5.2}: FVD sampled 5 times",
    "a smaller profile's time budget")


def _no_init(ctx: RunContext, height: int, width: int, channels: int = 3) -> None:
    return None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    train: Callable[[RunContext, Fit], dict[str, Any]]
    predictor: Callable[[RunContext], Any]  # -> genvid.models.predictor.Predictor
    extras: dict[str, Extra] = field(default_factory=dict)
    init: Callable[..., None] = _no_init
    components: tuple[str, ...] = ()  # the names of the components ``train`` fits, in order
    # a one-network family's network, from its models section and the frames' shape
    # (section, channels, resolution, context_frames); benchmarks/models.py times it
    network: Callable[[dict, int, int, int], nn.Module] | None = None
    # figures only the model can draw, by name (genvid.data.figures: "levels", "temperatures"), each
    # figure(ctx, **request) -> its genvid.data.figures record; stage figures draws them for the report
    figures: dict[str, Callable[..., Any]] = field(default_factory=dict)
    # the per-frame conditioning the model reads (a key of genvid.data.frames.CONDITIONING, e.g.
    # "action"): its clip sets yield (frames, cond) and stage sample hands predict ``cond``
    conditioning: str | None = None
    # measures of a trained model only its family can take, for a protocol-scored ablation (stage ablate):
    # (predictor, context uint8 [B, Tc, H, W, C] of the test clips, horizon, generator) -> {name: value}
    diagnostics: Callable[..., dict[str, Any]] | None = None
    label: str = ""  # the report's name for it ("SVG-LP"); "" shows the registry name
    citation: str = ""  # its source, HTML ("seed 004 §4.4"); "" shows "model <name>"
    choices: tuple[Choice, ...] = ()  # its rows of the design-choice table
    # the modules that define it beyond its spec's functions (a pixel_spec family: its config and model
    # classes'); genvid.codegraph follows their imports to the family folders a run of it depends on
    modules: tuple[str, ...] = ()
    claims: tuple[Claim, ...] = ()  # its source's findings against other models (the report checks them)
    ablation_table: AblationTable | None = None  # its protocol-scored ablations' table (stage ablate)
    code_prior: str = ""  # the prior over a VQ-VAE's codes it samples, by kind (seeds 000, 002); "": none

    def declared(self) -> Declared:
        """What the report says of it beyond its run's files (stage figures writes it for the report)."""
        return Declared(self.label, self.citation, self.choices, self.claims, self.ablation_table, self.code_prior)


def train_sections(spec: ModelSpec, run: Any) -> dict[str, tuple[str, Any]]:
    """{component: (its params section name, its train params)}: a one-component family reads
    ``train.<model>`` itself, a family of several ``train.<model>.<component>`` each."""
    if len(spec.components) == 1:
        return {spec.components[0]: (f"train.{run.model}", run.train_params)}
    return {c: (f"train.{run.model}.{c}", run.train_params.get(c)) for c in spec.components}
