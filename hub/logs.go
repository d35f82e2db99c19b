package hub

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/dpc-project/dpc/logstream"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Logs in one place: every DPC process publishes its log records on
// dpc.log.<kind>.<name>.<instance> (package logstream); the hub keeps a
// bounded window of them in the DPC_LOGS stream and answers queries of it
// as the omq service logs (owner and devices; the server lets no service,
// agent or provisioner call it, and no role but the owner reach the
// stream itself).
//
// The logs service runs on an omq node of its own whose logger never
// publishes (logstream.LocalOnly), and marks its context with
// logstream.Suppress: what is logged while serving the logs is not a log
// record a follower would then read, which would make another.

// Limits of the window.
const (
	// DefaultMaxLogs is the window's size in bytes.
	DefaultMaxLogs = 64 << 20
	// logsMaxAge is how long a record stays at most.
	logsMaxAge = 7 * 24 * time.Hour
	// logsMaxMsg bounds one stored record: a record logstream publishes is
	// at most logstream.MaxRecord; the rest is room for other publishers'
	// headers.
	logsMaxMsg = logstream.MaxRecord + 1024
	// logsMeanRecord is the record size the per-publisher cap assumes.
	logsMeanRecord = 512
)

// logsPerSubject is how many records one publisher (one instance: one
// subject) keeps at most: an eighth of the window at a typical record
// size, so a chatty instance evicts its own records, not everyone's.
func logsPerSubject(maxLogs int64) int64 {
	return max(1000, maxLogs/8/logsMeanRecord)
}

// logsStream is the DPC_LOGS stream's configuration.
func logsStream(maxLogs int64, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        logstream.Stream,
		Description: "DPC logs: the recent log records of every hub, service, agent and provisioner",
		Subjects:    []string{logstream.SubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
		MaxBytes: maxLogs, MaxAge: logsMaxAge, MaxMsgSize: logsMaxMsg,
		MaxMsgsPerSubject: logsPerSubject(maxLogs),
		Storage:           jetstream.FileStorage, Replicas: replicas,
	}
}

// ensureLogs creates the window, or brings its limits in line with the
// configuration (--max-logs changed).
func (h *Hub) ensureLogs(ctx context.Context) error {
	cfg := logsStream(h.cfg.MaxLogs, h.replicas())
	_, err := h.js.CreateStream(ctx, cfg)
	if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return err
	}
	st, err := h.js.Stream(ctx, logstream.Stream)
	if err != nil {
		return err
	}
	have := st.CachedInfo().Config
	if have.MaxBytes == cfg.MaxBytes && have.MaxMsgsPerSubject == cfg.MaxMsgsPerSubject &&
		have.MaxAge == cfg.MaxAge && have.MaxMsgSize == cfg.MaxMsgSize {
		return nil
	}
	have.MaxBytes, have.MaxMsgsPerSubject, have.MaxAge, have.MaxMsgSize = cfg.MaxBytes, cfg.MaxMsgsPerSubject, cfg.MaxAge, cfg.MaxMsgSize
	_, err = h.js.UpdateStream(ctx, have)
	return err
}

// publishOwnLogs attaches the hub's log handler, if it is a logstream
// one, to the hub's in-process connection.
func (h *Hub) publishOwnLogs() {
	ls := h.cfg.LogStream
	if ls == nil {
		return
	}
	host, _ := os.Hostname()
	// In a cluster each hub has a name of its own (see Start).
	name := h.srv.Config().Name
	src := logstream.Source{Kind: logstream.KindHub, Name: logstream.Token(name), Instance: logstream.NewInstanceID(), Host: host}
	if err := ls.Attach(h.nc, src); err != nil {
		h.log.Warn("the hub's own log records stay on stderr", "err", err)
	}
}

// bindLogs serves the logs service, on an omq node that logs locally only.
func (h *Hub) bindLogs(ctx context.Context) error {
	if h.logsNode == nil {
		node, err := omq.New(h.nc, omq.WithLogger(logstream.LocalOnly(h.log)))
		if err != nil {
			return err
		}
		h.logsNode = node
	}
	_, err := h.logsNode.Bind(ctx, logstream.Service, logsService{h: h}, omq.NoDurable(),
		// Followers each hold a slot for up to logstream.MaxWait.
		omq.Concurrency(64),
		omq.Description("DPC logs: the recent log records of every DPC process; query (owner and devices)"))
	return err
}

type logsService struct{ h *Hub }

// followPause is how long a follower's wait lets new records gather
// before it looks again: a busy window whose records the follower's
// filters mostly skip costs a look per pause, not one per record.
const followPause = 100 * time.Millisecond

// Query answers the records q asks for, in time order, with the cursor to
// go on from; a follower's query (After and WaitMS) waits up to WaitMS
// for a matching record when there is none yet.
func (l logsService) Query(ctx context.Context, q logstream.Query) (logstream.Page, error) {
	ctx = logstream.Suppress(ctx)
	if err := q.Check(); err != nil {
		return logstream.Page{}, omq.Errorf(omq.CodeBadArguments, "%v", err)
	}
	if q.Limit == 0 {
		q.Limit = logstream.DefaultLimit
	}
	st, err := l.h.js.Stream(ctx, logstream.Stream)
	if err != nil {
		return logstream.Page{}, logsError(err)
	}
	if q.WaitMS == 0 {
		return l.scan(ctx, st, q)
	}
	// Subscribe before looking, so that a record stored in between wakes
	// the wait.
	news := make(chan struct{}, 1)
	sub, err := l.h.nc.Subscribe(q.Filter(), func(*nats.Msg) {
		select {
		case news <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return logstream.Page{}, fmt.Errorf("logs: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	deadline := time.NewTimer(time.Duration(q.WaitMS) * time.Millisecond)
	defer deadline.Stop()
	for {
		p, err := l.scan(ctx, st, q)
		if err != nil || len(p.Records) > 0 || p.More {
			return p, err
		}
		q.After = max(q.After, p.Cursor)
		select {
		case <-news:
		case <-deadline.C:
			return p, nil
		case <-ctx.Done():
			return p, nil
		}
		pause := time.NewTimer(followPause)
		select {
		case <-pause.C:
		case <-deadline.C:
			pause.Stop()
			return l.scan(ctx, st, q) // what came in the last moment
		case <-ctx.Done():
			pause.Stop()
			return p, nil
		}
	}
}

// scan reads the window once: from q.After or q.Since the first q.Limit
// matching records, or without either the last q.Limit among the last
// logstream.MaxScan records.
func (l logsService) scan(ctx context.Context, st jetstream.Stream, q logstream.Query) (logstream.Page, error) {
	info, err := st.Info(ctx)
	if err != nil {
		return logstream.Page{}, logsError(err)
	}
	last := info.State.LastSeq
	tail := q.After == 0 && q.Since.IsZero()
	page := logstream.Page{Records: []logstream.Record{}, Cursor: q.After}
	cfg := jetstream.ConsumerConfig{
		Description:   "dpc-hub: logs query",
		FilterSubject: q.Filter(), AckPolicy: jetstream.AckNonePolicy,
		MemoryStorage: true, InactiveThreshold: time.Minute,
	}
	switch {
	case q.After > 0:
		if q.After >= last {
			return page, nil
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, q.After+1
	case !q.Since.IsZero():
		since := q.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	default:
		page.Cursor = last
		if last == 0 {
			return page, nil
		}
		start := uint64(1)
		if last > logstream.MaxScan {
			start = last - logstream.MaxScan + 1
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	cons, err := st.CreateConsumer(ctx, cfg)
	if err != nil {
		return logstream.Page{}, logsError(err)
	}
	defer func() { _ = st.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name) }()
	pending := int(min(cons.CachedInfo().NumPending, logstream.MaxScan))
	var minLevel slog.Level = slog.LevelDebug - 100
	if q.Level != "" {
		minLevel, _ = logstream.ParseLevel(q.Level) // checked
	}
	read := 0
	full := false
	for read < pending && !full {
		batch, err := cons.FetchNoWait(min(pending-read, 256))
		if err != nil {
			return logstream.Page{}, logsError(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			read++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			seq := md.Sequence.Stream
			if full {
				continue // the rest of a batch already asked for
			}
			page.Cursor = max(page.Cursor, seq)
			r, ok := match(m.Data(), q, minLevel)
			if !ok {
				continue
			}
			r.Seq = seq
			page.Records = append(page.Records, r)
			switch {
			case !tail && len(page.Records) == q.Limit:
				full = true
			case tail && len(page.Records) == 2*q.Limit:
				// The latest Limit are wanted: forget the older half.
				page.Records = append(page.Records[:0], page.Records[q.Limit:]...)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return logstream.Page{}, logsError(err)
		}
		if got == 0 {
			break // aged out meanwhile
		}
	}
	if tail && len(page.Records) > q.Limit {
		page.Records = page.Records[len(page.Records)-q.Limit:]
	}
	page.More = full || int(cons.CachedInfo().NumPending) > read
	if !page.More {
		// Everything up to the end was looked at, including what the
		// filter skipped: a follower goes on from the end.
		page.Cursor = max(page.Cursor, last)
	}
	// Hosts' clocks differ a little, and publishers are not in step: the
	// answer is in the records' own time order.
	slices.SortStableFunc(page.Records, func(a, b logstream.Record) int { return a.Time.Compare(b.Time) })
	return page, nil
}

// match decodes a stored record and applies q's level and trace filters.
// A message that is not a record (another publisher's mistake) is skipped.
func match(data []byte, q logstream.Query, minLevel slog.Level) (logstream.Record, bool) {
	var r logstream.Record
	if err := json.Unmarshal(data, &r); err != nil {
		return r, false
	}
	if lvl, err := logstream.ParseLevel(cmp.Or(r.Level, "INFO")); err == nil && lvl < minLevel {
		return r, false
	}
	if q.Trace != "" {
		if id, _ := r.Attrs["trace_id"].(string); id != q.Trace {
			return r, false
		}
	}
	return r, true
}

// logsError gives a JetStream failure the caller can tell from a bad
// query: unavailable (503) when JetStream cannot serve now.
func logsError(err error) error {
	if jetStreamUnavailable(err) {
		return omq.Errorf(omq.CodeUnavailable, "the logs window is unavailable for now, try again: %v", err)
	}
	return fmt.Errorf("logs: %w", err)
}
