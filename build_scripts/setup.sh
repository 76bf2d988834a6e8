#!/usr/bin/env bash
# Sets Tessera up from a fresh clone, then runs the main job or the test suite.
#
#   bash build_scripts/setup.sh run     classify the sample photos (and open the window when a
#                                       display exists)
#   bash build_scripts/setup.sh test    run the whole test suite (extra args go to pytest)
#
# Idempotent: each step is skipped when its inputs haven't changed since it last ran, so a
# second run starts in seconds. As root it installs missing Debian packages with apt; as a
# normal user it says which ones to ask for.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=${1:-run}; shift || true
stamps=build/stamps; mkdir -p "$stamps"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# A step's stamp is the hash of its inputs, written after it succeeds; it reruns on a change.
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
up_to_date() { [ "$(cat "$stamps/$1" 2>/dev/null)" = "$2" ]; }

# --- system packages --------------------------------------------------------------------
have_browser() {
  for b in chromium chromium-browser google-chrome google-chrome-stable microsoft-edge brave-browser; do
    command -v "$b" >/dev/null && return 0
  done
  [ -n "${TESSERA_BROWSER:-}" ]
}
missing=()
python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || missing+=(python3 python3-venv python3-pip)
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
have_browser || missing+=(chromium)
if [ "$mode" = test ]; then
  command -v Xvfb >/dev/null || missing+=(xvfb)
  command -v xwininfo >/dev/null || missing+=(x11-utils)   # the window test lists X windows
  # The pywebview Qt window test: libraries PyQt6's xcb platform plugin and WebEngine load.
  for pkg in libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 \
             libxcb-randr0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libxkbfile1 libegl1 libgl1 \
             libnss3 libxcomposite1 libxdamage1 libxtst6 libasound2 libfontconfig1 libdbus-1-3; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  command -v chromium >/dev/null || missing+=(chromium)   # the browser tests drive Chromium
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" fonts-dejavu-core ca-certificates >/dev/null
  else
    echo "Tessera needs these system packages: ${missing[*]}" >&2
    echo "Install them (e.g. sudo apt install ${missing[*]}) and run this command again." >&2
    exit 1
  fi
fi

# --- Python environment -----------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  say "creating the Python environment in .venv"
  python3 -m venv .venv
  rm -f "$stamps/pip"
fi
extras=test
[ "$mode" = test ] && extras=test,window,package   # the suite also drives the Qt window and builds the app
h=$(echo "$extras" | cat - pyproject.toml | sha256sum | cut -c1-16)
if ! up_to_date pip "$h"; then
  say "installing Python dependencies"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]"
  echo "$h" > "$stamps/pip"
fi

# --- web app ----------------------------------------------------------------------------
h=$(hash_of webapp/package-lock.json)
if [ ! -d webapp/node_modules ] || ! up_to_date npm "$h"; then
  say "installing web dependencies (npm ci)"
  (cd webapp && npm ci --silent --no-audit --no-fund)
  echo "$h" > "$stamps/npm"
fi
h=$(hash_of webapp/build.mjs webapp/tsconfig.json webapp/package-lock.json \
      $(find webapp/src webapp/static -type f | sort))
if [ ! -f webapp/dist/index.html ] || ! up_to_date web "$h"; then
  say "building the web app"
  (cd webapp && npm run --silent build)
  echo "$h" > "$stamps/web"
fi

# --- bundled models (the build script skips what is up to date) ---------------------------
say "bundled models"
.venv/bin/python build_scripts/build_models.py
# The style gallery is rendered by `tessera stylize` itself, so after the web app and models.
h=$(hash_of build/models/multistyle26/stamp assets/samples/chelsea.jpg \
      desktop/tessera/zoo/style_gallery.py)
if [ ! -f build/models/multistyle26/gallery-25.jpg ] || ! up_to_date gallery "$h"; then
  say "rendering the style gallery"
  .venv/bin/python build_scripts/build_models.py --gallery
  echo "$h" > "$stamps/gallery"
fi

# --- the job ----------------------------------------------------------------------------
case "$mode" in
  run)
    say "classifying the sample photos"
    status=0
    .venv/bin/tessera classify assets/samples || status=$?
    if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
      say "opening the Tessera window"
      .venv/bin/tessera
    fi
    exit $status ;;
  test)
    # The benchmark stand-ins (random-weight ResNet50, MobileNetV3, …) several test files read:
    # built once here, so test files running side by side never build them at the same time.
    say "benchmark stand-in models"
    .venv/bin/python build_scripts/build_bench_models.py
    say "running the test suite"
    # One worker per core (at most 4), each taking whole files: many tests wait on a browser,
    # a subprocess or a watcher rather than on the CPU. Files go out in collection order, which
    # tests/conftest.py makes longest first.
    exec .venv/bin/python -m pytest --numprocesses=auto --maxprocesses=4 --dist=loadfile \
      --no-loadscope-reorder --durations=15 "$@" ;;
  *) echo "usage: $0 run|test [pytest args]" >&2; exit 2 ;;
esac
