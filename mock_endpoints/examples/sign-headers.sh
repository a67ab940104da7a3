# Source this file (bash/zsh): `. mock_endpoints/examples/sign-headers.sh`
#
# sign_headers METHOD PATH BODY_FILE [CONTENT_TYPE] ['Name: value' ...]
#   prints the headers of the request signed with RFC 9421 (Host, Content-Type, the extra
#   headers, Content-Digest, Signature-Input, Signature), one per line, for `curl -H @file`.
#   Send BODY_FILE unchanged with `--data-binary @BODY_FILE`: the signature covers its digest.
#   Extra headers (after CONTENT_TYPE; pass '' as CONTENT_TYPE when there is no body) are
#   printed and signed: the adapter refuses a request whose X-User-Id, X-Issue or X-Request-Id
#   the signature does not cover (401 unsigned_component), so give them here, not to curl.
#   $TARGET  the server the request goes to (default $MOCK, else http://127.0.0.1:8001)
#   $SIGN_AS the party whose key signs (default adapter; province-app, ministry, integrator for
#            the adapter API)
#   $KEYS    the key folder (default .lienthong/keys)
# On any failure (a missing key, a bad argument, lienthong failing) it says why on stderr,
# prints nothing on stdout and returns non-zero: `sign_headers … > /tmp/h || exit 1`.
sign_headers() {
  if [ "$#" -lt 3 ]; then
    echo "usage: sign_headers METHOD PATH BODY_FILE [CONTENT_TYPE] ['Name: value' ...]" >&2
    return 2
  fi
  local method="$1" path="$2" body="$3" type="${4:-}"
  shift 3
  [ "$#" -gt 0 ] && shift
  local target="${TARGET:-${MOCK:-http://127.0.0.1:8001}}" keys="${KEYS:-.lienthong/keys}"
  local party="${SIGN_AS:-adapter}" header out status
  if [ ! -r "$body" ]; then
    echo "sign_headers: cannot read the body file $body" >&2
    return 1
  fi
  if [ ! -r "$keys/$party/key.pem" ] || [ ! -r "$keys/$party/cert.pem" ]; then
    echo "sign_headers: no key for $party under $keys (run ./scripts/sandbox once)" >&2
    return 1
  fi
  for header in "$@"; do
    case "$header" in
      *:*) ;;
      *) echo "sign_headers: an extra header must be 'Name: value', got: $header" >&2
         return 2 ;;
    esac
  done
  out="$(
    {
      printf '%s %s HTTP/1.1\r\nHost: %s\r\n' "$method" "$path" "${target#http://}"
      if [ -n "$type" ]; then printf 'Content-Type: %s\r\n' "$type"; fi
      for header in "$@"; do printf '%s\r\n' "$header"; done
      printf '\r\n'
      cat "$body"
    } | lienthong sign http --key "$keys/$party/key.pem" --cert "$keys/$party/cert.pem"
  )"
  status=$?
  if [ "$status" -ne 0 ] || [ -z "$out" ]; then
    echo "sign_headers: lienthong sign http failed (exit $status)" >&2
    return 1
  fi
  printf '%s\n' "$out" | sed -n '2,/^\r*$/p' | tr -d '\r' | sed '/^$/d'
}
