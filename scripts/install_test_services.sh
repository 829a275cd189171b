#!/usr/bin/env bash
# Installs the real servers the transport tests start on loopback: OpenSSH (sftp),
# PostgreSQL (warehouse), gnupg (PGP) and docker-compose (which validates docker/ without a
# Docker engine) from Debian, and Azurite (Azure Blob) from npm.
# Idempotent: installs only what is missing and prints nothing when all is present.
set -euo pipefail

CACHE_DIR="${CDP_CACHE_DIR:-$HOME/.cache/cdp-pipelines}"
AZURITE_VERSION="3.37.0"

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing_apt=()
[ -x /usr/sbin/sshd ] || missing_apt+=(openssh-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing_apt+=(postgresql)
command -v gpg >/dev/null || missing_apt+=(gnupg)
command -v npm >/dev/null || missing_apt+=(npm)
command -v docker-compose >/dev/null || missing_apt+=(docker-compose)

if [ "${#missing_apt[@]}" -gt 0 ]; then
    echo "install_test_services: apt-get install ${missing_apt[*]}"
    sudo_if_needed apt-get update -qq
    # Package scripts must not try to start services: tests start their own instances.
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
        apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
fi

# sshd refuses to start without its privilege separation directory.
if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
    mkdir -p /run/sshd && chmod 0755 /run/sshd
fi

AZURITE_BIN="$CACHE_DIR/npm/node_modules/.bin/azurite-blob"
if [ ! -x "$AZURITE_BIN" ]; then
    echo "install_test_services: npm install azurite@$AZURITE_VERSION into $CACHE_DIR/npm"
    mkdir -p "$CACHE_DIR/npm"
    npm install --prefix "$CACHE_DIR/npm" --no-audit --no-fund --silent "azurite@$AZURITE_VERSION"
fi
