package notes

import (
	"fmt"
	"log/slog"
	"regexp"
)

// Defaults for the Options.
const (
	DefaultBucket     = "DPC_NOTES"
	DefaultReplicas   = 1
	DefaultMaxHistory = 64
	// MaxMaxHistory bounds MaxHistory so that a note's metadata (one KV
	// value listing every kept revision) stays far below the 1 MiB default
	// max payload.
	MaxMaxHistory = 1024
	// DefaultMaxNoteSize is the largest note content, in bytes, Save and
	// Merge store (MaxNoteSize). Notes are text: 8 MiB is far beyond any
	// hand-written note, covers notes larger than one NATS message (which
	// the object store was chosen for), and keeps a note within omq's
	// default maximum body (64 MiB) even when JSON escapes every byte of it
	// as \u00XX.
	DefaultMaxNoteSize = 8 << 20
	// DefaultMaxNotes is how many notes a Store holds at most (MaxNotes).
	DefaultMaxNotes = 10000
)

// An Option changes how Open sets up the Store.
type Option func(*config)

type config struct {
	bucket     string
	replicas   int
	maxHistory int
	maxSize    int
	maxNotes   int
	compress   bool
	logger     *slog.Logger
}

func defaultConfig() config {
	return config{
		bucket:     DefaultBucket,
		replicas:   DefaultReplicas,
		maxHistory: DefaultMaxHistory,
		maxSize:    DefaultMaxNoteSize,
		maxNotes:   DefaultMaxNotes,
		logger:     slog.New(slog.DiscardHandler),
	}
}

// Bucket names the two JetStream buckets: the key-value bucket of metadata
// is called name, the object store of contents name + "_CONTENT". Default
// DefaultBucket. Letters, digits, '-' and '_' only.
func Bucket(name string) Option { return func(c *config) { c.bucket = name } }

// Replicas sets how many servers of a NATS cluster keep each bucket (1 to 5,
// default 1; 3 survives the loss of one server). It applies when Open
// creates the buckets; an existing bucket is used as it is.
func Replicas(n int) Option { return func(c *config) { c.replicas = n } }

// MaxHistory sets how many revisions of each note are kept, the latest
// included (1 to MaxMaxHistory, default DefaultMaxHistory). When a save
// makes one more, the oldest is dropped and its content deleted.
func MaxHistory(n int) Option { return func(c *config) { c.maxHistory = n } }

// MaxNoteSize sets the largest content, in bytes, a note may have (at least
// 1, default DefaultMaxNoteSize). Save, and Merge for the device's text and
// for the merged result, refuse larger content with an error matching
// ErrTooLarge, before anything is written. Notes already stored are read
// whatever their size.
func MaxNoteSize(n int) Option { return func(c *config) { c.maxSize = n } }

// Compress has Open create the content store with S2 compression (off by
// default). Text compresses well, but the server compresses each 8 MiB
// block of the store as it closes it, which cost the hub ~110 MiB more
// memory while a 100 MiB note was saved (dpc-bench bodies), against the
// ~64 MiB a large body may cost; without it, disk holds notes as they
// are, at most MaxNoteSize each. It applies when Open creates the store;
// an existing one is used as it is.
func Compress(on bool) Option { return func(c *config) { c.compress = on } }

// MaxNotes sets how many notes the Store holds at most (at least 1, default
// DefaultMaxNotes): a save that would create one more fails with an error
// matching ErrTooMany, before anything is written; saves to existing notes
// go on. The count is the number of keys in the key-value bucket, read when
// a note is created, so saves creating notes at the same moment may
// overshoot it by as many as run at once.
func MaxNotes(n int) Option { return func(c *config) { c.maxNotes = n } }

// Logger receives the few things the Store cannot return as errors: content
// of dropped revisions that could not be deleted (Warn), and entries of the
// key-value bucket that List skipped because they are not notes (Debug).
// Default: discarded.
func Logger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

var bucketName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func (c *config) validate() error {
	switch {
	case !bucketName.MatchString(c.bucket):
		return fmt.Errorf("%w: bucket name %q: use letters, digits, '-' and '_'", ErrInvalidOption, c.bucket)
	case c.replicas < 1 || c.replicas > 5:
		return fmt.Errorf("%w: replicas %d: want 1 to 5", ErrInvalidOption, c.replicas)
	case c.maxHistory < 1 || c.maxHistory > MaxMaxHistory:
		return fmt.Errorf("%w: max history %d: want 1 to %d", ErrInvalidOption, c.maxHistory, MaxMaxHistory)
	case c.maxSize < 1:
		return fmt.Errorf("%w: max note size %d: want at least 1 byte", ErrInvalidOption, c.maxSize)
	case c.maxNotes < 1:
		return fmt.Errorf("%w: max notes %d: want at least 1", ErrInvalidOption, c.maxNotes)
	case c.logger == nil:
		return fmt.Errorf("%w: nil logger", ErrInvalidOption)
	}
	return nil
}
