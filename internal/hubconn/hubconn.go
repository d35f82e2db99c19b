// Package hubconn is how DPC's long-running commands (dpc-service,
// dpc-agent, dpc-provisioner) connect to the hub: the same credentials,
// and the same patience — they start before the hub is up, and reconnect
// forever when it goes away.
package hubconn

import (
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// Auth is what a command's flags say about reaching the hub securely.
type Auth struct {
	User, Password         string
	TLSCA, TLSCert, TLSKey string
}

// Options returns the nats.Options for a client called name: reconnect
// forever every 250 ms, connect even if the hub is not up yet, log losing
// and regaining the hub (failed attempts at debug level only, or a hub
// that is down floods the log), and auth.
func Options(name string, log *slog.Logger, auth Auth) []nats.Option {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own Close at the end
				log.Warn("lost the hub; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("hub back") }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Debug("hub unreachable; retrying", "err", err)
		}),
	}
	if auth.User != "" {
		opts = append(opts, nats.UserInfo(auth.User, auth.Password))
	}
	if auth.TLSCA != "" {
		opts = append(opts, nats.RootCAs(auth.TLSCA))
	}
	if auth.TLSCert != "" {
		opts = append(opts, nats.ClientCert(auth.TLSCert, auth.TLSKey))
	}
	return opts
}
