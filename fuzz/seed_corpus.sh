#!/usr/bin/env bash
# Builds the starting corpora (fuzz/corpus/ is not committed) from the RFC 4475 torture
# messages, the ordinary messages in fuzz/seeds/ and the regression inputs in
# testdata/sip-malformed/.
#
# sip_parse takes each file as a datagram. sip_framer reads its first byte as the seed of
# the chunk sizes, so each of its seeds is a seed byte followed by a stream: one message,
# two messages back to back, and messages with keepalive CRLFs between them.
set -euo pipefail
cd "$(dirname "$0")"
root=..
parse=corpus/sip_parse
framer=corpus/sip_framer
mkdir -p "$parse" "$framer"
inputs=("$root"/testdata/rfc4475/*.dat seeds/*.sip)
for f in "$root"/testdata/sip-malformed/*; do
    [ -e "$f" ] || continue
    case "$f" in *.md) ;; *) inputs+=("$f") ;; esac
done
for f in "${inputs[@]}"; do
    name=$(basename "$f")
    cp "$f" "$parse/$name"
    { printf '\x07'; cat "$f"; } >"$framer/$name"
    { printf '\x03'; cat "$f" "$f"; } >"$framer/twice-$name"
    { printf '\x0a\r\n\r\n'; cat "$f"; printf '\r\n'; cat "$f"; } >"$framer/keepalive-$name"
done
echo "sip_parse: $(ls "$parse" | wc -l) files, sip_framer: $(ls "$framer" | wc -l) files"
