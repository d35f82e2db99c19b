// Package hubconn is how DPC's long-running commands (dpc-service,
// dpc-agent, dpc-provisioner) connect to the hub: the same credentials,
// and the same patience — they start before the hub is up, and reconnect
// forever when it goes away.
package hubconn

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// HubFlags are the hub's address and credentials, embedded in a command's
// kong arguments (`embed:""`).
type HubFlags struct {
	NATS     string `name:"nats" help:"Hub URL(s), comma-separated." env:"NATS_URL" default:"nats://127.0.0.1:4222"`
	User     string `help:"User name for the hub." env:"DPC_USER"`
	Password string `help:"Password for the hub." env:"DPC_PASSWORD"`
	TLSCA    string `name:"tls-ca" help:"PEM CA to trust the hub's certificate with." type:"existingfile"`
	TLSCert  string `name:"tls-cert" help:"PEM client certificate." type:"existingfile"`
	TLSKey   string `name:"tls-key" help:"PEM key of --tls-cert." type:"existingfile"`
}

// Connect connects a client called name to the hub: it returns at once
// even if the hub is not up yet, retries every 250 ms and reconnects
// forever, and logs losing and regaining the hub (failed attempts at
// debug level only, or a hub that is down floods the log).
func (f HubFlags) Connect(name string, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(f.NATS, f.options(name, log)...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", f.NATS, err)
	}
	return nc, nil
}

func (f HubFlags) options(name string, log *slog.Logger) []nats.Option {
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
	if f.User != "" {
		opts = append(opts, nats.UserInfo(f.User, f.Password))
	}
	if f.TLSCA != "" {
		opts = append(opts, nats.RootCAs(f.TLSCA))
	}
	if f.TLSCert != "" {
		opts = append(opts, nats.ClientCert(f.TLSCert, f.TLSKey))
	}
	return opts
}
