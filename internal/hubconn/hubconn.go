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
	"strings"
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

// PublicEnviron is what of the flags a process the command starts may
// share, as the environment variables they fall back on, the ones set:
// the hub URL(s) without any user or password written into them
// (NATS_URL), and the CA to trust the hub with (DPC_TLS_CA). Never the
// user, password, client certificate or key: they are the command's own
// identity on the hub, and a process it starts (dpc-agent's instances)
// gets its own.
func (f HubFlags) PublicEnviron() map[string]string {
	env := map[string]string{}
	if f.NATS != "" {
		env["NATS_URL"] = PublicURL(f.NATS)
	}
	if f.TLSCA != "" {
		env["DPC_TLS_CA"] = f.TLSCA
	}
	return env
}

// PublicURL is a comma-separated list of hub URLs without the user names
// and passwords written into them: "nats://u:p@hub:4222" becomes
// "nats://hub:4222".
func PublicURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		scheme, rest := "", p
		if j := strings.Index(p, "://"); j >= 0 {
			scheme, rest = p[:j+3], p[j+3:]
		}
		host, tail := rest, ""
		if k := strings.IndexAny(rest, "/?#"); k >= 0 {
			host, tail = rest[:k], rest[k:]
		}
		if at := strings.LastIndexByte(host, '@'); at >= 0 {
			host = host[at+1:]
		}
		parts[i] = scheme + host + tail
	}
	return strings.Join(parts, ",")
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
