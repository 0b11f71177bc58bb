#!/usr/bin/env bash
# Installs what pip cannot: the real Fashion-MNIST files (Debian's dataset-fashion-mnist) and, with --browser (the
# whole test suite), Chromium for the end-to-end tests with a CJK font (fonts-noto-cjk: the pages in Chinese, not
# boxes) and PostgreSQL for the search's shared-storage test (which starts its own server in a temporary folder;
# the package's own cluster is not used). Where apt is not available or we are not root, it says what to do instead:
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
if [ "${1:-}" = "--browser" ] && [ -z "${NIN_SKIP_BROWSER:-}" ] && ! compgen -G "/usr/share/fonts/opentype/noto/NotoSansCJK*" >/dev/null; then
  need+=(fonts-noto-cjk)
fi
if [ "${1:-}" = "--browser" ] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  need+=(postgresql)
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
if [[ " ${need[*]} " == *" postgresql "* ]]; then
  echo "  The search's PostgreSQL test needs Debian's postgresql package (initdb, pg_ctl); it is skipped without." >&2
fi
exit 0
