"""A person's session over real HTTP (urllib): cookies kept, redirects followed, forms posted
with the CSRF token the page handed out. For tests that talk to a served app, not the test client."""
import ssl
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from types import SimpleNamespace

from bs4 import BeautifulSoup


class Session:
    def __init__(self, base, cafile=None):
        self.base = base.rstrip("/")
        handlers = [urllib.request.HTTPCookieProcessor(CookieJar())]
        if cafile:
            handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
        self.opener = urllib.request.build_opener(*handlers)

    def request(self, path, data=None, headers=None):
        """The answer to GET (or POST when data is given): .status, .url (after redirects), .headers, .text."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        try:
            with self.opener.open(request, timeout=20) as response:
                return SimpleNamespace(status=response.status, url=response.url, headers=response.headers,
                                       text=response.read().decode())
        except urllib.error.HTTPError as error:
            return SimpleNamespace(status=error.code, url=error.url, headers=error.headers,
                                   text=error.read().decode())

    def get(self, path, **kw):
        return self.request(path, **kw)

    def post_form(self, form_path, data, action=None):
        """Open form_path, then post data with its CSRF token to action (the same path by default)."""
        page = BeautifulSoup(self.get(form_path).text, "html.parser")
        token = page.select_one("input[name=csrf_token]")["value"]
        return self.request(action or form_path, data=dict(data, csrf_token=token))

    def sign_in(self, username, password):
        """Sign in through the real form; the answer is the landing page."""
        return self.post_form("/login", {"username": username, "password": password})

    def path(self, response):
        return urllib.parse.urlsplit(response.url).path
