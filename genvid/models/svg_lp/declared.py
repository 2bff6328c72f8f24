"""SVG-LP and its action-steered variant: where genvid departs from SVG or adds to it (the report's
design-choice table; genvid.models.family.Choice).
"""
from genvid.data.declared import Choice

ACTIONS = Choice(
    "Action conditioning (<code>svg_lp_action</code>, issue 24)",
    "a<sub>t−1</sub>, standardised with the training split's statistics, joins the inputs of the prior and of "
    "the frame predictor; the posterior is SVG's",
    "no source: none of the five theses conditions a predictor on actions (seed 000's title asks for a "
    "simulator one can drive)",
    "genvid's design: z then models what the action leaves unexplained; measured on the simulator's "
    "counterfactual clips (sensitivity, direction)")

EGO_WARP = Choice(
    "Ego warp (<code>models.svg_lp_action.ego_warp</code>, <code>max_shift</code>, issue 48)",
    "when on, the predicted frame blends the previous frame shifted sideways (interpolated by "
    "<code>warp_kernel</code>: linear, the default, or Keys' cubic; the border column repeated) with the "
    "decoder's frame, by a mask the decoder draws; the shift, at most "
    "<code>max_shift</code> pixels a frame, is read from g<sub>t</sub>, which read a<sub>t−1</sub> (with "
    "<code>shift_reads_action</code>, from a<sub>t−1</sub> itself too); "
    "teacher-forced in training (the real previous frame), the model's own previous frame while predicting; "
    "with <code>warp_decoder</code> the decoder's frame moves too, by the shifts summed since the frame whose "
    "skips it reads; with <code>warp_mask: hard</code> each pixel takes one of the two (a straight-through 0/1 "
    "mask) instead of their blend",
    "no source: SVG decodes every frame from g<sub>t</sub> and the last context frame's skips",
    "genvid's design: a turn moves the whole scene sideways by many pixels, which a squared-error decoder "
    "renders as a fraction of a pixel of blur (docs/learning.md); a shift of the previous frame keeps the scene "
    "sharp where it only moves; the decoder draws in its skip frame's pose, so without "
    "<code>warp_decoder</code> its share of a frame stays where the context left the scene and the blend "
    "averages a moved and an unmoved picture")

PICK = Choice(
    "The ego warp's mask while predicting (<code>models.svg_lp_action.sampling.mask</code>, issue 48)",
    "<code>hard</code> in the default profile: each predicted pixel is the shifted previous frame or the decoder's, "
    "whichever the trained mask favours (m<sub>t</sub> &gt; 1/2); <code>soft</code>: their blend, as in training",
    "no source (the ego warp is genvid's)",
    "genvid's choice: the model trains with the soft blend, whose gradient reaches both sides, but a blend of a "
    "picture moved by the steer and one drawn in the context's pose differs less between two steers than "
    "either does; picking one per pixel keeps what the warp moved (docs/learning.md)")

BATCH_NORM = Choice(
    "Batch norm while generating",
    "eval mode (running statistics)",
    "SVG's generation script keeps training mode (batch statistics)",
    "genvid's choice, kept: with batch statistics a prediction depends on the other sequences of its batch, so "
    "on the batch size")
