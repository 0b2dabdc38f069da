"""Bring a catalogue up to date with messages.pot: `python app/translations/fill.py LOCALE [dict.py]`.

New messages are added untranslated; a dict file (a Python module defining ZH or EN)
fills translations. tests/test_i18n.py fails while any message lacks one.
"""
import runpy
import sys
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).parent


def main(locale, dict_file=None):
    with open(HERE / "messages.pot", "rb") as f:
        template = read_po(f)
    # Babel parses zh_CN as zh_Hans_CN and gettext looks for that exact folder name.
    po_path = HERE / str(Locale.parse(locale)) / "LC_MESSAGES" / "messages.po"
    if po_path.exists():
        with open(po_path, "rb") as f:
            catalog = read_po(f, locale=locale)
    else:
        catalog = Catalog(locale=locale, fuzzy=False, project="Zerentian")
    catalog.update(template, no_fuzzy_matching=True)
    if dict_file:
        table = next(v for k, v in runpy.run_path(dict_file).items() if k.isupper())
        for message in catalog:
            if message.id and message.id in table:
                message.string = table[message.id]
                message.flags.discard("fuzzy")
    po_path.parent.mkdir(parents=True, exist_ok=True)
    with open(po_path, "wb") as f:
        write_po(f, catalog, width=100, omit_header=False)
    missing = [m.id for m in catalog if m.id and not m.string]
    print(f"{locale}: {len(missing)} untranslated", *missing, sep="\n  ")


if __name__ == "__main__":
    main(*sys.argv[1:])
