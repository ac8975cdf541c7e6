package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Delivery states.
const (
	DeliveryPending = "pending"
	DeliveryDone    = "done"
	DeliveryFailed  = "failed"
	DeliveryIgnored = "ignored"
)

// Delivery is one accepted webhook delivery, kept so that it is processed
// exactly once even across restarts, and listed by `slipway events`.
type Delivery struct {
	ID         int64       `json:"id"`
	Provider   string      `json:"provider"`
	Receiver   string      `json:"receiver"`
	DeliveryID string      `json:"deliveryId"`
	Event      string      `json:"event,omitempty"`
	ReceivedAt time.Time   `json:"receivedAt"`
	Header     http.Header `json:"-"`
	Body       []byte      `json:"-"`
	// Events is the delivery's normalised events as JSON, written by the
	// receiver and read back by whoever processes the delivery.
	Events      []byte    `json:"-"`
	State       string    `json:"state"`
	Outcome     string    `json:"outcome,omitempty"`
	ProcessedAt time.Time `json:"processedAt,omitzero"`
}

// InsertDelivery stores a new pending delivery and sets d.ID. If the same
// provider, receiver and delivery ID was stored before, it stores nothing
// and reports duplicate, with d.ID set to the earlier row.
func (s *Store) InsertDelivery(ctx context.Context, d *Delivery) (duplicate bool, err error) {
	if d.Provider == "" || d.Receiver == "" || d.DeliveryID == "" {
		return false, errors.New("insert delivery: provider, receiver and delivery id are required")
	}
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = time.Now()
	}
	hdr, err := json.Marshal(d.Header)
	if err != nil {
		return false, fmt.Errorf("insert delivery %s: %w", d.DeliveryID, err)
	}
	req := insertReq{d: d, header: string(hdr), done: make(chan insertResult, 1)}
	select {
	case s.inserts <- req:
	case <-s.stopBatch:
		return false, errors.New("insert delivery: store closed")
	case <-ctx.Done():
		return false, ctx.Err()
	}
	res := <-req.done // once handed over, the insert finishes either way
	if res.err != nil {
		return false, fmt.Errorf("insert delivery %s: %w", d.DeliveryID, res.err)
	}
	d.ID = res.id
	if !res.duplicate {
		d.State = DeliveryPending
	}
	return res.duplicate, nil
}

type insertReq struct {
	d      *Delivery
	header string
	done   chan insertResult
}

type insertResult struct {
	id        int64
	duplicate bool
	err       error
}

// maxBatch bounds how many deliveries share one transaction.
const maxBatch = 256

// insertBatches is the one goroutine that inserts deliveries. It takes every
// insert that is waiting, writes them in one transaction (one fsync for
// all), and answers each only after the commit: group commit, so the
// webhook handler's 202 still means "on disk".
func (s *Store) insertBatches() {
	defer close(s.batcherDone)
	for {
		var batch []insertReq
		select {
		case <-s.stopBatch:
			return
		case req := <-s.inserts:
			batch = append(batch, req)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case req := <-s.inserts:
				batch = append(batch, req)
			default:
				break more
			}
		}
		results := make([]insertResult, len(batch))
		err := inTx(context.Background(), s.w, func(tx *sql.Tx) error {
			for i, req := range batch {
				results[i] = insertOne(tx, req)
			}
			return nil
		})
		for i, req := range batch {
			if err != nil && results[i].err == nil {
				results[i] = insertResult{err: err}
			}
			req.done <- results[i]
		}
	}
}

func insertOne(tx *sql.Tx, req insertReq) insertResult {
	d := req.d
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	events := string(d.Events)
	if events == "" {
		events = "[]"
	}
	res, err := tx.Exec(`INSERT INTO deliveries
		(provider, receiver, delivery_id, event, received_at, headers, body, events, state)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')
		ON CONFLICT (provider, receiver, delivery_id) DO NOTHING`,
		d.Provider, d.Receiver, d.DeliveryID, d.Event, formatTime(d.ReceivedAt), req.header, body, events)
	if err != nil {
		return insertResult{err: err}
	}
	n, err := res.RowsAffected()
	if err != nil {
		return insertResult{err: err}
	}
	if n == 0 {
		var id int64
		err := tx.QueryRow(`SELECT id FROM deliveries WHERE provider = ? AND receiver = ? AND delivery_id = ?`,
			d.Provider, d.Receiver, d.DeliveryID).Scan(&id)
		return insertResult{id: id, duplicate: true, err: err}
	}
	id, err := res.LastInsertId()
	return insertResult{id: id, err: err}
}

// PendingDeliveries returns up to limit deliveries not processed yet, oldest first.
func (s *Store) PendingDeliveries(ctx context.Context, limit int) ([]Delivery, error) {
	return s.queryDeliveries(ctx, `WHERE state = 'pending' ORDER BY id LIMIT ?`, true, limit)
}

// RecentDeliveries returns the newest deliveries, newest first, without bodies.
func (s *Store) RecentDeliveries(ctx context.Context, limit int) ([]Delivery, error) {
	return s.queryDeliveries(ctx, `ORDER BY received_at DESC, id DESC LIMIT ?`, false, limit)
}

// FinishDelivery records how a delivery ended: done, failed or ignored.
func (s *Store) FinishDelivery(ctx context.Context, id int64, state, outcome string) error {
	switch state {
	case DeliveryDone, DeliveryFailed, DeliveryIgnored:
	default:
		return fmt.Errorf("finish delivery %d: bad state %q", id, state)
	}
	outcome, _, _ = strings.Cut(outcome, "\n")
	_, err := s.w.ExecContext(ctx, `UPDATE deliveries SET state = ?, outcome = ?, processed_at = ? WHERE id = ?`,
		state, outcome, formatTime(time.Now()), id)
	if err != nil {
		return fmt.Errorf("finish delivery %d: %w", id, err)
	}
	return nil
}

func (s *Store) queryDeliveries(ctx context.Context, tail string, withBody bool, limit int) ([]Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	body := "x'', '[]'"
	if withBody {
		body = "body, events"
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, provider, receiver, delivery_id, event, received_at, headers, `+body+`,
		state, outcome, processed_at FROM deliveries `+tail, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var received string
		var processed sql.NullString
		var hdr, events string
		if err := rows.Scan(&d.ID, &d.Provider, &d.Receiver, &d.DeliveryID, &d.Event, &received, &hdr, &d.Body, &events,
			&d.State, &d.Outcome, &processed); err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		if d.ReceivedAt, err = parseTime(sql.NullString{String: received, Valid: true}); err != nil {
			return nil, err
		}
		if d.ProcessedAt, err = parseTime(processed); err != nil {
			return nil, err
		}
		d.Events = []byte(events)
		if err := json.Unmarshal([]byte(hdr), &d.Header); err != nil {
			return nil, fmt.Errorf("list deliveries: headers of %d: %w", d.ID, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
