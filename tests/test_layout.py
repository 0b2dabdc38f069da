"""The layers stay visible: no import loop anywhere in app/, no module over 800 lines."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOOPS_TOOL = ROOT.parent / "shared" / "tools" / "import_loops.py"
MAX_LINES = 800


@pytest.mark.skipif(not LOOPS_TOOL.exists(), reason="the shared import_loops tool is not beside the clone")
def test_app_has_no_import_loop():
    """Function-local imports count, and so does a package __init__ its submodules import back."""
    run = subprocess.run([sys.executable, str(LOOPS_TOOL), "."], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


@pytest.mark.parametrize("module", sorted((ROOT / "app").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_800_lines(module):
    assert len(module.read_text(encoding="utf-8").splitlines()) <= MAX_LINES
