#!/usr/bin/env bash
# Fetches GitHub's published OpenAPI description and webhook examples from
# npm into the Slipway cache, for the forge contract tests and the webhook
# example tests (`make octokit`; `make unit` runs it):
#
#   ${SLIPWAY_CACHE:-$HOME/.cache/slipway}/npm/octokit-openapi-<version>/
#   ${SLIPWAY_CACHE:-$HOME/.cache/slipway}/npm/octokit-webhooks-examples-<version>/
#
# Each holds the package's files as the tarball has them (package.json, …);
# of @octokit/openapi only the api.github.com description is kept
# (generated/api.github.com.json, 13 MB; the whole package unpacks to
# 385 MB). Idempotent: a package already in place is skipped. A package is
# unpacked in a temporary directory beside its place and published by
# rename, so a half-finished download is never used.
set -euo pipefail

OPENAPI_VERSION=23.0.2
EXAMPLES_VERSION=7.6.1

cache="${SLIPWAY_CACHE:-$HOME/.cache/slipway}/npm"
mkdir -p "$cache"

tmps=()
cleanup() { if [ ${#tmps[@]} -gt 0 ]; then rm -rf "${tmps[@]}"; fi; }
trap cleanup EXIT

# fetch NAME VERSION DIR [FILE…]: npm pack NAME@VERSION and unpack it (or
# only the FILEs, paths inside the package) as $cache/DIR.
fetch() {
	local name=$1 version=$2 dir=$3
	shift 3
	local dest="$cache/$dir"
	if [ -f "$dest/package.json" ]; then
		return 0
	fi
	command -v npm >/dev/null || { echo "octokit.sh: npm is needed to fetch $name@$version" >&2; exit 1; }
	local members=() f
	for f in "$@"; do members+=("package/$f"); done
	local tmp
	tmp=$(mktemp -d "$cache/.tmp-$dir.XXXXXX")
	tmps+=("$tmp")
	local start=$SECONDS
	(cd "$tmp" && npm pack --silent "$name@$version" >pack.out)
	local tgz
	tgz="$tmp/$(tail -n1 "$tmp/pack.out")"
	mkdir "$tmp/unpacked"
	tar -xzf "$tgz" -C "$tmp/unpacked" --strip-components=1 "${members[@]}"
	[ -f "$tmp/unpacked/package.json" ] || { echo "octokit.sh: $name@$version: no package.json in the tarball" >&2; exit 1; }
	# Publish: a leftover without package.json is not a publication; one
	# published meanwhile by another run wins.
	if [ -e "$dest" ] && [ ! -f "$dest/package.json" ]; then
		rm -rf "$dest"
	fi
	if ! mv -T "$tmp/unpacked" "$dest" 2>/dev/null && [ ! -f "$dest/package.json" ]; then
		echo "octokit.sh: could not publish $dest" >&2
		exit 1
	fi
	echo "octokit.sh: $name@$version → $dest ($(du -h "$tgz" | cut -f1) tarball, $((SECONDS - start)) s)"
}

fetch @octokit/openapi "$OPENAPI_VERSION" "octokit-openapi-$OPENAPI_VERSION" \
	package.json LICENSE README.md generated/README.md generated/api.github.com.json
fetch @octokit/webhooks-examples "$EXAMPLES_VERSION" "octokit-webhooks-examples-$EXAMPLES_VERSION"
