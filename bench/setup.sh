#!/usr/bin/env bash
# Set up everything the benchmark needs on a Debian machine (run as root):
#   - wrk (load generator), h2load (nghttp2-client: per-request log, used by
#     overload_faults.py), nginx + the Lua module (the OpenResty-style peer),
#     lua-cjson (JSON for the nginx handlers), from Debian packages;
#   - a bench-only virtualenv at bench/.venv with the Python peers (uvicorn,
#     httptools, granian), the libraries the handlers use, matplotlib for the
#     plots, and rover-mt itself installed editable from this checkout.
# Safe to run again: it only installs what is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="$here/.venv"

apt_packages=(wrk nghttp2-client nginx libnginx-mod-http-lua libnginx-mod-http-ndk lua-cjson)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The packaged nginx service is not wanted: the benchmark starts its own
    # nginx on a free loopback port.  policy-rc.d stops the postinst from starting it.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends ${missing[*]}
    rm -f /usr/sbin/policy-rc.d
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating $venv"
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q uvicorn httptools granian lupa h11 orjson matplotlib pytest
"$venv/bin/python" -m pip install -q -e "$repo"

echo "setup: done"
"$venv/bin/python" "$here/machine_info.py" --short || true
