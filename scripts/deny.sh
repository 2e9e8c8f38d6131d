#!/usr/bin/env bash
# make deny: cargo-deny's licence, ban, source and advisory checks (deny.toml), offline.
#
# The advisories come from the RustSec snapshot beside the repo (../shared/advisory-db,
# read-only in CI). cargo-deny reads a database only as a git checkout at
# <db-path>/<name>-<hash of the URL>, so the snapshot is copied there, under target/, and
# committed once in a throwaway repository. Nothing is written outside target/.
#
# Usage: scripts/deny.sh [SNAPSHOT_DIR]   (CARGO overrides the cargo command)
set -euo pipefail
cd "$(dirname "$0")/.."

snapshot=${1:-../shared/advisory-db}
cargo=${CARGO:-cargo}
work=target/deny

if ! "$cargo" deny --version >/dev/null 2>&1; then
  echo "make deny: cargo-deny is not installed. Install it once (about 7 minutes on 2 cores):" >&2
  echo "  cargo install --locked cargo-deny" >&2
  echo "(.ci/run does this on CI machines.)" >&2
  exit 2
fi
if [ ! -f "$snapshot/SNAPSHOT" ] || [ ! -d "$snapshot/crates" ]; then
  echo "make deny: no RustSec snapshot at $snapshot (want SNAPSHOT and crates/ there;" \
    "CI lays shared/ beside the repo clone; or run: make deny ADVISORY_DB=<dir>)" >&2
  exit 2
fi

# Where does cargo-deny expect the checkout for deny.toml's db-urls? The directory name
# embeds a hash of the URL in a scheme private to cargo-deny (it has changed between
# releases), so ask cargo-deny itself: its debug log names the path it opens. This run fails
# when the checkout is missing; only the logged path matters here.
db_dir=$("$cargo" deny --offline --log-level debug check advisories 2>&1 >/dev/null |
  sed -n "s/.*Opening advisory database at '\(.*\)'.*/\1/p" | head -n 1) || true
case "$db_dir" in
  "$work"/* | "$PWD/$work"/*) ;;
  "")
    echo "make deny: $("$cargo" deny --version) did not say where it opens the advisory" \
      "database (its debug log changed?); see scripts/deny.sh" >&2
    exit 2
    ;;
  *)
    echo "make deny: cargo-deny wants the advisory database at $db_dir, outside $work/;" \
      "check db-path in deny.toml" >&2
    exit 2
    ;;
esac

# Rebuilt on every run (about a second): the checkout always matches the snapshot, and its
# HEAD is fresh, so cargo-deny's staleness limit (90 days since the last fetch) measures this
# copy, not the snapshot. The snapshot's own date is printed below and recorded as the commit
# date.
rm -rf "$db_dir"
mkdir -p "$db_dir"
cp -R "$snapshot"/. "$db_dir"/
chmod -R u+w "$db_dir" # the shared copy is read-only; keep ours removable
snap_line=$(head -n 1 "$snapshot/SNAPSHOT")
snap_date=$(sed -n 's/.*(\([0-9]\{4\}-[0-9][0-9]-[0-9][0-9]\)).*/\1/p' "$snapshot/SNAPSHOT" | head -n 1)
(
  # A throwaway repository: no hooks, signing or identity from the caller's git setup.
  unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
  export GIT_AUTHOR_NAME=caseledger-deny GIT_AUTHOR_EMAIL=deny@invalid
  export GIT_COMMITTER_NAME=caseledger-deny GIT_COMMITTER_EMAIL=deny@invalid
  if [ -n "$snap_date" ]; then
    export GIT_AUTHOR_DATE="${snap_date}T00:00:00Z" GIT_COMMITTER_DATE="${snap_date}T00:00:00Z"
  fi
  cd "$db_dir"
  git init -q .
  git symbolic-ref HEAD refs/heads/main
  git add -A
  git -c commit.gpgsign=false -c core.hooksPath=/dev/null commit -q -m "$snap_line"
)

# cargo-deny reads `cargo metadata` for every platform, offline: the packages of other
# platforms (windows-sys, ...) that no build here downloads must be in the local registry
# cache first. `cargo fetch` downloads them from the package registry (all targets, as the
# lock file pins them); on a machine that has them it does nothing.
"$cargo" fetch --locked --quiet
echo "make deny: $("$cargo" deny --version), advisories from: $snap_line"
"$cargo" deny --offline check
