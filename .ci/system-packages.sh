#!/usr/bin/env bash
# The Debian packages Zerentian needs on a machine: headless Chromium for browser
# tests, poppler for reading PDFs back, a CJK font so Chinese shows in screenshots
# and PDFs (HanaMin, fonts-hanazono, for rare characters beyond Noto: CJK Extension A and B),
# PostgreSQL's server for the second half of the database tests, faketime to
# run the suite as if on another day (DEVELOPERS.md, "The business clock"), Redis
# for the background-job test on RedisHuey (and production with several machines), and NSS's
# certutil so the HTTPS browser test can make Chromium trust a local CA (tests/browser/test_https.py).
# Installs only what is missing, so a set-up machine pays nothing.
set -euo pipefail
wanted=(chromium poppler-utils fonts-wqy-microhei fonts-noto-cjk fonts-hanazono postgresql faketime redis-server libnss3-tools)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${missing[*]}"
if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
