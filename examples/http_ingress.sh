#!/bin/sh
# Send one case.opened event to the hub over HTTP (contract section 8) with nothing but
# openssl, base64 and curl: no SDK, no Kafka client.
#
#     sh examples/http_ingress.sh keys/zs-aic.key.pem keys/zs-aic.pub.pem [HUB_URL]
#
# HUB_URL defaults to the workbench of `make demo` (http://127.0.0.1:8470). Prints the
# hub-signed receipt (a DSSE envelope; its payload is base64 JSON with "status").
set -eu
key=$1 pub=$2 hub=${3:-http://127.0.0.1:8470}
agency=zs-aic case=AIC-HTTP-$(date +%s)
work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT

# 1. The CloudEvents 1.0 event (contract section 2); `id` a fresh UUID, `time` now.
cat > "$work/event.json" <<JSON
{"specversion":"1.0","id":"$(cat /proc/sys/kernel/random/uuid)","source":"urn:linkage:agency:$agency","type":"cn.linkage.case.opened.v1","subject":"$case","time":"$(date -u +%Y-%m-%dT%H:%M:%SZ)","datacontenttype":"application/json","data":{"offence":"trademark_counterfeiting","opened_at":"$(date -u +%Y-%m-%dT%H:%M:%SZ)","summary":"灯博会现场查获假冒注册商标灯具 320 件","parties":[{"kind":"organization","id_type":"USCC","id_number":"91442000MA4W1AB23X","name":"中山市古镇某灯饰有限公司"}]}}
JSON
# 2. DSSE: Ed25519 over PAE = "DSSEv1 <len type> <type> <len payload> <payload>".
type=application/cloudevents+json
printf 'DSSEv1 %s %s %s ' "${#type}" "$type" "$(wc -c < "$work/event.json" | tr -d ' ')" > "$work/pae"
cat "$work/event.json" >> "$work/pae"
openssl pkeyutl -sign -inkey "$key" -rawin -in "$work/pae" -out "$work/sig"
keyid=$(openssl pkey -pubin -in "$pub" -outform DER | tail -c 32 | sha256sum | cut -d' ' -f1)
printf '{"payloadType":"%s","payload":"%s","signatures":[{"keyid":"%s","sig":"%s"}]}' \
  "$type" "$(base64 -w0 < "$work/event.json")" "$keyid" "$(base64 -w0 < "$work/sig")" \
  > "$work/envelope.json"
# 3. POST it: 200 with the signed receipt, or 202 {"event_id"} (then GET /api/v1/receipts/ID).
curl -sS --fail-with-body -H 'Content-Type: application/json' \
  --data-binary @"$work/envelope.json" "$hub/api/v1/ingress/$agency"
echo
