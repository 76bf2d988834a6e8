#!/usr/bin/env bash
# make_dmg.sh APP DMG: a compressed disk image holding APP beside a link to /Applications, so
# installing is a drag. macOS only (hdiutil). NOT YET RUN: written for the hosted CI
# (.github/workflows/build.yml). The app is not signed or notarised: on first open macOS asks
# the user to allow it (right-click > Open).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 Tessera.app tessera-<version>-macos.dmg" >&2
  exit 2
fi
app=$1
dmg=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
ditto "$app" "$stage/$(basename "$app")"
ln -s /Applications "$stage/Applications"
rm -f "$dmg"
hdiutil create -volname Tessera -srcfolder "$stage" -fs HFS+ -format UDZO -ov "$dmg"
