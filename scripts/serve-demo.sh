#!/usr/bin/env bash
# make serve-demo: a demo ledger of the bundled sample practice served over HTTP on loopback
# (`caseledger serve`), with one client token allowed to append as lic-01 and to read.
# Everything lands in ledger-data/demo-serve/ (git-ignored); ctrl-c stops the server.
set -euo pipefail
BIN=${1:-target/release/caseledger}
DEMO=${2:-ledger-data/demo-serve}
SAMPLE=ledger-data/sample/practice.jsonl

[ -x "$BIN" ] || { echo "serve-demo: $BIN is missing; run 'make build'" >&2; exit 2; }
rm -rf "$DEMO"
mkdir -p "$DEMO"
L="$DEMO/ledger"
K="$DEMO/keys"
"$BIN" init "$L" --keys "$K" --origin demo.caseledger.example/served-practice --private-practice
"$BIN" import --ledger "$L" --keys "$K" "$SAMPLE"
{ read -r TOKEN; read -r HASH; } < <("$BIN" serve --new-token 2>/dev/null)
cat > "$DEMO/serve.toml" <<TOML
listen = "127.0.0.1:8714"
[ledgers.sample]
dir = "ledger"
keys = "keys"
snapshots = "snapshots"
[[clients]]
name = "demo-ehr"
token_sha256 = "$HASH"
scopes = ["append", "read-status", "read-proofs", "admin"]
sign_as = ["lic-01"]
TOML
chmod 600 "$DEMO/serve.toml"
cat <<MSG

Serving $L as "sample" on http://127.0.0.1:8714 (ctrl-c stops it). Try, in another shell:

  T=$TOKEN
  curl -s -H "Authorization: Bearer \$T" -H 'Content-Type: application/json' \\
    -d '{"id":"ehr-note-1","record":"C-DEMO","kind":"record_opened","occurred_on":"$(date -u +%F)","author":"lic-01"}' \\
    http://127.0.0.1:8714/v1/ledgers/sample/events
  curl -s -H "Authorization: Bearer \$T" http://127.0.0.1:8714/v1/ledgers/sample/records/C-DEMO/status
  curl -s -H "Authorization: Bearer \$T" http://127.0.0.1:8714/v1/ledgers/sample/checkpoint

MSG
exec "$BIN" serve --config "$DEMO/serve.toml"
