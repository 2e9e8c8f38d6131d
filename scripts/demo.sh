#!/usr/bin/env bash
# make demo: build a ledger from the bundled sample practice, checkpoint it, verify it, and
# write a signed retention report and check it. Everything lands in ledger-data/demo/ (git-ignored).
# Outside evidence: a local witness (`caseledger witness serve`) and, when python3 and
# `openssl ts` are present, a local test TSA (scripts/test-tsa.py) are started on loopback,
# configured for the ledger, and stopped when the script exits (whatever the exit).
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

# The services this script starts, stopped on exit (by their process ids).
PIDS=()
stop_services() {
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
trap stop_services EXIT
# Waits (at most 20 s) until FILE has N lines: a service printed what it listens on.
wait_lines() {
  for _ in $(seq 200); do
    [ "$(wc -l < "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "demo: $1: the service did not start" >&2
  return 1
}
echo "-- a local witness (in a real practice: run by a board or a partner practice):"
W="$DEMO/witness"
mkdir -p "$W"
"$BIN" keys generate --out "$W/witness.pem"
"$BIN" keys export --ledger "$L" --format note > "$W/logs.txt"
"$BIN" witness serve --addr 127.0.0.1:0 --key "$W/witness.pem" --name witness.demo.example \
  --logs "$W/logs.txt" --state "$W/state" > "$W/serve.out" 2> "$W/serve.err" &
PIDS+=($!)
wait_lines "$W/serve.out" 2
W_URL=$(sed -n 1p "$W/serve.out")
W_KEY=$(sed -n 2p "$W/serve.out")
"$BIN" witness add --ledger "$L" --keys "$K" demo-witness "$W_URL" "$W_KEY"
TSA_CHAIN=
if command -v python3 >/dev/null && openssl ts -help >/dev/null 2>&1; then
  echo "-- a local test TSA (in a real practice: a public TSA, e.g. https://freetsa.org/tsr):"
  T="$DEMO/tsa"
  mkdir -p "$T"
  python3 scripts/test-tsa.py "$T" > "$T/url.out" 2> "$T/tsa.err" &
  PIDS+=($!)
  wait_lines "$T/url.out" 1
  TSA_CHAIN="$T/ca.pem"
  "$BIN" timestamp config set --ledger "$L" --keys "$K" --tsa "$(sed -n 1p "$T/url.out")" --tsa-chain "$TSA_CHAIN"
else
  echo "-- no python3 or no 'openssl ts': the local test TSA is skipped (time-stamps are not shown)"
fi
echo "-- import (the write sends its seal to the witness and the TSA once it is durable):"
"$BIN" import --ledger "$L" --keys "$K" "$SAMPLE"
echo "-- lawful destruction of what retention allows today, citing the witness's newest cosignature"
echo "   (the sample is imported history: the report can say 'lawful on claimed dates only', never 'attested'):"
"$BIN" destroy --ledger "$L" --keys "$K" --all-eligible --author custodian-01 \
  --reason "retention policy RP-5" --yes --cite-witness demo-witness
"$BIN" checkpoint --ledger "$L" --keys "$K" > "$DEMO/checkpoint.txt"
echo "-- checkpoint (keep a copy outside this machine; verify --trusted checks against it):"
cat "$DEMO/checkpoint.txt"
"$BIN" keys export --ledger "$L" --format note > "$DEMO/ledger.vkey"
echo "-- outside evidence (status: the seal, each witness's lag, the last time-stamp):"
"$BIN" status --ledger "$L" --keys "$K"
echo "-- verify, counting the witness's cosignature (the auditor's own list of witness keys):"
"$BIN" verify --ledger "$L" --key "$(cat "$DEMO/ledger.vkey")" --trusted "$DEMO/checkpoint.txt" \
  --witness "$W_KEY" --quorum 1
if [ -n "$TSA_CHAIN" ]; then
  echo "-- the time-stamp tokens, offline, against the TSA root the relying party trusts:"
  "$BIN" timestamp verify --ledger "$L" --tsa-chain "$TSA_CHAIN"
fi
AS_OF=$(date -u +%F)
# The report's time policy: the auditor's witness key (and TSA root), never the practice's list.
"$BIN" report retention --ledger "$L" --as-of "$AS_OF" --signing-key "$DEMO/report-signing.pem" --generate-key \
  --ledger-key "$DEMO/ledger.vkey" --trusted "$DEMO/checkpoint.txt" --out "$DEMO/report" \
  --witness "$W_KEY" --quorum 1 ${TSA_CHAIN:+--tsa-chain "$TSA_CHAIN"}
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
Witness:      $W   (its key, state and the log key it accepts; stopped now)
Keys:         $K   (private keys 0600, the content key and its recovery kit: keep the kit offsite)
Report:       $R/report.html (open in a browser), report.json, report.csv, manifest.sha256 (signed; covers every file)
MSG
