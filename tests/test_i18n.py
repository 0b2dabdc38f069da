"""Every message the code shows has its Chinese and its English translation."""
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = {
    "zh_CN": ROOT / "app/translations/zh_Hans_CN/LC_MESSAGES/messages.po",
    "en": ROOT / "app/translations/en/LC_MESSAGES/messages.po",
}


@pytest.fixture(scope="module")
def source_messages(tmp_path_factory):
    """The messages in the code and templates today, extracted afresh."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract",
                    "-F", "app/translations/babel.cfg", "-k", "_l", "-k", "lazy_gettext",
                    "-o", str(pot), "."], cwd=ROOT, check=True)
    with open(pot, "rb") as f:
        return {m.id for m in read_po(f) if m.id}


@pytest.mark.parametrize("locale", sorted(CATALOGS))
def test_every_message_is_translated(locale, source_messages):
    with open(CATALOGS[locale], "rb") as f:
        catalog = read_po(f)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(str(m) for m in source_messages - translated)
    assert missing == [], f"untranslated in {locale}: run `make messages` and translate them"
