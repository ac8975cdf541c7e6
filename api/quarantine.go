package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/slipwaycd/slipway/store"
)

// QuarantineStore lists and lifts image quarantines (store.Store).
type QuarantineStore interface {
	QuarantineList(ctx context.Context) ([]store.QuarantinedImage, error)
	Unquarantine(ctx context.Context, repository, digest string) error
}

// ReleaseQuarantineRequest is the body of POST /api/v1/quarantine/release.
type ReleaseQuarantineRequest struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
}

// listQuarantine serves GET /api/v1/quarantine: the image digests that
// rollbacks took out of service.
func (s *Server) listQuarantine(w http.ResponseWriter, r *http.Request) {
	out := []store.QuarantinedImage{}
	if s.Quarantine != nil {
		got, err := s.Quarantine.QuarantineList(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		out = append(out, got...)
	}
	writeJSON(w, http.StatusOK, out)
}

// releaseQuarantine serves POST /api/v1/quarantine/release: the digest may
// be promoted again.
func (s *Server) releaseQuarantine(w http.ResponseWriter, r *http.Request) {
	var in ReleaseQuarantineRequest
	if !decodeJSON(w, r, &in, false) {
		return
	}
	setAudit(r, in.Repository+"@"+in.Digest, "")
	switch {
	case in.Repository == "":
		writeError(w, http.StatusBadRequest, "repository", "required")
		return
	case in.Digest == "":
		writeError(w, http.StatusBadRequest, "digest", "required")
		return
	case s.Quarantine == nil:
		writeError(w, http.StatusServiceUnavailable, "", "the quarantine is not available")
		return
	}
	err := s.Quarantine.Unquarantine(r.Context(), in.Repository, in.Digest)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "digest", in.Repository+"@"+in.Digest+" is not quarantined")
	case err != nil:
		writeError(w, http.StatusInternalServerError, "", err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
