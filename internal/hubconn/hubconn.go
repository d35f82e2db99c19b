// Package hubconn is how DPC's long-running commands (dpc-service,
// dpc-agent, dpc-provisioner) connect to the hub: the same credentials,
// and the same patience — they start before the hub is up, and reconnect
// forever when it goes away.
package hubconn

import (
	"context"
	"errors"
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
	TLSCA    string `name:"tls-ca" help:"PEM CA to trust the hub's certificate with." env:"DPC_TLS_CA" type:"existingfile"`
	TLSCert  string `name:"tls-cert" help:"PEM client certificate." env:"DPC_TLS_CERT" type:"existingfile"`
	TLSKey   string `name:"tls-key" help:"PEM key of --tls-cert." env:"DPC_TLS_KEY" type:"existingfile"`
}

// Environ is the flags as the environment variables they fall back on, the
// ones set: a process started with it reaches the same hub the same way
// (dpc-agent gives it to the instances it starts).
func (f HubFlags) Environ() map[string]string {
	env := map[string]string{}
	for k, v := range map[string]string{"NATS_URL": f.NATS, "DPC_USER": f.User, "DPC_PASSWORD": f.Password,
		"DPC_TLS_CA": f.TLSCA, "DPC_TLS_CERT": f.TLSCert, "DPC_TLS_KEY": f.TLSKey} {
		if v != "" {
			env[k] = v
		}
	}
	return env
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

// Retry calls f until it succeeds or ctx ends, once a second, logging each
// failure as what: a command started before its hub (or while the hub is
// restarting) does its first work when the hub comes up, instead of
// giving up after one timeout.
func Retry[T any](ctx context.Context, log *slog.Logger, what string, f func(context.Context) (T, error)) (T, error) {
	for {
		v, err := f(ctx)
		if err == nil || ctx.Err() != nil {
			return v, err
		}
		log.Warn(what+" failed; retrying", "err", err)
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}
