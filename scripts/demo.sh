#!/usr/bin/env bash
# make demo: build a ledger from the bundled sample practice, checkpoint it, verify it, and
# write a signed retention report. Everything lands in ledger-data/demo/ (git-ignored).
set -euo pipefail
BIN=${1:-target/release/caseledger}
DEMO=${2:-ledger-data/demo}
SAMPLE=ledger-data/sample/practice.jsonl

[ -x "$BIN" ] || { echo "demo: $BIN is missing; run 'make build'" >&2; exit 2; }
[ -f "$SAMPLE" ] || { echo "demo: $SAMPLE is missing" >&2; exit 2; }

rm -rf "$DEMO"
mkdir -p "$DEMO"
L="$DEMO/ledger"
echo "== caseledger demo: the sample practice ($(wc -l < "$SAMPLE") events) =="
"$BIN" init "$L" --origin demo.caseledger.example/sample-practice --private-practice
"$BIN" import --ledger "$L" "$SAMPLE"
"$BIN" checkpoint --ledger "$L" > "$DEMO/checkpoint.txt"
echo "-- checkpoint (keep a copy outside this machine; verify --trusted checks against it):"
cat "$DEMO/checkpoint.txt"
"$BIN" keys export --ledger "$L" --format note > "$DEMO/ledger.vkey"
echo "-- verify:"
"$BIN" verify --ledger "$L" --key "$(cat "$DEMO/ledger.vkey")" --trusted "$DEMO/checkpoint.txt"
AS_OF=$(date -u +%F)
"$BIN" report retention --ledger "$L" --as-of "$AS_OF" --key "$DEMO/report-signing.pem" --generate-key --out "$DEMO/report"
R="$DEMO/report"
IDENTITY=$(cut -d' ' -f1 "$R/allowed_signers")
echo "-- checking the report's signatures with the standard tools (the commands above):"
ssh-keygen -Y verify -f "$R/allowed_signers" -I "$IDENTITY" -n caseledger-report -s "$R/report.json.sig" < "$R/report.json"
openssl pkeyutl -verify -pubin -inkey "$R/report-key.pem" -rawin -in "$R/report.json" -sigfile "$R/report.json.ed25519"
cat <<MSG

Demo ledger:  $L   (keys in $L/keys/, mode 0600)
Report:       $R/report.html (open in a browser), report.json, report.csv, signatures beside them
MSG
