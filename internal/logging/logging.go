// Package logging is the --log-level and --log-format flags every DPC
// command has, and the slog.Logger they ask for.
package logging

import (
	"fmt"
	"log/slog"
	"os"
)

// LogFlags are embedded in a command's kong arguments (`embed:""`).
type LogFlags struct {
	LogLevel  string `name:"log-level" help:"debug, info, warn or error." default:"info" enum:"debug,info,warn,error"`
	LogFormat string `name:"log-format" help:"text or json." default:"text" enum:"text,json"`

	level *slog.LevelVar
}

// Logger writes to stderr at the flags' level, as text or JSON lines.
// SetLevel changes the level of every logger it made.
func (f *LogFlags) Logger() *slog.Logger {
	if f.level == nil {
		f.level = new(slog.LevelVar)
		_ = f.SetLevel(f.LogLevel) // kong's enum has checked it
	}
	opts := &slog.HandlerOptions{Level: f.level}
	if f.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
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
