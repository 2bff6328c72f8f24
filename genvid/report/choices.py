"""Where genvid's seed 001/004 models, SVG-LP and the action-steered models depart from their sources,
or fill in what the sources leave unstated (issue 20's fidelity findings). Each row names the params key or code that
holds the choice; the report shows the rows of the models a params.yaml runs. Seed 000's VQ family
has its own table, computed from params against profiles/thesis.yaml (genvid.report.tables.deviations).
"""
from __future__ import annotations

import re

from markupsafe import Markup

from genvid.report.references import seed

# (models, setting, genvid, the source, why / status); "{001:Table 9.5}" becomes a pinpoint citation
ROWS: tuple[tuple[tuple[str, ...], str, str, str, str], ...] = (
    (("vrnn", "srnn", "rfn"), "Learning-rate schedule (<code>train.&lt;m&gt;.schedule</code>)",
     "default profile: constant (64 or 48 steps); paper profile: linear decay over the last 150,000 steps, to 0",
     "{001:Tables A.2 and A.3}: “Linear decay scheduler, final 150000 steps”",
     "the end value is not stated: genvid decays to 0 (<code>min_lr_ratio</code>)"),
    (("vrnn", "srnn", "rfn"), "Training clips (<code>train.&lt;m&gt;.clip_len</code>)",
     "default profile: the benchmark's 15 frames; paper profile: 10",
     "{001:Table 9.5}: “trained on 10 frames and conditioned on 1”",
     "the default profile keeps one clip length for every model of a benchmark"),
    (("vrnn", "srnn"), "Frame fed back while predicting (<code>models.&lt;m&gt;.sample_pixels</code>)",
     "default profile: the mean of the discretised logistic mixture; paper profile: a sample of it",
     "{001:App. A.11} shows sampled, pixelated predictions",
     "a briefly trained model diverges on pixel noise it never saw as input; the likelihood is the same either way"),
    (("svg_lp_action",), "Action conditioning (<code>svg_lp_action</code>, issue 24)",
     "a<sub>t−1</sub>, standardised with the training split's statistics, joins the inputs of the prior and of the "
     "frame predictor; the posterior is SVG's",
     "no source: none of the five theses conditions a predictor on actions (seed 000's title asks for a simulator one "
     "can drive)",
     "genvid's design: z then models what the action leaves unexplained; measured on the simulator's counterfactual "
     "clips (sensitivity, direction)"),
    (("svg_lp_action",), "Ego warp (<code>models.svg_lp_action.ego_warp</code>, <code>max_shift</code>, issue 48)",
     "when on, the predicted frame blends the previous frame shifted sideways (linear interpolation, border column "
     "repeated) with the decoder's frame, by a mask the decoder draws; the shift, at most <code>max_shift</code> "
     "pixels a frame, is read from g<sub>t</sub>, which read a<sub>t−1</sub>; teacher-forced in training (the real "
     "previous frame), the model's own previous frame while predicting",
     "no source: SVG decodes every frame from g<sub>t</sub> and the last context frame's skips",
     "genvid's design: a turn moves the whole scene sideways by many pixels, which a squared-error decoder renders "
     "as a fraction of a pixel of blur (docs/learning.md); a shift of the previous frame keeps the scene sharp "
     "where it only moves"),
    (("vq_action",), "Action conditioning (<code>vq_action</code>, issue 24)",
     "each prior (top and bottom) reads, per code step, a<sub>t−1</sub> of its frames t, standardised with the "
     "training split's statistics (the window's first frame: the mean), through a two-layer MLP added to the row "
     "stack at the stem and at every SNAIL block; the VQ-VAE reads none",
     "no source: seed 000's priors model the codes alone (its title asks for a simulator one can drive)",
     "genvid's design: the tokenizer is the <code>vq</code> run's, bit for bit, so the two runs differ only by what "
     "the priors are told; the paper profile runs it on driving"),
    (("svg_lp", "svg_lp_action"), "Batch norm while generating", "eval mode (running statistics)",
     "SVG's generation script keeps training mode (batch statistics)",
     "genvid's choice, kept: with batch statistics a prediction depends on the other sequences of its batch, "
     "so on the batch size"),
    (("hvrnn",), "Likelihood (<code>models.hvrnn.likelihood</code>)",
     "<code>squared_error</code>: log p(x | o) = −(x − sigmoid(o))² per sub-pixel, a Gaussian with σ² = ½ "
     "without its normalising constant (<code>gaussian</code> with a set σ and <code>bernoulli</code> remain options)",
     "not stated; {004:Tables 4.1 and 4.2} report negative ELBOs of 883–3,826 per BAIR test sequence "
     "(122,880 predicted sub-pixels)",
     "decided from those magnitudes: a normalised Gaussian would add N·(log σ + ½ log 2π) (−170,022 at σ = 0.1) to "
     "every row, so the reported ELBO has no constant; and since −ELBO ≥ Σ(x − μ)²/(2σ²), σ = 0.1 would put "
     "{004:Table 4.1}'s 1×1-bottleneck decoder at PSNR ≥ 32 dB, σ² = ½ at ≥ 15 dB. σ weighs the KL against the "
     "reconstruction, so the ablation's KL and active channels depend on this reading"),
    (("hvrnn",), "Parameters at the widths of the paper profile (seed 004's Tables 4.4–4.7)",
     "fewer parameters at every level count (the paper profile's runs record theirs in train_metrics.json)",
     "{004:Table 4.2}: 166.6 M (1 level), 220.6 M (1-8), 230.7 M (1-8-32), 224.2 M (naive)",
     "kept: no reading of Tables 4.4–4.7 gives the published counts, which contradict the tables and each other. "
     "{004:Table 4.2}'s “1” (166.55 M) and {004:Table 4.1}'s 6-ConvLSTM model (93.81 M) are described alike. Adding "
     "the 32×32 level adds 10.14 M, yet {004:Table 4.6} gives it a 512-wide 3×3 ConvLSTM in the prior and one in the "
     "posterior, 18.88 M each (16×16: +14.45 M). {004:Table 4.1}'s 1 → 3 ConvLSTMs adds 24.42 M where two 512-wide "
     "ConvLSTMs replacing two 3×3 convolutions add at least 33.03 M. genvid's 1×1 stages use 1×1 kernels (a 3×3 "
     "kernel on a 1×1 map reads zero padding at 8 of its 9 taps: the same function, 21.0 M more parameters at the "
     "paper widths: 196 M for 1-8-32)"),
    (("vrnn", "srnn", "rfn", "svg_lp", "svg_lp_action", "hvrnn"), "FVD repeats (<code>evaluate.fvd_repeats</code>)",
     "this report's params: {fvd_repeats}; paper profile: 5", "{001:Table 9.3} and {004:§4.5.2}: FVD sampled 5 times",
     "a smaller profile's time budget"),
    # seed 003's feature flow GAN (issue 22): what §6.3 leaves unstated
    (("feature_flow", "feature_flow_action"), "Flow operator F at the border (<code>genvid/models/feature_flow/flow.py</code>)",
     "a displacement that would carry a fixel off the grid is masked out of its softmax: F conserves every "
     "channel's sum; the sums run over k, l = −ξ … ξ inclusive",
     "{003:Eq. 6.3} prints the sums over (−ξ, ξ) and states no border rule",
     "open intervals would leave one displacement for κ = 3; zero padding would leak mass at the edges every step"),
    (("feature_flow", "feature_flow_action"), "Sizes, κ, z and the copy mask (<code>models.feature_flow</code>)",
     "CNN halvings to F's scale, one ConvLSTM for the fixels and one for the flow (§6.3.3); E² two more halvings; "
     "κ = 3; z of 16; the copy mask a sigmoid channel of D², blended in pixel space, its logit starting at 2 "
     "(88 % copy); PyTorch's default initialisation",
     "{003:§6.3.3}: depths, widths, kernels, z's size and the mask's form not stated; Fig. 6.7 draws κ = 3",
     "genvid's choices; the mask's start makes the untrained model close to copy-last, the baseline to beat"),
    (("feature_flow", "feature_flow_action"), "Losses and optimisers (<code>models.feature_flow.l2_weight</code>, <code>adv_weight</code>, "
     "<code>train.feature_flow.optimizers</code>)",
     "L2 on the frames predicted from real frames (the context's), weight 1; the non-saturating GAN loss on the "
     "whole clip (first real frame + predictions), weight 0.01; Adam (0.5, 0.999), lr 1e-3 (g) and 2e-4 (d), "
     "one step of each per batch",
     "{003:§6.3.3}: closed/open-loop L2 plus the adversarial loss, Adam; weights, rates and loss form not stated "
     "(Eq. 3.9's non-saturating form is the thesis's practice)",
     "genvid's choices; <code>l2_weight: 0</code> is the pure GAN of the ablation"),
    (("feature_flow", "feature_flow_action"), "Open-loop L2 (<code>models.feature_flow.open_l2_weight</code>, issue 48)",
     "optional: the L2 of the open-loop frames (predicted from the model's own outputs) joins the generator's loss "
     "with this weight; 0 is the thesis's objective",
     "{003:§6.3.3} and Fig. 6.9: L2 on the closed-loop frames, the open-loop ones trained by the adversary alone",
     "genvid's addition: at a CPU's scale the adversary barely learns, and the learning curves (docs/learning.md) "
     "showed the rollouts a test scores drifting as training went on"),
    (("feature_flow", "feature_flow_action"), "Discriminator kernels (<code>genvid/models/feature_flow/model.py</code>, issue 46)",
     "spatial 4×4 kernels of stride 2, padding 1 (the DCGAN form)",
     "{003:§5.2.2}: “All other models use half padded 3 × 3 convolution with stride 2 × 2”",
     "kept, stated: a 4×4 kernel of stride 2 covers each input pixel equally often (3×3 of stride 2 does not)"),
    (("feature_flow", "feature_flow_action"), "Discriminator", "Conv3D (temporal kernels 3, 3, 1) with weight norm, two ConvLSTMs, the "
     "last step's state pooled into one logit",
     "{003:§6.3.3} and §5.2.2: the best Dynamics classifier, Conv3D + ConvLSTM; weight norm", "widths genvid's"),
    (("feature_flow_action",), "Action conditioning (<code>feature_flow_action</code>, issue 48)",
     "a<sub>t−1</sub>, standardised with the training split's statistics, joins z<sub>t</sub> at D¹'s input "
     "(Linear([z<sub>t</sub> ‖ a<sub>t−1</sub>])): the flow field is drawn from the noise and the action together; "
     "the discriminator reads no actions",
     "no source: seed 003's model is unconditioned (none of the five theses steers a predictor by actions)",
     "genvid's design: the flow is what moves the scene when the camera turns; the same sizes and recipe as "
     "<code>feature_flow</code>, so the two differ only by the actions"),
    (("cvg",), "Conditioning on the context (<code>genvid/models/cvg/model.py</code>)",
     "each level encodes its own context frames (stacked as channels, a stride-2 CNN) into a vector that joins z "
     "where the class embedding goes (the linear input and every conditional batch norm); the 3D discriminator sees "
     "the real context before the future; upsampling levels add the last context frame to their coarse residual input",
     "{004:Ch. 6} generates unconditionally (class labels on Kinetics and UCF-101); notes/families.md §4's proposal",
     "a predictor must condition on the past; the smallest change that keeps every network of the chapter"),
    (("cvg",), "Time grid and resampling (<code>level_view</code>, <code>coarse_to_fine</code>)",
     "level l keeps every 2<sup>L−l</sup>-th frame counted from the last context frame, area-downsampled (bilinear "
     "at factor 2); fine frame j takes coarse frame ⌊j/2⌋ (0 is the real last context frame)",
     "{004:§6.2}: bilinear f<sub>s</sub>, subsampling f<sub>t</sub>; the phase and the nearest-frame rule are not stated",
     "anchoring at the last context frame puts a real frame on every level's grid"),
    (("cvg",), "Batch norm at test", "frozen running statistics (eval mode)",
     "{004:§6.A}: per-timestep statistics recomputed by 200 “dummy” forward passes at test time",
     "recomputed statistics make a clip's samples depend on its batch, which breaks the Predictor contract"),
    (("cvg",), "Conditional batch norm statistics (<code>genvid/models/cvg/layers.py</code>, issue 46)",
     "one mean and variance per channel over the batch and every frame of the clip together (a 2D batch norm over "
     "batch × time)",
     "{004:§6.A}: “Features are normalized with a per-frame mean and standard deviation”, with “per-timestep batch "
     "normalization statistics” recomputed at test time",
     "kept, stated: per-frame statistics tie a frame's normalisation to its position in the training window, and "
     "genvid's test-time statistics are frozen anyway (the row above)"),
    (("cvg",), "Where the coarse video enters (<code>LevelGenerator.residual</code>, issue 46)",
     "once per unit, after its two 2D ResNet blocks, at every unit's resolution: the coarse frames (and the last "
     "context frame) nearest-resized up or down, 1×1-projected",
     "{004:§6.A.2}: “residual connections at the end of each 3D and 2D ResNet block” … “We do not add x<sup>l−1</sup> "
     "residual connections to feature maps with spatial resolutions (HxW) greater than the resolution of "
     "x<sup>l−1</sup>”",
     "kept, stated: fewer projections at the default profile's widths; at 32×32 → 64×64 the last unit is the only "
     "one above x<sup>l−1</sup>'s resolution"),
    (("cvg",), "The matching discriminator's input (<code>CVGLevel.loss</code>, issue 46)",
     "the coarse video repeated in time to the fine grid (fine frame j takes coarse frame ⌊j/2⌋), beside the fine "
     "video downsampled in space only",
     "{004:§6.3}: “The output is downsampled to the same size as the input, and both tensors are concatenated”",
     "kept, stated: the same pair at the fine frame rate; the thesis's reading halves the fine video in time too"),
    (("cvg",), "Initialisation and sizes (<code>models.cvg</code>)",
     "PyTorch's default initialisation; unit widths g_width · min(8, 64 / resolution), App. 6.A's lists at ch = "
     "g_width; discriminator widths doubling from d_width per halving, at most 8×, to 4 × 4",
     "{004:§6.A}: orthogonal initialisation; ch 96–128; discriminator multipliers [16, 16, 8, 4, 2] as printed",
     "orthogonal init runs LAPACK's QR, whose bytes may differ between CPUs (issue 19); widths scaled to the profile"),
    (("cvg",), "Loss and optimisers (<code>train.cvg.level&lt;l&gt;</code>)",
     "hinge loss over the concatenated outputs of the 2D, 3D and matching discriminators; Adam (0, 0.999); the "
     "discriminators step every step, the generator every second; default profile: 4 × the thesis's rates for its "
     "48 steps (the ratio kept); paper profile: G 1e-4, D 5e-4",
     "{004:§6.A}: geometric hinge loss averaged over samples and outputs; Adam, G 1e-4, D 5e-4, β not stated; two "
     "discriminator steps per generator step",
     "averaging over outputs weights each discriminator by its output count, as the thesis writes"),
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
)


def model_choices(models: set[str], sources: set[str] = frozenset(), fvd_repeats: int | None = None) -> dict | None:
    """The rows of ``models`` (a run's registered model names) and of the benchmark ``sources`` (collect.source)
    as a report table, or None; ``fvd_repeats``: the report's params' evaluate.fvd_repeats, which its row states."""
    shown = set(models) | set(sources)
    repeats = "not given" if fvd_repeats is None else str(fvd_repeats)
    rows = [[Markup(setting), Markup(", ".join(f"<code>{m}</code>" for m in names if m in shown)),
             Markup(ours.replace("{fvd_repeats}", repeats)),
             _cite(source), _cite(why)]
            for names, setting, ours, source, why in ROWS if shown & set(names)]
    if not rows:
        return None
    return {"header": ["Setting", "Models", "genvid", "Source", "Why / status"], "rows": rows, "align": "lllll"}


def _cite(text: str) -> Markup:
    parts = re.split(r"\{(\d{3}):([^}]+)\}", text)  # text, number, pinpoint, text, ...
    out = Markup(parts[0])
    for i in range(1, len(parts), 3):
        out += seed(parts[i], parts[i + 1]) + Markup(parts[i + 2])
    return out
