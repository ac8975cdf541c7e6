package webhooks

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"net/http"
	"strings"
)

// A verifier checks that a delivery comes from the holder of the receiver's
// secret: nil, or a 401 (credential missing) / 403 (credential wrong) refusal.
type verifier func(r *http.Request, body, secret []byte) error

// hmacHeader verifies "prefix<hex HMAC(secret, body)>" in the first of the
// given headers that is present (GitHub, Gitea, CODING style).
func hmacHeader(newHash func() hash.Hash, prefix string, headers ...string) verifier {
	return func(r *http.Request, body, secret []byte) error {
		var name, got string
		for _, h := range headers {
			if v := r.Header.Get(h); v != "" {
				name, got = h, v
				break
			}
		}
		if got == "" {
			return refuse(http.StatusUnauthorized, "missing %s header", headers[0])
		}
		hexSig, ok := strings.CutPrefix(got, prefix)
		if !ok && name == headers[0] {
			return refuse(http.StatusForbidden, "%s: want %q prefix", name, prefix)
		}
		sig, err := hex.DecodeString(hexSig)
		if err != nil {
			return refuse(http.StatusForbidden, "%s: not hex", name)
		}
		mac := hmac.New(newHash, secret)
		mac.Write(body)
		if !hmac.Equal(sig, mac.Sum(nil)) {
			return refuse(http.StatusForbidden, "%s does not match the body", name)
		}
		return nil
	}
}

// githubSignature verifies X-Hub-Signature-256 (GitHub, GHCR package events).
var githubSignature = hmacHeader(sha256.New, "sha256=", "X-Hub-Signature-256")

// giteaSignature verifies X-Hub-Signature-256, or Gitea's own bare-hex
// X-Gitea-Signature when only that one is sent (same HMAC-SHA256).
var giteaSignature = hmacHeader(sha256.New, "sha256=", "X-Hub-Signature-256", "X-Gitea-Signature")

// codingSignature verifies X-Coding-Signature: sha1=<hex HMAC-SHA1>.
var codingSignature = hmacHeader(sha1.New, "sha1=", "X-Coding-Signature")

// headerToken verifies that header equals prefix+secret (GitLab's
// X-Gitlab-Token, Harbor's and distribution's Authorization).
func headerToken(header, prefix string) verifier {
	return func(r *http.Request, _ []byte, secret []byte) error {
		got := r.Header.Get(header)
		if got == "" {
			return refuse(http.StatusUnauthorized, "missing %s header", header)
		}
		if !tokenEqual(got, prefix+string(secret)) {
			return refuse(http.StatusForbidden, "wrong %s", header)
		}
		return nil
	}
}

// queryToken verifies ?token=<secret> for registries that cannot sign or set
// headers (Docker Hub, Quay): the URL itself is the credential.
func queryToken(r *http.Request, _ []byte, secret []byte) error {
	got := r.URL.Query().Get("token")
	if got == "" {
		return refuse(http.StatusUnauthorized, "missing token query parameter")
	}
	if !tokenEqual(got, string(secret)) {
		return refuse(http.StatusForbidden, "wrong token")
	}
	return nil
}

// tokenEqual compares in constant time, also hiding the secret's length.
func tokenEqual(got, want string) bool {
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
