"""HTTPS for phones, as the README says to set it up: a local CA and a server certificate made
by the README's own openssl commands, `make serve`'s gunicorn serving TLS, and Chromium that
reaches `zerentian.test` (mapped to 127.0.0.1) and trusts the CA through its NSS database, as
a phone that installed the CA does. localhost is a secure context anyway, so a test there
would prove nothing: here the page is secure only because the certificate is trusted."""
import os
import re
import shutil
import subprocess

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, pin_page_clock, screenshot
from tests.county import PASSWORD
from tests.served import ROOT, serve_env, start, stop

NAME = "zerentian.test"
FIX = {"latitude": 28.905, "longitude": 107.605, "accuracy": 15}  # inside mgr1's village V1


def readme_https_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- https-commands -->\s*```sh\n(.*?)```\s*<!-- /https-commands -->", readme, re.S)
    return block.group(1)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """The README's commands run as written, for NAME instead of zerentian.lan."""
    folder = tmp_path_factory.mktemp("tls")
    script = readme_https_commands().replace("NAME=zerentian.lan", f"NAME={NAME}", 1)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=folder, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for made in ("zrt-ca.pem", "zrt-ca.crt", f"{NAME}.pem", f"{NAME}.key"):
        assert (folder / made).stat().st_size > 0, made
    return folder


@pytest.fixture(scope="module")
def https_server(live, live_database_url, certificates, tmp_path_factory):
    """make serve over TLS on the live county's database (built by the browser fixtures)."""
    env = serve_env(live_database_url, JOB_WORKERS=0, WEB_CONCURRENCY=1, TLS_CERTFILE=certificates / f"{NAME}.pem",
                    TLS_KEYFILE=certificates / f"{NAME}.key")
    server = start(env, tmp_path_factory.mktemp("log") / "serve.log", scheme="https",
                   cafile=str(certificates / "zrt-ca.pem"))
    yield server
    stop(server)


def chromium_at_home(browser, home):
    """Another Chromium from the session's Playwright, its HOME (and so its NSS database) at home,
    resolving NAME to 127.0.0.1 as the office network's DNS would."""
    return browser.browser_type.launch(executable_path=CHROMIUM, env=dict(os.environ, HOME=str(home)),
                                       args=CHROMIUM_ARGS + [f"--host-resolver-rules=MAP {NAME} 127.0.0.1"])


@pytest.fixture(scope="module")
def trusting_chromium(browser, certificates, tmp_path_factory):
    """Chromium whose NSS database ($HOME/.pki/nssdb) trusts the CA, as a phone that installed it."""
    if not shutil.which("certutil"):
        if os.environ.get("CI"):
            pytest.fail("certutil is missing: run `make setup` (Debian's libnss3-tools).")
        pytest.skip("no certutil (Debian's libnss3-tools)")
    home = tmp_path_factory.mktemp("home")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True, timeout=30)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "zrt-ca",
                    "-i", str(certificates / "zrt-ca.pem")], check=True, timeout=30)
    chromium = chromium_at_home(browser, home)
    yield chromium
    chromium.close()


def phone(browser, **options):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", **options)
    pin_page_clock(context)
    return context.new_page()


def test_today_over_https_is_a_secure_context_with_the_phones_position(trusting_chromium, https_server):
    base = f"https://{NAME}:{https_server.port}"
    page = phone(trusting_chromium, geolocation=FIX, permissions=["geolocation"])
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}/login")
    page.get_by_label("用户名", exact=True).fill("mgr1")
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="登录").click()
    assert page.url == f"{base}/today"
    assert page.evaluate("window.isSecureContext") is True
    # The position arrives (only a secure context gets one), and Today reorders by it.
    fix = page.evaluate("""() => new Promise(done => navigator.geolocation.getCurrentPosition(
        p => done([p.coords.latitude, p.coords.longitude]), e => done('error ' + e.code), {timeout: 10000}))""")
    assert fix == [FIX["latitude"], FIX["longitude"]]
    status = page.locator("#locate-status")
    near = status.get_attribute("data-msg-near")
    page.wait_for_function("([el, text]) => el.textContent.trim() === text", arg=[status.element_handle(), near])
    # the service worker (offline work) registers only in a secure context: here it does
    scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.active && r.scope)")
    assert scope == f"{base}/"
    assert not errors, errors
    screenshot(page, "https-today")
    page.context.close()


def test_a_chromium_without_the_ca_refuses_the_certificate(browser, https_server, tmp_path):
    """The same server and name, from a Chromium that never trusted the CA: no page, a certificate error."""
    untrusting = chromium_at_home(browser, tmp_path)
    try:
        page = untrusting.new_page()
        with pytest.raises(Exception, match="ERR_CERT_AUTHORITY_INVALID"):
            page.goto(f"https://{NAME}:{https_server.port}/login")
    finally:
        untrusting.close()
