"""The report's design-choice table: where a model departs from its source or fills in what the source
leaves unstated (issue 20's fidelity findings), and what genvid chose for a benchmark's data. A model's rows
are its registry spec's declarations (genvid.data.declared.Choice, in its family's folder); a benchmark
source's rows are below. Each row names the params key or code that holds the choice; the report shows the
rows of the models and sources a params.yaml runs. Seed 000's VQ family has its own table, computed from
params against profiles/thesis.yaml (genvid.report.tables.deviations).
"""
from __future__ import annotations

from markupsafe import Markup

from genvid.data.declared import Choice, Declared
from genvid.report.references import cite_marked

# (collect.source values, setting, genvid, the source, why / status); "{001:Table 9.5}" becomes a pinpoint citation
SOURCE_ROWS: tuple[tuple[tuple[str, ...], str, str, str, str], ...] = (
    # a benchmark source's rows: shown when a benchmark of the report has that source (genvid.data.video_dir)
    (("procedural",), "An exploring autopilot (<code>collect.steer_noise</code>, issue 48)",
     "optional: an Ornstein-Uhlenbeck perturbation of the autopilot's steering, from its own random stream (time "
     "constant 0.3 s); pure pursuit steers back, the car weaves within its lane, and the recorded actions are the "
     "ones applied; 0 drives as the plain autopilot",
     "seed 000 §4.1.1: CARLA's autopilot, no exploration",
     "genvid's addition: an autopilot steers within a narrow band set by the road, so a model trained on its "
     "drives sees little of what a held steer does, which the counterfactual clips ask of it"),
    (("video_dir",), "Your own videos: size (<code>collect.resolution</code>)",
     "every frame resized so that its short side is the resolution, then centre-cropped to a square (Pillow's "
     "antialiased bicubic filter); every input must have the first one's size",
     "no source: seed 000 records its own driving frames at the model's resolution",
     "genvid's design: square frames like every other benchmark, no stretching; mixed sizes are refused rather "
     "than guessed at"),
    (("video_dir",), "Your own videos: frame rate (<code>collect.fps</code>)",
     "each file resampled by nearest timestamp (exact rationals, the earlier frame on a tie): a 30 fps file at 10 fps "
     "keeps every third frame; folders of images are taken at <code>image_fps</code>",
     "seed 000 §4.1.1: a frame every 0.2 s of the simulator",
     "deterministic and decoder-independent: frames are dropped or repeated, never blended"),
    (("video_dir",), "Your own videos: episodes, split and conditioning",
     "one episode per file (or folder of images), sorted by name; the chronological split of driving over them; "
     "no actions recorded, so action-steered models and counterfactuals do not apply",
     "seed 000 §4.1.2: chronological 80/10/10",
     "a user's video carries no controls; clips never cross a file"),
    # issue 22 item 4: the Dynamics-like benchmark (genvid.data.dynamics) where seed 003 §5.2 leaves it unstated
    (("dynamics",), "Dynamics-like: simulator and frames",
     "2D analytic paths rendered by genvid (4×4 supersampled), 64×64 RGB, 16 frames, 8 → 8, one object",
     "seed 003 §5.2.1: Bullet Physics, unreleased; resolution, length and object count not stated",
     "a re-creation, never the thesis's data; at most 20 frames (a translating object stays in frame)"),
    (("dynamics",), "Dynamics-like: classes",
     "class = index % 10: path {linear, sinusoidal, hypocycloidal} × speed {constant, accelerating, bouncing}, "
     "then rotation; the test set balanced", "seed 003 §5.2.1: the same 10 classes, 500 per class per split",
     "default profile: 4 test sequences per class (FVD's CPU cost)"),
    (("dynamics",), "Dynamics-like: speed types",
     "accelerating from nearly at rest, a in [0.14, 0.20] px/frame²; bouncing at a constant 2–3 px/frame between "
     "two invisible walls along the path, reversing every 3–4.5 frames", "seed 003 §5.2.1: not defined",
     "genvid's choice: walls at the frame edges would reverse a 2 px/frame object every ~20 frames, so most "
     "8-frame futures would show no bounce"),
    (("dynamics",), "Dynamics-like: paths and rotation",
     "sine of amplitude 5–8 px, wavelength 12–20 px; hypocycloid of 3–5 cusps, R 12–18 px, θ = ±1.5 s/R; "
     "rotation: the centre still, |ω| 0.12–0.30 rad/frame (the orientation fixed in the path classes)",
     "seed 003 §5.2.1: not defined", "genvid's choice: the curvature and the turn visible within 8 frames"),
    (("dynamics",), "Dynamics-like: object and background",
     "one polygon (triangle, square, pentagon, star, cross, 2:1 rectangle; no circle), circumradius 5–9 px, a "
     "bright HSV colour; a static texture (smooth noise, stripes or checker) of two dark colours",
     "seed 003 §5.2.1: shape, colour, size and background texture randomised",
     "genvid's choice: the object always brighter than the background; a circle's rotation would not show"),
    (("dynamics",), "Dynamics-like: semantic check (<code>benchmarks.dynamics.motion_classifier</code>)",
     "a 3-layer Conv3D (batch norm, max over space, a linear layer over the timesteps) on the 8 future frames minus "
     "their mean, trained on 2,000 generated futures under the square's 8 symmetries; each run's futures scored "
     "mean and best of N against the real futures' accuracy (the ceiling)",
     "seed 003 §5.2.2: Conv3D classifiers of the whole clip (40 % validation error)",
     "genvid's design (issue 22 item 4): a classifier of futures, not of clips"),
    (("dynamics",), "Dynamics-like: motion reference levels",
     "the classifier's accuracy on each test clip's future redrawn with the object's true context motion continued "
     "at constant velocity, and at constant velocity and acceleration (Newton's backward differences of its centre "
     "and orientation over the last context frames); the centre kept where the object stays in the frame",
     "seed 003: none", "genvid's design (issue 48): what extrapolating the motion so far would score"),
)


def declared_rows(models: set[str], declared: dict[str, Declared]) -> list[tuple[tuple[str, ...], Choice]]:
    """Each choice the ``models`` declare (``declared``: the registry's, genvid.data.declared), once, with the
    models that declare it: in the registry's order, each family's rows in its own order."""
    by_choice: dict[Choice, list[str]] = {}
    for name, spec in declared.items():
        if name in models:
            for choice in spec.choices:
                by_choice.setdefault(choice, []).append(name)
    return [(tuple(names), choice) for choice, names in by_choice.items()]


def model_choices(models: set[str], declared: dict[str, Declared], sources: set[str] = frozenset(),
                  fvd_repeats: int | None = None) -> dict | None:
    """The rows of ``models`` (a run's registered model names, their declarations ``declared``) and of the
    benchmark ``sources`` (collect.source) as a report table, or None; ``fvd_repeats``: the report's params'
    evaluate.fvd_repeats, which its row states."""
    repeats = "not given" if fvd_repeats is None else str(fvd_repeats)
    rows_of = [(names, c.setting, c.genvid, c.source, c.why) for names, c in declared_rows(set(models), declared)]
    sourced = [(tuple(s for s in names if s in sources), *rest) for names, *rest in SOURCE_ROWS]
    rows = [[Markup(setting), Markup(", ".join(f"<code>{m}</code>" for m in names)),
             Markup(ours.replace("{fvd_repeats}", repeats)), cite_marked(source), cite_marked(why)]
            for names, setting, ours, source, why in [*rows_of, *sourced] if names]
    if not rows:
        return None
    return {"header": ["Setting", "Models", "genvid", "Source", "Why / status"], "rows": rows, "align": "lllll"}
