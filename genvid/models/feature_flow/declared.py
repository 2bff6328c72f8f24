"""Seed 003's feature flow GAN: what §6.3 leaves unstated, and genvid's additions (the report's design-choice
table; genvid.models.family.Choice).
"""
from genvid.data.declared import AblationColumn, AblationFinding, AblationTable, Choice

BORDER = Choice(
    "Flow operator F at the border (<code>genvid/models/feature_flow/flow.py</code>)",
    "a displacement that would carry a fixel off the grid is masked out of its softmax: F conserves every "
    "channel's sum; the sums run over k, l = −ξ … ξ inclusive",
    "{003:Eq. 6.3} prints the sums over (−ξ, ξ) and states no border rule",
    "open intervals would leave one displacement for κ = 3; zero padding would leak mass at the edges every "
    "step")

SIZES = Choice(
    "Sizes, κ, z and the copy mask (<code>models.feature_flow</code>)",
    "CNN halvings to F's scale, one ConvLSTM for the fixels and one for the flow (§6.3.3); E² two more "
    "halvings; κ = 3; z of 16; the copy mask a sigmoid channel of D², blended in pixel space, its logit "
    "starting at 2 (88 % copy); PyTorch's default initialisation",
    "{003:§6.3.3}: depths, widths, kernels, z's size and the mask's form not stated; Fig. 6.7 draws κ = 3",
    "genvid's choices; the mask's start makes the untrained model close to copy-last, the baseline to beat")

LOSSES = Choice(
    "Losses and optimisers (<code>models.feature_flow.l2_weight</code>, <code>adv_weight</code>, "
    "<code>train.feature_flow.model.optimizers</code>)",
    "L2 on the frames predicted from real frames (the context's), weight 1; the non-saturating GAN loss on the "
    "whole clip (first real frame + predictions), weight 0.01; Adam (0.5, 0.999), lr 1e-3 (g) and 2e-4 (d), one "
    "step of each per batch",
    "{003:§6.3.3}: closed/open-loop L2 plus the adversarial loss, Adam; weights, rates and loss form not stated "
    "(Eq. 3.9's non-saturating form is the thesis's practice)",
    "genvid's choices; <code>l2_weight: 0</code> is the pure GAN of the ablation")

OPEN_L2 = Choice(
    "Open-loop L2 (<code>models.feature_flow.open_l2_weight</code>, issue 48)",
    "optional: the L2 of the open-loop frames (predicted from the model's own outputs) joins the generator's "
    "loss with this weight; 0 is the thesis's objective",
    "{003:§6.3.3} and Fig. 6.9: L2 on the closed-loop frames, the open-loop ones trained by the adversary alone",
    "genvid's addition: at a CPU's scale the adversary barely learns, and the learning curves "
    "(docs/learning.md) showed the rollouts a test scores drifting as training went on")

FRAME_DIFFERENCE = Choice(
    "Frame difference (<code>models.feature_flow.frame_difference</code>, issue 48)",
    "optional: E¹ reads the previous frame and its difference from the frame before it "
    "([x<sub>t−1</sub> ‖ x<sub>t−1</sub> − x<sub>t−2</sub>]; zero at the first step), the real frames while they "
    "are context, the model's own outputs after; off: E¹ reads x<sub>t−1</sub> alone, the thesis's model",
    "{003:§6.3.3} and Fig. 6.6: E¹ reads the previous frame; its ConvLSTM is the model's only memory",
    "genvid's addition: on Dynamics the learning curves (docs/learning.md) showed the model barely learning to "
    "move the object; the difference gives E¹ the motion at the frame's resolution, which the ConvLSTM on the "
    "coarse fixels has to learn to see")

MOVE_COPY = Choice(
    "Moved copy (<code>models.feature_flow.move_copy</code>, issue 48)",
    "optional: the copy mask blends x<sub>t−1</sub> moved by F with the fixels' own flow, each fixel's cell of "
    "pixels moving whole (its flow's displacements shared as the softmax says), the flow starting mostly at "
    "rest; off: the mask blends x<sub>t−1</sub> where it was, the thesis's model",
    "{003:Eq. 6.2}: m<sub>t</sub> ⊙ x<sub>t−1</sub>, the previous frame unmoved",
    "genvid's addition, tried on Dynamics (docs/learning.md): what moves could be copied sharp instead of "
    "redrawn by D²")

FLOW_SKIP = Choice(
    "Flow skip (<code>models.feature_flow.flow_skip</code>, issue 48)",
    "optional: D¹'s ConvLSTM reads the fixels beside what D¹ brings back up from E²'s grid, so neighbouring "
    "fixels can flow apart; off: D¹ reads E²'s features and z alone, the thesis's model",
    "{003:§6.3.3} and Fig. 6.6: the flow comes from z and E², “observed to help”",
    "genvid's addition, tried on Dynamics (docs/learning.md): E² leaves a 4 × 4 grid at the default sizes, "
    "coarser than a small object's few fixels")

PIXEL_WARP = Choice(
    "Pixel warp (<code>models.feature_flow.pixel_warp</code>, <code>max_warp</code>, issue 48)",
    "optional: D² draws two more channels, a displacement per pixel (<code>max_warp</code> · tanh, zero at the "
    "start), and the copy mask blends x<sub>t−1</sub> read at each pixel plus its displacement, bilinearly, the "
    "border pixel past the edge; off: the mask blends x<sub>t−1</sub> where it was, the thesis's model",
    "{003:Eq. 6.2}: m<sub>t</sub> ⊙ x<sub>t−1</sub>, the previous frame unmoved",
    "genvid's addition, tried on Dynamics (docs/learning.md): an object moving by fractions of a pixel could be "
    "copied sharp to where it goes, where <code>move_copy</code> moves whole cells of pixels")

OBJECT_WEIGHT = Choice(
    "Object weight (<code>models.feature_flow.object_weight</code>, issue 48)",
    "optional: both L2 terms weigh a pixel of frame t 1 + <code>object_weight</code> where frame t or t−1 differs "
    "from the clip's median frame by more than 0.05 in some channel (a moving object over a still background: "
    "where it is and where it was); 0: every pixel alike, the thesis's L2",
    "{003:§6.3.3}: an L2 on the frames, no weighting stated",
    "genvid's addition, tried on Dynamics (docs/learning.md): the object covers about 3 % of a frame, and the "
    "background the copy mask keeps outweighs its motion in a plain L2")

CONTEXT_WARP = Choice(
    "Context warp (<code>models.feature_flow.context_warp</code>, <code>warp_*</code>, "
    "<code>train.feature_flow.warp</code>, issue 48)",
    "optional: in the horizon the copy mask blends the last context frame warped, bilinearly, by a displacement "
    "per future frame that a stack of dilated convolutions draws at once from the last context frame and every "
    "difference between successive context frames (<code>genvid/models/feature_flow/warp.py</code>); with "
    "<code>warp_motion: layered</code>, over that warp an object layer, the last context frame under a learned "
    "matte, moves rigidly by one translation and one turn per future frame, so the object cannot vanish; it "
    "trains first and alone, on the squared error of its warped frames (component <code>warp</code>), then stays "
    "frozen while the GAN trains; off: the mask blends x<sub>t−1</sub> where it was, the thesis's model",
    "{003:Eq. 6.2}: m<sub>t</sub> ⊙ x<sub>t−1</sub>; the motion reaches the flow through E¹'s ConvLSTM alone, one "
    "frame at a time",
    "genvid's addition: at every CPU budget tried, feature flow alone never learned Dynamics' motion "
    "(docs/learning.md), and benchmarks/motion_probe.py found this structure learns it within minutes. Where it "
    "is on, the motion of the horizon is the warp's, not the thesis's model's")

PICK = Choice(
    "The copy mask while predicting (<code>models.feature_flow.sampling.mask</code>, issue 48)",
    "<code>hard</code> in the default profile's Dynamics run: each predicted pixel is the copy (the context "
    "warp's frame in the horizon) or D²'s frame, whichever the trained mask favours (m<sub>t</sub> &gt; 1/2); "
    "<code>soft</code> elsewhere: their blend, as in training",
    "{003:Eq. 6.2}: the blend m<sub>t</sub> ⊙ x<sub>t−1</sub> + (1 − m<sub>t</sub>) ⊙ D²(…)",
    "genvid's choice, as the steered SVG-LP's: the mask learns in the closed loop, where the copy is "
    "x<sub>t−1</sub> in place, and blends D²'s pixels around the moving object even where the warp has already "
    "moved it; on the validation clips the blend lost FVD to the pick (docs/learning.md). Where the mask favours "
    "the copy at every pixel, as the default's Dynamics run's did on the validation clips, the futures are the "
    "warp's")

MATTE_WEIGHT = Choice(
    "The layered context warp's matte area (<code>models.feature_flow.warp_matte_weight</code>, issue 48)",
    "λ · mean(α) added to the warp's training loss: λ = 0.002 in the default profile's Dynamics run, 0 elsewhere",
    "none: the context warp is genvid's",
    "genvid's choice: under the squared error alone the matte learned to cover the still background and left the "
    "object to the free warp below, which tore it (docs/learning.md); costing the moved layer its area leaves it "
    "the object. λ from the object's share of a frame (about 3 %), tried once with benchmarks/motion_probe.py on "
    "the validation clips")

MATTE = Choice(
    "The layered context warp's matte while predicting (<code>models.feature_flow.sampling.matte</code>, issue 48)",
    "<code>hard</code> in the default profile's Dynamics run: 1 where the trained matte α is above 1/2, else 0, "
    "so that each pixel of the warp's frames is the rigidly moved layer's or the warped frame's below it; "
    "<code>soft</code> elsewhere: their blend, as in training",
    "none: the context warp is genvid's",
    "genvid's choice, made on the validation clips (benchmarks/sampling_options.py, docs/learning.md): the "
    "squared error trains a matte that hedges, and a pixel it leaves between the layers shows two faint copies, "
    "one moved and one still. The matte's centroid and the layer's moves still weigh the trained α")

DISCRIMINATOR_KERNELS = Choice(
    "Discriminator kernels (<code>genvid/models/feature_flow/model.py</code>, issue 46)",
    "spatial 4×4 kernels of stride 2, padding 1 (the DCGAN form)",
    "{003:§5.2.2}: “All other models use half padded 3 × 3 convolution with stride 2 × 2”",
    "kept, stated: a 4×4 kernel of stride 2 covers each input pixel equally often (3×3 of stride 2 does not)")

DISCRIMINATOR = Choice(
    "Discriminator",
    "Conv3D (temporal kernels 3, 3, 1) with weight norm, two ConvLSTMs, the last step's state pooled into one "
    "logit",
    "{003:§6.3.3} and §5.2.2: the best Dynamics classifier, Conv3D + ConvLSTM; weight norm",
    "widths genvid's")

ACTIONS = Choice(
    "Action conditioning (<code>feature_flow_action</code>, issue 48)",
    "a<sub>t−1</sub>, standardised with the training split's statistics, joins z<sub>t</sub> at D¹'s input "
    "(Linear([z<sub>t</sub> ‖ a<sub>t−1</sub>])): the flow field is drawn from the noise and the action "
    "together; the discriminator reads no actions",
    "no source: seed 003's model is unconditioned (none of the five theses steers a predictor by actions)",
    "genvid's design: the flow is what moves the scene when the camera turns; the same sizes and recipe as "
    "<code>feature_flow</code>, so the two differ only by the actions")

# seed 003 §6.3.3's findings, each tested by one variant of the run (params ablations; the paper profile's)
ABLATION_TABLE = AblationTable(
    caption="The ablations of {003:§6.3.3} at a small scale, measured on <code>{benchmark}</code> (stage ablate: "
    "variants of run <code>{run}</code>, trained like it with the params changed, one training seed each). Every "
    "model predicts the protocol's test clips with the sample stage's seeds: LPIPS and SSIM best of N per "
    "sequence, FVD of one seeded sample per clip against the benchmark's reference (noisier than the "
    "leaderboard's repeats), and the static background's temporal variance (pixels that stay within 2 levels "
    "through the real clip; genvid.ablation). The thesis reports no number for any of these findings (samples "
    "only, KTH at 120 × 120); \"Here\" says whether the run beats the variant on the finding's measure in this "
    "run, lower being better for each. One seed and a few dozen training steps: a direction, not a test.",
    run_row="the run: copy mask, F at its scale, L2 + GAN",
    source="003",
    columns=(AblationColumn("LPIPS (best of N)", "lpips"), AblationColumn("SSIM (best of N)", "ssim"),
             AblationColumn("FVD (one sample)", "fvd", 1),
             AblationColumn("Static background variance", "static_variance", None)),
    findings=(
        AblationFinding("no_copy_mask", "the learned copy mask \"did take care of the noisy background\"",
                        "static_variance"),
        AblationFinding("flow_half", "F at 30 × 30 of 120 × 120 (1/4) \"gave the best results\"; here against F "
                        "at 1/2", "fvd"),
        AblationFinding("flow_eighth", "the same finding, against F at 1/8", "fvd"),
        AblationFinding("pure_gan", "closed/open-loop L2 gave \"the best results\", against the pure GAN", "fvd"),
    ))
