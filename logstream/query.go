package logstream

import (
	"fmt"
	"time"
)

// What the hub's logs service takes and answers (docs/PROTOCOL.md): its
// function query reads the window of records the hub keeps.

// Service is the hub's logs service; FnQuery its one function.
const (
	Service = "logs"
	FnQuery = "query"
)

// Stream is the JetStream stream that holds the window of records.
const Stream = "DPC_LOGS"

// Bounds of one query.
const (
	// MaxLimit is the most records one answer holds.
	MaxLimit = 1000
	// MaxScan is the most records of the window one query reads: a query
	// whose filters match few of them answers More and a cursor to go on
	// from, instead of reading the whole window at once.
	MaxScan = 20000
	// MaxWait is the longest a follow query waits for new records.
	MaxWait = 10 * time.Second
)

// Query asks for records. Without After or Since it answers the latest
// Limit records that match (of the last MaxScan); with After (a cursor
// from an earlier answer) or Since, the first Limit records from there.
type Query struct {
	// Kind, Name and Instance narrow the records to a kind of process
	// (hub, service, agent, provisioner), a name (a service's) and one
	// instance; "" matches all.
	Kind     string `json:"kind,omitempty"`
	Name     string `json:"name,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Level is the lowest level shown (debug, info, warn, error; "": all).
	Level string `json:"level,omitempty"`
	// Since keeps records the hub stored at or after this time.
	Since time.Time `json:"since,omitzero"`
	// After keeps records after this cursor (a Page's Cursor).
	After uint64 `json:"after,omitempty"`
	// Trace keeps the records whose trace_id attribute is this.
	Trace string `json:"trace,omitempty"`
	// Limit is the most records to answer: 1 to MaxLimit (0: 100).
	Limit int `json:"limit,omitempty"`
	// WaitMS is how long to wait for a new matching record when there is
	// none yet (a follower's long poll, with After its cursor), in
	// milliseconds: at most MaxWait.
	WaitMS int64 `json:"wait_ms,omitempty"`
}

// Page is one answer: records in time order, and where to go on from.
type Page struct {
	Records []Record `json:"records"`
	// Cursor is the last record of the window this answer looked at: the
	// After of the next query to read what follows.
	Cursor uint64 `json:"cursor"`
	// More: there are records after Cursor already (the answer stopped at
	// Limit or MaxScan); ask again at once.
	More bool `json:"more,omitempty"`
}

// DefaultLimit is a query's Limit when it gives none.
const DefaultLimit = 100

// Check reports what is wrong with q, naming the field.
func (q Query) Check() error {
	if q.Kind != "" {
		known := false
		for _, k := range Kinds {
			known = known || q.Kind == k
		}
		if !known {
			return fmt.Errorf("kind %q: want hub, service, agent or provisioner", q.Kind)
		}
	}
	if q.Name != "" && !ValidToken(q.Name) {
		return fmt.Errorf("name %q: 1 to 64 letters, digits, '-' and '_'", q.Name)
	}
	if q.Instance != "" && !ValidToken(q.Instance) {
		return fmt.Errorf("instance %q: 1 to 64 letters, digits, '-' and '_'", q.Instance)
	}
	if q.Level != "" {
		if _, err := ParseLevel(q.Level); err != nil {
			return err
		}
	}
	if len(q.Trace) > 64 {
		return fmt.Errorf("trace %q: at most 64 characters (a W3C trace id is 32 hex digits)", q.Trace)
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return fmt.Errorf("limit %d: from 1 to %d (0: %d)", q.Limit, MaxLimit, DefaultLimit)
	}
	if q.WaitMS < 0 || time.Duration(q.WaitMS)*time.Millisecond > MaxWait {
		return fmt.Errorf("wait_ms %d: from 0 to %d", q.WaitMS, MaxWait.Milliseconds())
	}
	return nil
}

// Filter is the subject filter of q's kind, name and instance.
func (q Query) Filter() string {
	tok := func(s string) string {
		if s == "" {
			return "*"
		}
		return s
	}
	return Subject(tok(q.Kind), tok(q.Name), tok(q.Instance))
}
