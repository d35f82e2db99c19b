package notes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// watchRetry is how long Watch waits before watching again after its
// watcher failed or ended (JetStream unavailable: a cluster electing a
// leader, the connection lost).
const watchRetry = time.Second

// LastChange is the bucket's revision of the latest change of any note
// (0 if none was ever made): what to give Watch to hear every change
// after now.
func (s *Store) LastChange(ctx context.Context) (uint64, error) {
	st, err := s.kv.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("notes: bucket status: %w", err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return 0, fmt.Errorf("notes: bucket status of unexpected type %T", st)
	}
	return bs.StreamInfo().State.LastSeq, nil
}

// Watch calls fn with an Event for each change of a note after the
// bucket's revision after (see LastChange) — a save, or the note's key
// deleted or purged — in the order the bucket made them, until ctx is
// done; then it returns ctx.Err(). fn runs on Watch's goroutine, one
// change at a time: while it runs, changes wait in the watcher's bounded
// buffer, and a watcher that falls too far behind is reset by the NATS
// client (its slow-consumer handling), so a slow fn costs no unbounded
// memory. After a failed or reset watcher, Watch resumes after the last
// change it handled; the bucket keeps only each note's latest metadata,
// so a note saved twice meanwhile is told once, with its latest revision.
// Entries that are not a note's metadata under its key are skipped.
func (s *Store) Watch(ctx context.Context, after uint64, fn func(Event)) error {
	last := after // the bucket revision of the last change handled
	for {
		opts := []jetstream.WatchOpt{jetstream.IncludeHistory()}
		if last > 0 {
			opts = append(opts, jetstream.ResumeFromRevision(last+1))
		}
		err := s.watchOnce(ctx, &last, fn, opts)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.cfg.logger.Warn("notes: watching changes failed; watching again", "err", err, "after_revision", last)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(watchRetry):
		}
	}
}

// watchOnce runs one watcher until it ends or ctx is done.
func (s *Store) watchOnce(ctx context.Context, last *uint64, fn func(Event), opts []jetstream.WatchOpt) error {
	w, err := s.kv.WatchAll(ctx, opts...)
	if err != nil {
		return fmt.Errorf("notes: watch: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("notes: watch: the watcher ended")
			}
			if e == nil { // the end of the values the bucket held at the start
				continue
			}
			if e.Revision() <= *last {
				continue // a resumed watcher's repeat
			}
			*last = e.Revision()
			if ev, err := eventOf(e); err != nil {
				s.cfg.logger.Debug("notes: skipping a change that is not a note's", "key", e.Key(), "err", err)
			} else {
				fn(ev)
			}
		}
	}
}

// eventOf describes a change of the bucket.
func eventOf(e jetstream.KeyValueEntry) (Event, error) {
	if op := e.Operation(); op == jetstream.KeyValueDelete || op == jetstream.KeyValuePurge {
		name, err := NameOfToken(e.Key())
		if err != nil {
			return Event{}, err
		}
		return Event{Name: name, Deleted: true, Time: e.Created().UTC()}, nil
	}
	rec, err := decodeRecord(e.Key(), e.Value())
	if err != nil {
		return Event{}, err
	}
	l := rec.latest()
	return Event{Name: rec.Name, Revision: l.Revision, Size: l.Size, Time: l.Modified.UTC()}, nil
}
