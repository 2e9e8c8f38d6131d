#!/usr/bin/env bash
# make demo: build a ledger from the bundled sample practice, checkpoint it, verify it, and
# write a signed retention report and check it. Everything lands in ledger-data/demo/ (git-ignored).
set -euo pipefail
BIN=${1:-target/release/caseledger}
DEMO=${2:-ledger-data/demo}
SAMPLE=ledger-data/sample/practice.jsonl

[ -x "$BIN" ] || { echo "demo: $BIN is missing; run 'make build'" >&2; exit 2; }
[ -f "$SAMPLE" ] || { echo "demo: $SAMPLE is missing" >&2; exit 2; }

rm -rf "$DEMO"
mkdir -p "$DEMO"
L="$DEMO/ledger"
# Private keys live outside the ledger directory; here beside it, under the demo output.
K="$DEMO/keys"
echo "== caseledger demo: the sample practice ($(wc -l < "$SAMPLE") events) =="
"$BIN" init "$L" --keys "$K" --origin demo.caseledger.example/sample-practice --private-practice
"$BIN" import --ledger "$L" --keys "$K" "$SAMPLE"
"$BIN" checkpoint --ledger "$L" --keys "$K" > "$DEMO/checkpoint.txt"
echo "-- checkpoint (keep a copy outside this machine; verify --trusted checks against it):"
cat "$DEMO/checkpoint.txt"
"$BIN" keys export --ledger "$L" --format note > "$DEMO/ledger.vkey"
echo "-- verify:"
"$BIN" verify --ledger "$L" --key "$(cat "$DEMO/ledger.vkey")" --trusted "$DEMO/checkpoint.txt"
AS_OF=$(date -u +%F)
"$BIN" report retention --ledger "$L" --as-of "$AS_OF" --signing-key "$DEMO/report-signing.pem" --generate-key \
  --ledger-key "$DEMO/ledger.vkey" --trusted "$DEMO/checkpoint.txt" --out "$DEMO/report"
R="$DEMO/report"
IDENTITY=$(cut -d' ' -f1 "$R/allowed_signers")
echo "-- checking the whole report (signed manifest, every file) with caseledger and with the standard tools:"
"$BIN" report verify "$R" --key "$DEMO/report-signing.pub"
ssh-keygen -Y verify -f "$R/allowed_signers" -I "$IDENTITY" -n caseledger-report -s "$R/manifest.sha256.sig" < "$R/manifest.sha256"
(cd "$R" && sha256sum -c --strict manifest.sha256)
openssl pkeyutl -verify -pubin -inkey "$R/report-key.pem" -rawin -in "$R/manifest.sha256" -sigfile "$R/manifest.sha256.ed25519"
ssh-keygen -Y verify -f "$R/allowed_signers" -I "$IDENTITY" -n caseledger-report -s "$R/report.json.sig" < "$R/report.json"
openssl pkeyutl -verify -pubin -inkey "$R/report-key.pem" -rawin -in "$R/report.json" -sigfile "$R/report.json.ed25519"
cat <<MSG

Demo ledger:  $L   (mode 0700, files 0600; no key inside it)
Keys:         $K   (private keys 0600, the content key and its recovery kit: keep the kit offsite)
Report:       $R/report.html (open in a browser), report.json, report.csv, manifest.sha256 (signed; covers every file)
MSG
