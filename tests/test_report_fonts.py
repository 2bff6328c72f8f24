"""Issue 47: the report's PDF and figures do not depend on the fonts a machine has (genvid.report.fonts).

Two font environments, as a child process sees them: a bare one, and the same with fonts a user or a
package added (~/.fonts, ~/.local/share/fonts): one that covers a code point the bundled fonts lack, and one
that claims to be DejaVu Serif. The same document gives the same bytes in both."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genvid.report.fonts import BUNDLED, fontconfig_text

HTML = ("<html><head><meta charset='utf-8'><style>body { font-family: 'DejaVu Serif', Georgia, 'Times New Roman', "
        "serif } code { font-family: monospace } .s { font-family: sans-serif }</style></head><body>"
        "<h1>PSNR ↑ σ ≤ 0.5 § 4.2</h1><p>Body text, <code>code()</code> and <span class='s'>sans</span>; "
        "a code point no bundled font has: \u4e00.</p></body></html>")


def _font(src: Path, dst: Path, family: str, extra_codepoint: int | None = None) -> None:
    """``src`` renamed to ``family`` (and drawing 'A' at ``extra_codepoint``), written to ``dst``."""
    from fontTools.ttLib import TTFont

    font = TTFont(src)
    for record in font["name"].names:
        if record.nameID in (1, 4, 16):
            record.string = family
        elif record.nameID == 6:
            record.string = family.replace(" ", "")
    if extra_codepoint is not None:
        for table in font["cmap"].tables:
            if table.isUnicode():
                table.cmap[extra_codepoint] = table.cmap[ord("A")]
    dst.parent.mkdir(parents=True, exist_ok=True)
    font.save(dst)


def _environment(home: Path, extra: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "FONTCONFIG"))}
    env.update(HOME=str(home), MPLCONFIGDIR=str(home / "mpl"), XDG_CACHE_HOME=str(home / "cache"))
    if extra:
        _font(BUNDLED / "DejaVuSans.ttf", home / ".fonts" / "cover.ttf", "Genvid Cover", 0x4E00)
        _font(BUNDLED / "STIXGeneral.ttf", home / ".local" / "share" / "fonts" / "impostor.ttf", "DejaVu Serif")
    return env


def _run(code: str, env: dict[str, str], stdin: bytes = b"") -> bytes:
    done = subprocess.run([sys.executable, "-c", code], input=stdin, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout


PDF = ("import sys; from genvid.report.build import html_to_pdf; "
       "sys.stdout.buffer.write(html_to_pdf(sys.stdin.read(), 0))")
FIGURE = ("import sys, numpy as np; from genvid.report import figures as F\n"
          "@F.styled\ndef chart():\n"
          "    fig, ax = F.plt.subplots(figsize=(3, 2)); ax.plot(np.arange(5), np.arange(5) ** 0.5, label='PSNR ↑ σ')\n"
          "    ax.set_title('SSIM § 4.2'); ax.legend(); return F.to_png(fig)\n"
          "sys.stdout.buffer.write(chart())")


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    bare, extra = tmp_path_factory.mktemp("bare"), tmp_path_factory.mktemp("extra")
    return _environment(bare, False), _environment(extra, True)


def test_the_pdf_is_the_same_with_and_without_the_machine_s_extra_fonts(homes):
    bare, extra = (_run(PDF, env, HTML.encode()) for env in homes)
    assert bare.startswith(b"%PDF") and bare == extra


def test_the_class_of_failure_is_real_the_machine_s_fontconfig_would_have_used_the_extra_fonts(homes):
    """The check above can fail: WeasyPrint left to the machine's fontconfig (the old renderer) falls back
    to the added font for the code point the bundled fonts lack."""
    plain = ("import sys, os; os.environ['SOURCE_DATE_EPOCH'] = '0'; from weasyprint import HTML; "
             "sys.stdout.buffer.write(HTML(string=sys.stdin.read()).write_pdf())")
    bare, extra = (_run(plain, env, HTML.encode()) for env in homes)
    assert bare != extra


def test_the_figures_are_the_same_with_and_without_a_font_claiming_to_be_dejavu_serif(homes):
    """A guard: matplotlib preferred its own DejaVu Serif over this impostor before the restriction too
    (measured: the old code passes this check); genvid.report.fonts makes it so by construction."""
    bare, extra = (_run(FIGURE, env) for env in homes)
    assert bare.startswith(b"\x89PNG") and bare == extra


def test_fontconfig_sees_one_folder_and_aliases_the_generic_families(tmp_path):
    text = fontconfig_text(tmp_path / "cache")
    assert text.count("<dir>") == 1 and f"<dir>{BUNDLED}</dir>" in text and "<include" not in text
    assert all(f"<family>{g}</family>" in text for g in ("serif", "sans-serif", "monospace"))
    assert (BUNDLED / "DejaVuSerif.ttf").is_file() and (BUNDLED / "LastResortHE-Regular.ttf").is_file()


def test_verify_names_the_fonts_of_a_differing_pdf_and_a_font_genvid_does_not_ship(tmp_path):
    """Issue 47: make verify blamed the CPU for a PDF whose fonts differed; it now names them."""
    from genvid import verify as V
    from genvid.report.fonts import foreign_fonts, pdf_fonts

    pdf = _run(PDF, {**os.environ}, HTML.encode())
    assert pdf_fonts(pdf)[:2] == ["DejaVu-Sans", "DejaVu-Sans-Mono"] and foreign_fonts(pdf) == []
    (tmp_path / "ours.pdf").write_bytes(pdf)
    (tmp_path / "leaked.pdf").write_bytes(b"%PDF-1.7\n<< /Type /Font /BaseFont /ABCDEF+Liberation-Mono >>\n")
    lines = V.pdf_font_lines(tmp_path, ["ours.pdf", "leaked.pdf", "absent.pdf"])
    assert lines[0].startswith("ours.pdf embeds the fonts: DejaVu-Sans, DejaVu-Sans-Mono")
    assert lines[1:] == ["leaked.pdf embeds the fonts: Liberation-Mono",
                         "likely cause: fonts: leaked.pdf embeds Liberation-Mono, which genvid does not ship (the "
                         "machine's fonts reached the renderer; genvid.report.fonts keeps them out)"]
    assert V.pdf_font_lines(tmp_path, ["absent.pdf"]) == []
