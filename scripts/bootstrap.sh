#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine, installing only what is
# missing: a JDK (17+), Maven and OpenSSH's sshd from Debian, the Python virtualenv with the project.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if [ -z "${CDP_APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null
    export CDP_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v java >/dev/null 2>&1 || apt_install openjdk-17-jdk-headless
command -v mvn >/dev/null 2>&1 || apt_install maven
# The demo's SFTP stand-in is OpenSSH's sshd on loopback; package scripts must not start it.
[ -x /usr/sbin/sshd ] || RUNLEVEL=1 apt_install --no-install-recommends openssh-server

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.cdp-installed
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev,demo]"
  touch "$stamp"
fi
