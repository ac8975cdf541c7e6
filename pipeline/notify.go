package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Notice is the JSON body a notification webhook receives.
type Notice struct {
	// Event is starting, succeeded, failed, canceled, rejected, refused or
	// judgment.
	Event       string        `json:"event"`
	ID          int64         `json:"id"`
	Application string        `json:"application"`
	Pipeline    string        `json:"pipeline"`
	Status      Status        `json:"status"`
	Reason      string        `json:"reason,omitempty"`
	Trigger     Trigger       `json:"trigger"`
	Artifacts   []Artifact    `json:"artifacts"`
	Stages      []NoticeStage `json:"stages"`
	At          time.Time     `json:"at"`
}

// NoticeStage is a stage's state in a notice.
type NoticeStage struct {
	ID     string      `json:"id"`
	Status StageStatus `json:"status"`
	Commit string      `json:"commit,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// notify posts the event to the pipeline's notification webhooks that ask
// for it, in the background: a slow receiver never holds up a release.
func (e *Engine) notify(x *Execution, event string) {
	for _, n := range x.Definition.Notifications {
		if len(n.When) > 0 && !slices.Contains(n.When, event) && !(event == string(StatusRejected) && slices.Contains(n.When, string(StatusFailed))) {
			continue
		}
		body := Notice{
			Event: event, ID: x.ID, Application: x.Application, Pipeline: x.Pipeline,
			Status: x.Status, Reason: x.Reason, Trigger: x.Trigger, Artifacts: x.Artifacts,
			At: e.o.Clock.Now().UTC(),
		}
		for _, s := range x.Stages {
			body.Stages = append(body.Stages, NoticeStage{ID: s.ID, Status: s.Status, Commit: s.Outputs.Commit, Error: s.Error})
		}
		url := n.URL
		go func() {
			if err := e.post(url, body); err != nil {
				e.log.Warn("notification not delivered", "id", x.ID, "event", event, "url", url, "err", err)
			}
		}()
	}
}

func (e *Engine) post(url string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "slipway")
	resp, err := e.o.HTTP.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}
