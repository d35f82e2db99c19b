// Package logging is the --log-level and --log-format flags every DPC
// command has, and the slog.Logger they ask for: it writes to stderr and,
// once the command has a connection to the hub (PublishLogs), also
// publishes every record on NATS for the hub's window of logs (package
// logstream).
package logging

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/dpc-project/dpc/logstream"
	"github.com/nats-io/nats.go"
)

// LogFlags are embedded in a command's kong arguments (`embed:""`).
type LogFlags struct {
	LogLevel  string `name:"log-level" help:"debug, info, warn or error." default:"info" enum:"debug,info,warn,error"`
	LogFormat string `name:"log-format" help:"text or json." default:"text" enum:"text,json"`

	level  *slog.LevelVar
	stream *logstream.Handler
	logger *slog.Logger
}

// Logger writes to stderr at the flags' level, as text or JSON lines, and
// publishes the same records once PublishLogs has attached a connection.
// It is made once; SetLevel changes its level.
func (f *LogFlags) Logger() *slog.Logger {
	if f.logger != nil {
		return f.logger
	}
	if f.level == nil {
		f.level = new(slog.LevelVar)
		_ = f.SetLevel(f.LogLevel) // kong's enum has checked it
	}
	opts := &slog.HandlerOptions{Level: f.level}
	var stderr slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if f.LogFormat == "json" {
		stderr = slog.NewJSONHandler(os.Stderr, opts)
	}
	f.stream = logstream.New(stderr, logstream.Options{})
	f.logger = slog.New(f.stream)
	return f.logger
}

// LogStream is the handler behind Logger, which publishes the records (for
// its counters, and for the hub, which attaches its own connection).
func (f *LogFlags) LogStream() *logstream.Handler {
	f.Logger()
	return f.stream
}

// closeBound bounds flushing the last records on the way out.
const closeBound = 2 * time.Second

// PublishLogs starts publishing Logger's records on nc as src (its Host
// defaults to this machine's name); the function it returns publishes
// what is still waiting and stops, within 2 s: defer it before nc's
// Close. A source the hub could not take (a name that is no subject
// token) is reported on stderr only, and nothing is published.
func (f *LogFlags) PublishLogs(nc *nats.Conn, src logstream.Source) (stop func()) {
	log := f.Logger()
	if src.Host == "" {
		src.Host, _ = os.Hostname()
	}
	if err := f.stream.Attach(nc, src); err != nil {
		log.WarnContext(logstream.Suppress(context.Background()), "log records stay on stderr", "err", err)
		return func() {}
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeBound)
		defer cancel()
		_ = f.stream.Close(ctx) // a failure only costs the last records
	}
}

// SetLevel changes the level while the command runs (a reload).
func (f *LogFlags) SetLevel(level string) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	if f.level == nil {
		f.level = new(slog.LevelVar)
	}
	f.level.Set(lvl)
	f.LogLevel = level
	return nil
}
