"""The report's fonts: the faces inside matplotlib's wheel and no other, so that the PDF's and the figures'
bytes do not depend on the fonts a machine happens to have (issue 47).

A fresh machine with only the DejaVu fonts and the same machine after Chromium's packages brought the
Liberation fonts (and a rebuilt fontconfig cache) gave two PDFs of one report: fontconfig resolves a CSS
family, a generic name or a missing glyph from whatever it finds. So

- WeasyPrint renders in a child process whose fontconfig reads ``fonts.conf`` below: one font folder,
  matplotlib's (DejaVu Serif, Sans and Sans Mono, STIX, Computer Modern, and LastResort, which draws a box
  for any code point the others lack), the generic families aliased to DejaVu, no system or user folder,
  and its cache in a folder of its own;
- matplotlib's font manager keeps the fonts of that folder only (``matplotlib_bundled_only``).

The lock pins matplotlib, hence these font files.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from xml.sax.saxutils import escape

import matplotlib
from matplotlib import font_manager

from genvid.errors import GenvidError

BUNDLED = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
GENERIC = {"serif": "DejaVu Serif", "sans-serif": "DejaVu Sans", "monospace": "DejaVu Sans Mono"}


def fontconfig_text(cache: Path) -> str:
    """fonts.conf: BUNDLED alone, the generic families aliased, the cache in ``cache``."""
    aliases = "".join(f"  <alias binding=\"same\"><family>{g}</family><prefer><family>{f}</family></prefer></alias>\n"
                      for g, f in GENERIC.items())
    return ("<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"urn:fontconfig:fonts.dtd\">\n<fontconfig>\n"
            f"  <dir>{escape(str(BUNDLED))}</dir>\n  <cachedir>{escape(str(cache))}</cachedir>\n{aliases}"
            "  <config><rescan><int>0</int></rescan></config>\n</fontconfig>\n")


# The child: read the HTML from stdin, write the PDF to stdout (SOURCE_DATE_EPOCH and FONTCONFIG_FILE set).
_CHILD = """
import logging, sys
from weasyprint import HTML
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)
sys.stdout.buffer.write(HTML(string=sys.stdin.buffer.read().decode("utf-8")).write_pdf())
"""


def pdf_with_bundled_fonts(html: str, epoch: int) -> bytes:
    """WeasyPrint's PDF of ``html`` in a child process that sees the bundled fonts only; the document
    dates from the template's metadata, the embedded font subsets' 'head' timestamps from
    SOURCE_DATE_EPOCH = ``epoch`` (fontTools reads it)."""
    if not BUNDLED.is_dir():
        raise GenvidError(f"{BUNDLED}: matplotlib's font folder is missing (reinstall the lock)")
    with tempfile.TemporaryDirectory(prefix="genvid-fonts-") as tmp:
        conf = Path(tmp) / "fonts.conf"
        conf.write_text(fontconfig_text(Path(tmp) / "cache"))
        env = {**os.environ, "FONTCONFIG_FILE": str(conf), "SOURCE_DATE_EPOCH": str(epoch)}
        env.pop("FONTCONFIG_PATH", None)
        done = subprocess.run([sys.executable, "-c", _CHILD], input=html.encode("utf-8"), env=env,
                              capture_output=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        raise GenvidError(f"the PDF renderer (WeasyPrint) failed: {tail[0]}")
    return done.stdout


def matplotlib_bundled_only() -> None:
    """matplotlib's font manager without any font outside BUNDLED (idempotent): a system or user font of
    the same family name could otherwise win the match."""
    manager = font_manager.fontManager
    kept = [f for f in manager.ttflist if Path(f.fname).parent == BUNDLED]
    if len(kept) != len(manager.ttflist):
        manager.ttflist = kept
        cached = getattr(manager, "_findfont_cached", None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
        font_manager._get_font.cache_clear()


BUNDLED_PREFIXES = ("DejaVu", "STIX", "cm", "LastResort")  # the families of BUNDLED's files, as PDFs name them


def pdf_fonts(pdf: bytes) -> list[str]:
    """The font names a PDF embeds (subset tags removed), sorted, from its compressed or plain streams."""
    names: set[str] = set()
    chunks = [pdf]
    for match in re.finditer(rb"stream\r?\n", pdf):
        end = pdf.find(b"endstream", match.end())
        try:
            chunks.append(zlib.decompress(pdf[match.end():end]))
        except zlib.error:
            continue
    for chunk in chunks:
        for name in re.findall(rb"/(?:BaseFont|FontName)\s*/([^\s/<>\[\]()]+)", chunk):
            names.add(name.decode("latin-1").split("+", 1)[-1])
    return sorted(names)


def foreign_fonts(pdf: bytes) -> list[str]:
    """The fonts a PDF embeds that genvid does not ship (a machine's fonts leaked into it)."""
    return [n for n in pdf_fonts(pdf) if not n.startswith(BUNDLED_PREFIXES)]
