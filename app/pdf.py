"""HTML to PDF with WeasyPrint, the CJK fonts embedded, written atomically.

Fonts: without a CJK font WeasyPrint prints empty boxes and raises nothing, so the report
names its fonts itself. The main one is a subset of Noto Sans CJK SC (Debian's
fonts-noto-cjk, installed by .ci/system-packages.sh) cut down once to GB 2312, ASCII and
the punctuation a report prints, and kept in the font folder: a small static .otf that
parses and embeds fast. Anything it lacks falls back, through fontconfig, to the whole
Noto Sans CJK SC (which also holds 𠇔 and many Extension B characters), then to
WenQuanYi Micro Hei, then to HanaMin A/B (fonts-hanazono: all of CJK Extension A and B).

A pure helper: it knows no model.
"""
import functools
import hashlib
import os
import tempfile
import threading
from pathlib import Path

NOTO = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
NOTO_BOLD = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
SUBSET_NAME = "ZrtSansSC"
FALLBACK_FAMILIES = ("Noto Sans CJK SC", "WenQuanYi Micro Hei", "HanaMinA", "HanaMinB", "sans-serif")
PUNCTUATION = "，。、：；？！“”‘’（）《》【】—…·％～￥·×÷±≤≥→←↑↓△▲▼●○■□★☆〇–-−‹›«»°•"
_lock = threading.Lock()


@functools.cache
def _subset_text():
    """GB 2312's characters (the 6,763 common hanzi and its symbols), ASCII and our punctuation."""
    chars = {chr(i) for i in range(0x20, 0x7F)} | set(PUNCTUATION)
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return "".join(sorted(chars))


def _subset(source, target, face="Noto Sans CJK SC"):
    """Write the SC face of a Noto CJK collection, subset to _subset_text(), to target (atomically)."""
    from fontTools import subset
    from fontTools.ttLib import TTCollection

    with TTCollection(source, lazy=True) as collection:  # closed: the files are large and read once
        number = next(i for i, f in enumerate(collection.fonts) if face in f["name"].getDebugName(4))
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.font_number = number
    font = subset.load_font(source, options)
    try:
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=_subset_text())
        subsetter.subset(font)
        write_atomically(target, lambda f: font.save(f))
    finally:
        font.close()


def prepared_fonts(folder):
    """{weight: path} of the subset fonts in folder, made on first use (about 8 s each) from the
    system's Noto Sans CJK; {} when that font is not installed (the fallbacks then do it all)."""
    folder = Path(folder)
    made = {}
    with _lock:
        for weight, source in (("normal", NOTO), ("bold", NOTO_BOLD)):
            if not os.path.exists(source):
                continue
            # The file's name carries its character set: a longer list makes a new file.
            version = hashlib.sha256(_subset_text().encode()).hexdigest()[:8]
            target = folder / f"{SUBSET_NAME}-{weight}-{version}.otf"
            if not target.exists():
                folder.mkdir(parents=True, exist_ok=True)
                _subset(source, target)
            made[weight] = target
    return made


def font_css(fonts):
    """@font-face rules for the prepared fonts and the font-family list every report uses."""
    faces = "".join(
        f"@font-face {{ font-family: '{SUBSET_NAME}'; font-weight: {weight}; src: url('{Path(path).as_uri()}'); }}\n"
        for weight, path in fonts.items())
    families = ([f"'{SUBSET_NAME}'"] if fonts else []) + [
        f"'{f}'" if " " in f else f for f in FALLBACK_FAMILIES]
    return faces + f"html {{ font-family: {', '.join(families)}; }}\n"


def write_atomically(target, write):
    """Call write(file object) on a temporary file beside target, then rename it into place:
    a reader sees the old file or the whole new one, never half of it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def render(html, base_url=None):
    """A WeasyPrint document for the HTML (its pages are known before writing)."""
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    return HTML(string=html, base_url=base_url).render(font_config=fonts)


def write_pdf(html, target, base_url=None):
    """Render the HTML and write the PDF at target atomically; the number of pages."""
    document = render(html, base_url)
    write_atomically(target, lambda f: document.write_pdf(f))
    return len(document.pages)
