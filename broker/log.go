package broker

import (
	"context"
	"fmt"
	"log/slog"
)

// slogAdapter sends nats-server's printf-style log calls to log/slog, so the
// host program decides where server logs go and at which level.
type slogAdapter struct {
	l *slog.Logger
	// onFatal, if set, hears every fatal message; Start uses it to fail fast.
	onFatal func(msg string)
	// onSecurity, if set, hears every refused client (see SecurityEvent).
	onSecurity func(SecurityEvent)
}

func (a slogAdapter) log(level slog.Level, format string, v []any) {
	if !a.l.Enabled(context.Background(), level) {
		return
	}
	a.l.Log(context.Background(), level, fmt.Sprintf(format, v...))
}

func (a slogAdapter) Noticef(format string, v ...any) { a.log(slog.LevelInfo, format, v) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.log(slog.LevelWarn, format, v) }
func (a slogAdapter) Errorf(format string, v ...any) {
	if a.onSecurity != nil {
		if ev, ok := securityEvent(fmt.Sprintf(format, v...)); ok {
			// The host program logs these with the identity; the server's
			// own line would only repeat it without one.
			a.onSecurity(ev)
			return
		}
	}
	a.log(slog.LevelError, format, v)
}

// Fatalf is logged at error level only: the embedded server must never end
// the host process, which owns its own lifecycle.
func (a slogAdapter) Fatalf(format string, v ...any) {
	a.log(slog.LevelError, "FATAL: "+format, v)
	if a.onFatal != nil {
		a.onFatal(fmt.Sprintf(format, v...))
	}
}

func (a slogAdapter) Debugf(format string, v ...any) { a.log(slog.LevelDebug, format, v) }
func (a slogAdapter) Tracef(format string, v ...any) { a.log(slog.LevelDebug-4, format, v) }
