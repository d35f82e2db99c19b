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
)

// An Option changes how Open sets up the Store.
type Option func(*config)

type config struct {
	bucket     string
	replicas   int
	maxHistory int
	logger     *slog.Logger
}

func defaultConfig() config {
	return config{
		bucket:     DefaultBucket,
		replicas:   DefaultReplicas,
		maxHistory: DefaultMaxHistory,
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

// Logger receives the few things the Store cannot return as errors: content
// of dropped revisions that could not be deleted. Default: discarded.
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
	case c.logger == nil:
		return fmt.Errorf("%w: nil logger", ErrInvalidOption)
	}
	return nil
}
