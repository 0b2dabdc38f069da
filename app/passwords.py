"""What makes a new password too easy to guess: length, a list of common ones, the demo's
published one, the username with digits, keyboard runs and repeats. No forced symbols.

A pure helper (it knows no model): the change form and `flask create-user` both ask it.
"""
import re
from pathlib import Path

from flask_babel import lazy_gettext as _l

# The demo county's password, published in the README: its users keep it (the demo sets it
# directly), nobody else may choose it.
DEMO_PASSWORD = "zrt-demo-2026"
MIN_PASSWORD_LENGTH = 8
COMMON_PASSWORDS = frozenset(
    line.strip().lower()
    for line in (Path(__file__).parent / "common_passwords.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#"))
# Lines a finger runs along (keyboard rows and columns, the alphabet, digits), each read
# either way: a password made only of runs along them, or of one character repeated, is
# among the first an attacker tries.
RUNS = ("`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./", "abcdefghijklmnopqrstuvwxyz",
        "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/", "qazwsxedcrfvtgbyhnujmikolp")
_NEXT = {}
for _line in RUNS + tuple(r[::-1] for r in RUNS):
    for _a, _b in zip(_line, _line[1:]):
        _NEXT.setdefault(_a, set()).add(_b)


def _pieces(text):
    """text cut greedily into runs: each the longest stretch that repeats one character or
    steps along one of RUNS."""
    pieces, start = [], 0
    while start < len(text):
        end = start + 1
        if end < len(text) and text[end] == text[start]:
            while end < len(text) and text[end] == text[start]:
                end += 1
        else:
            while end < len(text) and text[end] in _NEXT.get(text[end - 1], ()):
                end += 1
        pieces.append(text[start:end])
        start = end
    return pieces


def _predictable(password):
    """Only runs of 3 or more (digits may trail, as in "qwerty1"): keyboard runs, repeats."""
    text = password.lower()
    stem = text.rstrip("0123456789")
    return all(len(piece) >= 3 for piece in _pieces(stem or text))


def _built_on_username(password, username):
    """The username with only digits and punctuation around it ("mgr01", "Mgr01_2026!")."""
    username = (username or "").strip().lower()
    if not username:
        return False
    lowered = password.lower()
    return username in lowered and not re.search(r"[^\W\d_]", lowered.replace(username, ""))


def password_problem(password, username=""):
    """Why a new password is refused, or None. Length and guessability only: no forced symbols."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _l("Use at least %(n)s characters.", n=MIN_PASSWORD_LENGTH)
    if password == DEMO_PASSWORD:
        return _l("This is the demo's published password; choose your own.")
    if password.lower() in COMMON_PASSWORDS or _built_on_username(password, username):
        return _l("This password is too common; choose one that is harder to guess.")
    if _predictable(password):
        return _l("Keyboard runs and repeated characters are easy to guess; choose another password.")
    return None
