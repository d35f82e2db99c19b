// Package logging is the --log-level and --log-format flags every DPC
// command has, and the slog.Logger they ask for.
package logging

import (
	"log/slog"
	"os"
)

// LogFlags are embedded in a command's kong arguments (`embed:""`).
type LogFlags struct {
	LogLevel  string `name:"log-level" help:"debug, info, warn or error." default:"info" enum:"debug,info,warn,error"`
	LogFormat string `name:"log-format" help:"text or json." default:"text" enum:"text,json"`
}

// Logger writes to stderr at the flags' level, as text or JSON lines.
func (f LogFlags) Logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(f.LogLevel)) // kong's enum has checked it
	opts := &slog.HandlerOptions{Level: lvl}
	if f.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
