#!/bin/sh
# Proof that the role's DNS steps work against the sandbox's BIND, unchanged:
#   community.general.nsupdate creates a TXT record (TSIG, hmac-sha256, server 127.0.0.2:53),
#   community.dns.wait_for_txt sees it on every authoritative nameserver, then the record
#   is removed and wait_for_txt sees it gone.
# wait_for_txt resolves the zone's NS names (ns1.<zone>) through the SYSTEM resolver
# (/etc/resolv.conf), whatever its 'server' option says; 'sandbox exec' runs this script
# in a private mount namespace whose /etc/resolv.conf lists our BIND first.
#
# Usage: tests/emulator/sandbox exec -- tests/emulator/dns-proof.sh [NAME [ZONE]]
set -eu
ENV_FILE=${RCL_SANDBOX_ENV:?run me through: sandbox exec -- dns-proof.sh}
NAME=${1:-_acme-challenge.proof}
ZONE=${2:-example.test}
VALUE="proof-$(date +%s)-$$"
PY=$(command -v python3)
ANSIBLE_PYTHON_INTERPRETER=${ANSIBLE_PYTHON_INTERPRETER:-$PY}
export ANSIBLE_PYTHON_INTERPRETER

j() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$ENV_FILE" "$1"; }
SERVER=$(j dns_server)
PORT=$(j dns_port)
KEYS="key_name=$(j tsig_key_name) key_secret=$(j tsig_key_secret) key_algorithm=$(j tsig_algorithm)"

on_localhost() { ansible localhost -i localhost, -c local "$@"; }
waiter() {
    printf '{"records": [{"name": "%s.%s", "values": %s, "mode": "%s"}], "server": ["%s"], "timeout": 30, "query_timeout": 3}' \
        "$NAME" "$ZONE" "$1" "$2" "$SERVER"
}

echo "== nsupdate: add TXT $NAME.$ZONE = $VALUE"
on_localhost -m community.general.nsupdate \
    -a "server=$SERVER port=$PORT $KEYS zone=$ZONE record=$NAME type=TXT ttl=60 value=$VALUE state=present"
echo "== wait_for_txt: present"
on_localhost -m community.dns.wait_for_txt -a "$(waiter "[\"$VALUE\"]" equals)"
echo "== nsupdate: remove"
on_localhost -m community.general.nsupdate \
    -a "server=$SERVER port=$PORT $KEYS zone=$ZONE record=$NAME type=TXT state=absent"
echo "== wait_for_txt: gone"
on_localhost -m community.dns.wait_for_txt -a "$(waiter "[]" superset)"
echo "== DNS proof OK"
