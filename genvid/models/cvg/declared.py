"""Seed 004's cascaded video GAN (Ch. 6): where genvid departs from the thesis or fills in what it leaves
unstated (the report's design-choice table; genvid.models.family.Choice).
"""
from genvid.data.declared import AblationColumn, AblationFinding, AblationTable, Choice

CONTEXT = Choice(
    "Conditioning on the context (<code>genvid/models/cvg/model.py</code>)",
    "each level encodes its own context frames (stacked as channels, a stride-2 CNN) into a vector that joins z "
    "where the class embedding goes (the linear input and every conditional batch norm); the 3D discriminator "
    "sees the real context before the future; upsampling levels add the last context frame to their coarse "
    "residual input",
    "{004:Ch. 6} generates unconditionally (class labels on Kinetics and UCF-101); genvid's proposal (docs/models.md)",
    "a predictor must condition on the past; the smallest change that keeps every network of the chapter")

TIME_GRID = Choice(
    "Time grid and resampling (<code>level_view</code>, <code>coarse_to_fine</code>)",
    "level l keeps every 2<sup>L−l</sup>-th frame counted from the last context frame, area-downsampled "
    "(bilinear at factor 2); fine frame j takes coarse frame ⌊j/2⌋ (0 is the real last context frame)",
    "{004:§6.2}: bilinear f<sub>s</sub>, subsampling f<sub>t</sub>; the phase and the nearest-frame rule are "
    "not stated",
    "anchoring at the last context frame puts a real frame on every level's grid")

BATCH_NORM = Choice(
    "Batch norm at test",
    "frozen running statistics (eval mode)",
    "{004:§6.A}: per-timestep statistics recomputed by 200 “dummy” forward passes at test time",
    "recomputed statistics make a clip's samples depend on its batch, which breaks the Predictor contract")

CONDITIONAL_BATCH_NORM = Choice(
    "Conditional batch norm statistics (<code>genvid/models/cvg/layers.py</code>, issue 46)",
    "one mean and variance per channel over the batch and every frame of the clip together (a 2D batch norm "
    "over batch × time)",
    "{004:§6.A}: “Features are normalized with a per-frame mean and standard deviation”, with “per-timestep "
    "batch normalization statistics” recomputed at test time",
    "kept, stated: per-frame statistics tie a frame's normalisation to its position in the training window, and "
    "genvid's test-time statistics are frozen anyway (the row above)")

COARSE_INPUT = Choice(
    "Where the coarse video enters (<code>LevelGenerator.residual</code>, issue 46)",
    "once per unit, after its two 2D ResNet blocks, at every unit's resolution: the coarse frames (and the last "
    "context frame) nearest-resized up or down, 1×1-projected",
    "{004:§6.A.2}: “residual connections at the end of each 3D and 2D ResNet block” … “We do not add "
    "x<sup>l−1</sup> residual connections to feature maps with spatial resolutions (HxW) greater than the "
    "resolution of x<sup>l−1</sup>”",
    "kept, stated: fewer projections at the default profile's widths; at 32×32 → 64×64 the last unit is the "
    "only one above x<sup>l−1</sup>'s resolution")

MATCHING_INPUT = Choice(
    "The matching discriminator's input (<code>CVGLevel.loss</code>, issue 46)",
    "the coarse video repeated in time to the fine grid (fine frame j takes coarse frame ⌊j/2⌋), beside the "
    "fine video downsampled in space only",
    "{004:§6.3}: “The output is downsampled to the same size as the input, and both tensors are concatenated”",
    "kept, stated: the same pair at the fine frame rate; the thesis's reading halves the fine video in time too")

SIZES = Choice(
    "Initialisation and sizes (<code>models.cvg</code>)",
    "PyTorch's default initialisation; unit widths g_width · min(8, 64 / resolution), App. 6.A's lists at ch = "
    "g_width; discriminator widths doubling from d_width per halving, at most 8×, to 4 × 4",
    "{004:§6.A}: orthogonal initialisation; ch 96–128; discriminator multipliers [16, 16, 8, 4, 2] as printed",
    "orthogonal init runs LAPACK's QR, whose bytes may differ between CPUs (issue 19); widths scaled to the "
    "profile")

LOSSES = Choice(
    "Loss and optimisers (<code>train.cvg.level&lt;l&gt;</code>)",
    "hinge loss over the concatenated outputs of the 2D, 3D and matching discriminators; Adam (0, 0.999); the "
    "discriminators step every step, the generator every second; default profile: 4 × the thesis's rates for "
    "its 48 steps (the ratio kept); paper profile: G 1e-4, D 5e-4",
    "{004:§6.A}: geometric hinge loss averaged over samples and outputs; Adam, G 1e-4, D 5e-4, β not stated; "
    "two discriminator steps per generator step",
    "averaging over outputs weights each discriminator by its output count, as the thesis writes")

CHOICES = (CONTEXT, TIME_GRID, BATCH_NORM, CONDITIONAL_BATCH_NORM, COARSE_INPUT, MATCHING_INPUT, SIZES, LOSSES)

# seed 004 Tables 6.3 and 6.4 and §6.B, as printed (FVD; the thesis's "6 frames" is the upsampling level's
# training length, "50 frames" the full rollout; BDD100K at 128 x 128, Kinetics-600 for the window)
ABLATION_TABLE = AblationTable(
    caption="The ablations of {004:Tables 6.3, 6.4, §6.B} at a small scale, measured on <code>{benchmark}</code> "
    "(stage ablate: variants of run <code>{run}</code> that change its upsampling level; each loads the run's "
    "trained first level, which greedy training makes the same weights, and trains its own second level with the "
    "run's seed). Every model predicts the test clips with the sample stage's seeds. FVD (one seeded sample per "
    "clip, against the benchmark's reference) at the protocol's horizon, the upsampling level's training length "
    "like the thesis's \"6 frames\", and over the long horizon, the full rollout like its \"50 frames\"; LPIPS "
    "best of N per sequence; grounding PSNR: the upsampling level's output brought down to the first level's "
    "grid (every other frame, half the size) against the first level's output, one sample per test clip "
    "(higher: better grounded). \"Here\" compares the full-rollout FVD: lower wins; for §6.B, \"alike\" means "
    "within {alike} % of the run's. The thesis's numbers are <span class=\"published\">published</span> on "
    "BDD100K and Kinetics-600 at 128 × 128 with its sizes: only the direction compares. One seed and a few "
    "dozen steps per level: a direction, not a test.",
    run_row="the run: matching D, whole-future crops, separable 3D",
    source="004",
    columns=(AblationColumn("FVD (horizon)", "fvd", 1), AblationColumn("FVD (long horizon)", "fvd_long", 1),
             AblationColumn("LPIPS (best of N)", "lpips"), AblationColumn("Grounding PSNR (dB)", "grounding_psnr", 2)),
    findings=(
        AblationFinding("no_matching", "Table 6.3: the matching discriminator grounds the upsampling level; without "
                        "it, similar at the training length, worse over the full rollout", "fvd_long",
                        published="BDD100K FVD 144.96 vs 211.69 (6 frames), 326.78 vs 575.51 (50 frames)"),
        AblationFinding("window_2", "Table 6.4: upsampling on 6-frame windows beats 3-frame windows", "fvd_long",
                        published="Kinetics-600 FVD 517.21 vs 714.74 (48 frames)"),
        AblationFinding("convgru", "§6.B: a ConvGRU and the separable 3D convolution perform alike", "fvd_long",
                        published="Fig. 6.6, normalised curves only", alike=0.1),  # "alike": within 10 %
    ))
