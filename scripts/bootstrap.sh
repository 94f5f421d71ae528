#!/usr/bin/env bash
# Set up everything `make run` and `make test` need on a fresh Debian 12 machine:
# the Debian packages for the real servers, and the project virtualenv from requirements.lock.
# Idempotent: each step is skipped when its result is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# binary -> Debian package providing it
declare -A PKGS=(
  [nats-server]=nats-server
  [docker-registry]=docker-registry
  [skopeo]=skopeo
  [htpasswd]=apache2-utils
  [openssl]=openssl
  [krb5-config]=libkrb5-dev
  [pg_ctlcluster]=postgresql
  [gcc]=gcc
  # the MIT Kerberos KDC of the gateway's Kerberos tests (services/tooling/servers/kdc.py)
  [krb5kdc]=krb5-kdc
  [kdb5_util]=krb5-admin-server
  [kadmin.local]=krb5-admin-server
  [kinit]=krb5-user
  # the browser of the dashboard and API documentation tests (driven by Playwright)
  [chromium]=chromium
)
missing=()
for bin in "${!PKGS[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || [ -x "/usr/lib/postgresql/15/bin/$bin" ] \
    || missing+=("${PKGS[$bin]}")
done
if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then missing+=(postgresql); fi
# the AMQP 1.0 broker of the UMB tests (RabbitMQ with its AMQP 1.0 plugin)
if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then missing+=(rabbitmq-server); fi
# OpenSSL headers: python-qpid-proton builds with TLS support (amqps://) only with them
if [ ! -f /usr/include/openssl/ssl.h ]; then missing+=(libssl-dev); fi
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp="$VENV/.bootstrap-stamp"
want="$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "bootstrap: creating virtualenv $VENV from requirements.lock"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -r requirements.lock 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
log="$(mktemp)"
if ! "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e . >"$log" 2>&1; then
  cat "$log" >&2; exit 1
fi
rm -f "$log"
# Build the native FNV-1a helper of the catalog cache digest now (it is otherwise built on first use).
"$VENV/bin/python" -c "from services.catalog.accel import native_fnv; native_fnv()"
echo "$want" > "$stamp"
