# Source this file (bash/zsh): `. mock_endpoints/examples/sign-headers.sh`
#
# sign_headers METHOD PATH BODY_FILE [CONTENT_TYPE]
#   prints the headers of the request signed with RFC 9421 (Host, Content-Type, Content-Digest,
#   Signature-Input, Signature), one per line, for `curl -H @file`.
#   Send BODY_FILE unchanged with `--data-binary @BODY_FILE`: the signature covers its digest.
#   $TARGET  the server the request goes to (default $MOCK, else http://127.0.0.1:8001)
#   $SIGN_AS the party whose key signs (default adapter; province-app, ministry, integrator for
#            the adapter API)
#   $KEYS    the key folder (default .lienthong/keys)
# Fails loudly: a missing body file or key, or a signer error, is reported on stderr and the
# function returns non-zero (it runs in a subshell with `set -eo pipefail`).
sign_headers() (
  set -eo pipefail
  local target="${TARGET:-${MOCK:-http://127.0.0.1:8001}}" keys="${KEYS:-.lienthong/keys}"
  local party="${SIGN_AS:-adapter}"
  { printf '%s %s HTTP/1.1\r\nHost: %s\r\n' "$1" "$2" "${target#http://}"
    if [ -n "${4:-}" ]; then printf 'Content-Type: %s\r\n' "$4"; fi
    printf '\r\n'
    cat "$3"; } |
    lienthong sign http --key "$keys/$party/key.pem" --cert "$keys/$party/cert.pem" |
    sed -n '2,/^\r*$/p' | tr -d '\r' | sed '/^$/d'
)
