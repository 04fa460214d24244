#!/usr/bin/env bash
# An operator's daily rebalancing loop against a live `sendpool serve`:
# for each active server, read its last-24-hour bounce rate from /stats and
# its sending_limit from the server, then raise the limit by 10 % under 1 %
# bounces or cut it by 25 % over 3 %, and PATCH it back.
#
# usage: TOKEN=<admin token> rebalance_loop.sh http://127.0.0.1:8025
set -euo pipefail

base="${1:?usage: TOKEN=... $0 BASE_URL}"
: "${TOKEN:?set TOKEN to an admin token}"
servers="$base/api/v1/admin/sending-servers"

get() {
    curl -sS --fail-with-body -H "Authorization: Bearer $TOKEN" "$1"
}

for uid in $(get "$servers" | jq -r '.[] | select(.status == "active") | .uid'); do
    rate=$(get "$servers/$uid/stats" | jq -r '.bounce_rate_last_24h')
    server=$(get "$servers/$uid")
    name=$(jq -r '.name' <<<"$server")
    limit=$(jq -r '.sending_limit' <<<"$server")
    new=$(jq -n --argjson rate "$rate" --argjson limit "$limit" '
        if $rate < 0.01 then ($limit * 1.1 | round)
        elif $rate > 0.03 then ($limit * 0.75 | floor)
        else $limit end')
    if [ "$new" -ne "$limit" ]; then
        # Plain `curl -d` labels the body as form data; the API reads it as JSON anyway.
        curl -sS --fail-with-body -o /dev/null -X PATCH -H "Authorization: Bearer $TOKEN" \
            -d "{\"sending_limit\": $new}" "$servers/$uid"
        echo "$name: bounce rate $rate, sending_limit $limit -> $new"
    else
        echo "$name: bounce rate $rate, sending_limit $limit kept"
    fi
done
