"""The report's bibliography: the five seed theses (cited by number, title and section) and the methods they build on."""
from __future__ import annotations

import re

from markupsafe import Markup

REFERENCES: tuple[tuple[str, str], ...] = (
    ("xu2022", "M. Xu. <i>Learning To Model A Driving Simulator: 3D Hierarchical VQVAE for Modelling Driving "
               "Environments.</i> Master's thesis, Department of Informatics, University of Oslo, 2022. (Seed 000.)"),
    ("glissov2021", "C. D. Glissov and T. G. Konradsen. <i>Recurrent Flows for Video Generation.</i> Master's thesis, "
                    "DTU Compute, Technical University of Denmark, 2021. (Seed 001.)"),
    ("coppock2020", "H. Coppock. <i>Vector Quantised-Variational Autoencoders (VQ-VAEs) for Representation "
                    "Learning.</i> MSc thesis, Department of Computing, Imperial College London, 2020. (Seed 002.)"),
    ("mastropietro2017", "O. Mastropietro. <i>Deep Learning for Video Modelling.</i> Mémoire de maîtrise (M.Sc.), "
                         "Université de Montréal, 2017. (Seed 003.)"),
    ("castrejon2022", "L. Castrejon. <i>Advances in Generative Models for Dynamic Scenes.</i> PhD thesis, "
                      "Université de Montréal, 2022. (Seed 004.)"),
    ("vandenoord2017", "A. van den Oord, O. Vinyals and K. Kavukcuoglu. Neural Discrete Representation Learning. "
                       "In <i>Advances in Neural Information Processing Systems 30</i>, 2017. arXiv:1711.00937."),
    ("razavi2019", "A. Razavi, A. van den Oord and O. Vinyals. Generating Diverse High-Fidelity Images with VQ-VAE-2. "
                   "In <i>Advances in Neural Information Processing Systems 32</i>, 2019. arXiv:1906.00446."),
    ("chen2018", "X. Chen, N. Mishra, M. Rohaninejad and P. Abbeel. PixelSNAIL: An Improved Autoregressive "
                 "Generative Model. In <i>Proceedings of the 35th International Conference on Machine Learning</i>, "
                 "PMLR 80, pp. 864–872, 2018."),
    ("wang2004", "Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli. Image Quality Assessment: From Error "
                 "Visibility to Structural Similarity. <i>IEEE Transactions on Image Processing</i> 13(4), "
                 "pp. 600–612, 2004."),
    ("zhang2018", "R. Zhang, P. Isola, A. A. Efros, E. Shechtman and O. Wang. The Unreasonable Effectiveness of Deep "
                  "Features as a Perceptual Metric. In <i>Proceedings of the IEEE Conference on Computer Vision and "
                  "Pattern Recognition (CVPR)</i>, 2018."),
    ("unterthiner2018", "T. Unterthiner, S. van Steenkiste, K. Kurach, R. Marinier, M. Michalski and S. Gelly. "
                        "Towards Accurate Generative Models of Video: A New Metric & Challenges. arXiv:1812.01717, 2018."),
    ("franceschi2020", "J.-Y. Franceschi, E. Delasalles, M. Chen, S. Lamprier and P. Gallinari. Stochastic Latent "
                       "Residual Video Prediction. In <i>Proceedings of the 37th International Conference on Machine "
                       "Learning</i>, PMLR 119, 2020."),
)
NUMBER = {key: i + 1 for i, (key, _) in enumerate(REFERENCES)}


def cite(*keys: str) -> Markup:
    """'[1, 7]' linking to the bibliography entries; an unknown key is a KeyError (tested)."""
    links = [Markup('<a class="cite" href="#ref-{}">{}</a>').format(k, NUMBER[k]) for k in keys]
    return Markup("[") + Markup(", ").join(links) + Markup("]")


def xu(where: str) -> Markup:
    """A pinpoint citation of the core thesis (seed 000): '[1, Table 5.3]'."""
    return Markup('[<a class="cite" href="#ref-xu2022">{}</a>, {}]').format(NUMBER["xu2022"], where)


def pin(key: str, where: str) -> Markup:
    """A pinpoint citation of any entry: '[5, Table 4.2]' (``xu`` for seed 000)."""
    return Markup('[<a class="cite" href="#ref-{}">{}</a>, {}]').format(key, NUMBER[key], where)


SEED_KEYS = {"001": "glissov2021", "002": "coppock2020", "003": "mastropietro2017", "004": "castrejon2022"}


def seed(number: str, where: str) -> Markup:
    """'seed 004 [5, Table 4.2]': a seed thesis by its number, with a pinpoint citation."""
    return Markup("seed {} {}").format(number, pin(SEED_KEYS[number], where))


def cite_marked(text: str) -> Markup:
    """HTML ``text`` with each "{001:Table 9.5}" a pinpoint citation of that seed thesis (``seed``)."""
    parts = re.split(r"\{(\d{3}):([^}]+)\}", text)  # text, number, pinpoint, text, ...
    out = Markup(parts[0])
    for i in range(1, len(parts), 3):
        out += seed(parts[i], parts[i + 1]) + Markup(parts[i + 2])
    return out


def bibliography() -> list[dict]:
    return [{"key": k, "number": NUMBER[k], "text": Markup(t)} for k, t in REFERENCES]
