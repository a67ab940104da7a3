# Source this file (bash/zsh): `. mock_endpoints/examples/sign-headers.sh`
#
# sign_headers METHOD PATH BODY_FILE [CONTENT_TYPE]
#   prints the headers of the request signed as the `adapter` party (RFC 9421: Host,
#   Content-Type, Content-Digest, Signature-Input, Signature), one per line, for `curl -H @file`.
#   Send BODY_FILE unchanged with `--data-binary @BODY_FILE`: the signature covers its digest.
#   Uses $MOCK (default http://127.0.0.1:8001) and $KEYS (default .lienthong/keys).
sign_headers() {
  local mock="${MOCK:-http://127.0.0.1:8001}" keys="${KEYS:-.lienthong/keys}"
  { printf '%s %s HTTP/1.1\r\nHost: %s\r\n' "$1" "$2" "${mock#http://}"
    if [ -n "${4:-}" ]; then printf 'Content-Type: %s\r\n' "$4"; fi
    printf '\r\n'
    cat "$3"; } |
    lienthong sign http --key "$keys/adapter/key.pem" --cert "$keys/adapter/cert.pem" 2>/dev/null |
    sed -n '2,/^\r*$/p' | tr -d '\r' | sed '/^$/d'
}
