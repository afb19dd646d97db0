#!/usr/bin/env bash
# Debian's Chromium (for the browser tests of the chat app) and a font with the taka sign; no browser download.
set -euo pipefail
packages=(chromium chromium-driver fonts-lohit-beng-bengali)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "browser: $(/usr/bin/chromium --version 2>/dev/null)"
