"""The README cannot drift from the code: every command and config key is in it."""
from pathlib import Path

import pytest

from app import create_app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
EXTENSION_PREFIXES = ("BABEL_", "WTF_", "COMPRESS_")  # documented by Flask-Babel, Flask-WTF and Flask-Compress


def our_config_keys():
    """Config keys Zerentian adds beyond Flask's and its extensions' own."""
    from flask import Flask

    app = create_app({"DATABASE_URL": "sqlite:///:memory:", "SECRET_KEY": "x"})
    flask_keys = set(Flask("bare").config) - {"SECRET_KEY"}
    return sorted(k for k in app.config if k not in flask_keys and not k.startswith(EXTENSION_PREFIXES))


def test_the_readme_starts_with_the_two_commands():
    assert README.index("make run") < README.index("make test") < 1500


def test_every_flask_command_is_in_the_readme(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/z.db", "SECRET_KEY": "x"})
    ours = [name for name, command in app.cli.commands.items()]
    assert ours, "no commands found"
    for name in ours:
        assert f"`flask {name}`" in README, name


@pytest.mark.parametrize("key", our_config_keys())
def test_every_config_key_is_in_the_readme(key):
    assert f"`{key}`" in README


def _tour():
    start = README.index("## A tour of the folders")
    return README[start:README.index("\n## ", start + 1) if "\n## " in README[start + 1:] else len(README)]


APP = Path(__file__).resolve().parent.parent / "app"
PACKAGES = [APP] + sorted(p for p in APP.rglob("*") if p.is_dir() and (p / "__init__.py").exists())


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(APP.parent)))
def test_the_tour_names_every_module_of_every_package(package):
    """Each folder of app/ has its row in the README's tour, and the row names every module in it."""
    folder = str(package.relative_to(APP.parent)) + "/"
    rows = [line for line in _tour().splitlines() if line.startswith(f"| `{folder}` |")]
    assert rows, f"no row for {folder} in the README's tour"
    for module in sorted(package.glob("*.py")):
        if module.name != "__init__.py":
            assert f"`{module.stem}" in rows[0], f"{module.relative_to(APP.parent)} is not in the tour"
