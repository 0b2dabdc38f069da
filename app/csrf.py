"""CSRF protection (Flask-WTF's), with the token masked anew wherever a page carries it.

Pages are compressed (delivery.py), and a compressed page that carries a secret beside text
the requester chose (a search echoed back) gives the secret away a character at a time to
someone who can watch the sizes of the encrypted responses and make the phone send requests
(BREACH). The session's token is the same in every page; so each copy of it a page carries is
masked with its own random pad (as Django and Rails do): the bytes differ in every response
and there is nothing to guess. The token the form or the header sends back is unmasked before
Flask-WTF checks it as usual.
"""
import base64
import os

from flask import g
from flask_wtf.csrf import CSRFProtect

_PREFIX = b"m."  # a masked token: "m." + base64url(pad + token XOR pad), the pad as long as the token


def mask(token):
    """One masked copy of token (bytes), as bytes; each call gives another."""
    pad = os.urandom(len(token))
    return _PREFIX + base64.urlsafe_b64encode(pad + _xor(token, pad))


def _xor(data, pad):
    return (int.from_bytes(data, "big") ^ int.from_bytes(pad, "big")).to_bytes(len(data), "big")


def unmask(value):
    """The token a masked copy stands for; anything else as it came (Flask-WTF refuses it)."""
    if not value or not value.startswith(_PREFIX.decode()):
        return value
    try:
        raw = base64.urlsafe_b64decode(value[len(_PREFIX):])
    except ValueError:  # not base64, or not ASCII
        return None
    half = len(raw) // 2
    if not raw or len(raw) != 2 * half:
        return None
    try:
        return _xor(raw[half:], raw[:half]).decode()
    except UnicodeDecodeError:
        return None


class MaskedCSRFProtect(CSRFProtect):
    """Flask-WTF's CSRFProtect, reading masked tokens."""

    def init_app(self, app):
        super().init_app(app)
        app.after_request(_mask_in_page)

    def _get_csrf_token(self):
        return unmask(super()._get_csrf_token())


def _mask_in_page(response):
    """Every copy of this request's token in an HTML page (forms, htmx's header, the map's
    settings) becomes its own masked copy, before the page is compressed (this runs first)."""
    token = g.get("csrf_token")
    if (not token or response.direct_passthrough or response.is_streamed
            or response.mimetype != "text/html"):
        return response
    page, token = response.get_data(), token.encode()  # bytes: no decoding a 100 KB page
    if token not in page:
        return response
    parts = page.split(token)
    response.set_data(b"".join(part + mask(token) for part in parts[:-1]) + parts[-1])
    return response
