#!/usr/bin/env bash
# Installs what pip cannot: the real Fashion-MNIST files (Debian's dataset-fashion-mnist) and, with --browser,
# Chromium for the end-to-end tests. Where apt is not available or we are not root, it says what to do instead:
# the data can also come from NIN_DATASET_DIR or torchvision's download on first use.
set -euo pipefail

need=()
cache="${XDG_CACHE_HOME:-$HOME/.cache}/nin/fashion-mnist"
if [ -z "${NIN_DATASET_DIR:-}" ] && [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
   && [ ! -d "$cache" ]; then
  need+=(dataset-fashion-mnist)
fi
if [ "${1:-}" = "--browser" ] && [ -z "${NIN_SKIP_BROWSER:-}" ] && ! command -v chromium >/dev/null; then
  need+=(chromium)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo -n true 2>/dev/null && sudo="sudo -n"  # never wait for a password
  if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
    echo "installing ${need[*]} with apt-get"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
    exit 0
  fi
fi
echo "note: could not install ${need[*]} (no apt-get or no root)." >&2
echo "  Fashion-MNIST: set NIN_DATASET_DIR to a folder with its four IDX files, or let torchvision download it on first use." >&2
if [[ " ${need[*]} " == *" chromium "* ]]; then
  echo "  The browser tests need Chromium at /usr/bin/chromium (or NIN_SKIP_BROWSER=1 to skip them)." >&2
  exit 1
fi
exit 0
