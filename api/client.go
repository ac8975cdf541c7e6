package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/slipwaycd/slipway/pipeline"
	"github.com/slipwaycd/slipway/store"
)

// Client calls a Slipway server's API.
type Client struct {
	// BaseURL is the server's, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Token is the bearer secret sent with every request; empty sends none.
	Token string
	// HTTP is the client used; nil means http.DefaultClient.
	HTTP *http.Client
}

// APIError is a non-2xx answer.
type APIError struct {
	Status  int
	Message string
	// Field names the request field at fault, when the server said.
	Field string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Field != "" && !strings.Contains(msg, e.Field) {
		msg = e.Field + ": " + msg
	}
	return fmt.Sprintf("%s (HTTP %d)", msg, e.Status)
}

// maxResponse caps the responses the client reads.
const maxResponse = 32 << 20

// Do sends in (unless nil) as JSON to path (which starts with /api/v1 and
// may carry a query) and decodes the answer into out (unless nil). A non-2xx
// answer is an *APIError.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	base := strings.TrimRight(c.BaseURL, "/")
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reaching slipway at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := &APIError{Status: resp.StatusCode}
		var e Error
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			apiErr.Message, apiErr.Field = e.Error, e.Field
		}
		return apiErr
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// IsStatus reports whether err is an *APIError with the status.
func IsStatus(err error, status int) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == status
}

// CreateRelease starts a release order.
func (c *Client) CreateRelease(ctx context.Context, req CreateReleaseRequest) (*pipeline.Execution, error) {
	var ex pipeline.Execution
	if err := c.Do(ctx, http.MethodPost, v1+"/releases", req, &ex); err != nil {
		return nil, err
	}
	return &ex, nil
}

// Release returns one release order, logs included.
func (c *Client) Release(ctx context.Context, id int64) (*pipeline.Execution, error) {
	var ex pipeline.Execution
	if err := c.Do(ctx, http.MethodGet, releasePath(id, ""), nil, &ex); err != nil {
		return nil, err
	}
	return &ex, nil
}

// Releases lists release orders, newest first, without logs.
func (c *Client) Releases(ctx context.Context, f pipeline.Filter) ([]*pipeline.Execution, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("app", f.Application)
	set("pipeline", f.Pipeline)
	set("status", string(f.Status))
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	path := v1 + "/releases"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var list []*pipeline.Execution
	err := c.Do(ctx, http.MethodGet, path, nil, &list)
	return list, err
}

// CancelRelease cancels a release order; it returns the order after.
func (c *Client) CancelRelease(ctx context.Context, id int64, reason string) (*pipeline.Execution, error) {
	return c.act(ctx, releasePath(id, "cancel"), CancelRequest{Reason: reason})
}

// RestartRelease restarts a release order; it returns the order after.
func (c *Client) RestartRelease(ctx context.Context, id int64) (*pipeline.Execution, error) {
	return c.act(ctx, releasePath(id, "restart"), nil)
}

// ApproveRelease approves the manual judgment at stage ("" = the one
// waiting); it returns the order after.
func (c *Client) ApproveRelease(ctx context.Context, id int64, stage, comment string) (*pipeline.Execution, error) {
	return c.act(ctx, releasePath(id, "approve"), JudgeRequest{Stage: stage, Comment: comment})
}

// RejectRelease rejects the manual judgment at stage ("" = the one
// waiting); it returns the order after.
func (c *Client) RejectRelease(ctx context.Context, id int64, stage, comment string) (*pipeline.Execution, error) {
	return c.act(ctx, releasePath(id, "reject"), JudgeRequest{Stage: stage, Comment: comment})
}

func (c *Client) act(ctx context.Context, path string, in any) (*pipeline.Execution, error) {
	var ex pipeline.Execution
	if err := c.Do(ctx, http.MethodPost, path, in, &ex); err != nil {
		return nil, err
	}
	return &ex, nil
}

func releasePath(id int64, action string) string {
	p := v1 + "/releases/" + strconv.FormatInt(id, 10)
	if action != "" {
		p += "/" + action
	}
	return p
}

// Pipelines lists the pipelines of the current config; app "" lists all.
func (c *Client) Pipelines(ctx context.Context, app string) ([]Pipeline, error) {
	path := v1 + "/pipelines"
	if app != "" {
		path += "?app=" + url.QueryEscape(app)
	}
	var list []Pipeline
	err := c.Do(ctx, http.MethodGet, path, nil, &list)
	return list, err
}

// Pipeline returns one pipeline.
func (c *Client) Pipeline(ctx context.Context, app, name string) (*Pipeline, error) {
	var p Pipeline
	path := v1 + "/applications/" + url.PathEscape(app) + "/pipelines/" + url.PathEscape(name)
	if err := c.Do(ctx, http.MethodGet, path, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// CreateToken creates an API token; the secret is in the answer only.
func (c *Client) CreateToken(ctx context.Context, req CreateTokenRequest) (*CreatedToken, error) {
	var out CreatedToken
	if err := c.Do(ctx, http.MethodPost, v1+"/tokens", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Tokens lists the API tokens.
func (c *Client) Tokens(ctx context.Context) ([]store.Token, error) {
	var list []store.Token
	err := c.Do(ctx, http.MethodGet, v1+"/tokens", nil, &list)
	return list, err
}

// DeleteToken deletes an API token.
func (c *Client) DeleteToken(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, v1+"/tokens/"+url.PathEscape(name), nil, nil)
}

// Whoami returns the token the client authenticates with.
func (c *Client) Whoami(ctx context.Context) (*store.Token, error) {
	var t store.Token
	if err := c.Do(ctx, http.MethodGet, v1+"/whoami", nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// AuditLog returns the newest audit records.
func (c *Client) AuditLog(ctx context.Context, limit int) ([]store.AuditRecord, error) {
	var list []store.AuditRecord
	err := c.Do(ctx, http.MethodGet, fmt.Sprintf("%s/audit?limit=%d", v1, limit), nil, &list)
	return list, err
}
