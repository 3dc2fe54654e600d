#!/usr/bin/env bash
# Prints, one per line, the forms in which each KEY given must never appear in output: the key,
# base64 of "api:KEY" (the Authorization header), and the part of base64 that depends on the key
# alone at each of the three byte alignments inside longer text, in the standard and URL-safe
# alphabets and URL-encoded. Written with coreutils' base64, independently of runtime/log.c.
# Usage: tests/key_forms.sh KEY... | grep -F -f - FILE
set -eu
core() {   # core ALIGN KEY -> the base64 characters determined by KEY's bytes alone
  local a=$1 key=$2 b64 n end skip keep
  b64=$(printf '%*s%s' "$a" '' "$key" | base64 -w0)
  n=${#key}; end=$((a + n))
  case $a in 0) skip=0 ;; 1) skip=2 ;; 2) skip=3 ;; esac
  keep=$((end / 3 * 4))
  case $((end % 3)) in 1) keep=$((keep + 1)) ;; 2) keep=$((keep + 2)) ;; esac
  printf '%s\n' "${b64:skip:keep-skip}"
}
for key in "$@"; do
  printf '%s\n' "$key"
  printf 'api:%s' "$key" | base64 -w0; echo
  for a in 0 1 2; do
    c=$(core "$a" "$key")
    printf '%s\n' "$c" "$(printf '%s' "$c" | tr '+/' '-_')"
    printf '%s\n' "$c" | sed 's/+/%2B/g; s|/|%2F|g'
    printf '%s\n' "$c" | sed 's/+/%2b/g; s|/|%2f|g'
  done
done | sort -u
