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
	"sync"
	"time"

	"github.com/dpc-project/dpc/logstream"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
)

// HubFlags are the hub's address and this command's identity on it,
// embedded in a command's kong arguments (`embed:""`). What is not given
// comes from this machine's DPC profile (see Resolve). With HelpVars
// among kong's options, --help shows the hub --nats defaults to here.
type HubFlags struct {
	NATS  string `name:"nats" help:"Hub URL(s), comma-separated (default: ${hub_default=this machine's DPC profile, else the hub found on the LAN, else nats://127.0.0.1:4222})." env:"NATS_URL" placeholder:"URL"`
	Creds string `name:"creds" help:"NATS credentials file of this identity (default: the DPC profile's, in $DPC_HOME or ~/.config/dpc)." env:"DPC_CREDS" type:"existingfile" placeholder:"FILE"`
	TLSCA string `name:"tls-ca" help:"PEM CA of the hub (default: the DPC profile's)." env:"DPC_TLS_CA" type:"existingfile" placeholder:"FILE"`
}

// PublicEnviron is what a process the command starts may share, as the
// environment variables the flags fall back on: the hub URL(s) without any
// user or password written into them (NATS_URL), and the CA to trust the
// hub with (DPC_TLS_CA), both resolved through the profile. Never the
// credentials: they are the command's own identity on the hub, and a
// process it starts (dpc-agent's instances) gets its own.
func (f HubFlags) PublicEnviron() map[string]string {
	env := map[string]string{}
	c, err := f.connection()
	if err != nil {
		c.Connection = trust.Connection{CAFile: f.TLSCA}
		if f.NATS != "" {
			c.URLs = []string{f.NATS}
		}
	}
	if len(c.URLs) > 0 {
		env["NATS_URL"] = PublicURL(c.URL())
	}
	if c.CAFile != "" {
		env["DPC_TLS_CA"] = c.CAFile
	}
	return env
}

// connection is the flags completed from the profile, or the LAN.
func (f HubFlags) connection() (connection, error) {
	return resolveConnection(f.NATS, f.Creds, f.TLSCA)
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
	url, auth, err := Resolve(f.NATS, f.Creds, f.TLSCA)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append(options(name, log), auth...)...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", url, err)
	}
	return nc, nil
}

func options(name string, log *slog.Logger) []nats.Option {
	var logsRefusedOnce sync.Once
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
		// A hub that refuses the credentials is not one that is down, but
		// retrying is still right: the credentials file is read again at
		// every attempt, so a new one (or a pairing) fixes it.
		nats.IgnoreAuthErrorAbort(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if Refused(err) {
				log.Warn("the hub refuses this identity; retrying", "err", err)
				return
			}
			// A refused log record is said once, and on stderr only: said
			// as a published record it would be refused again, and so on.
			if strings.Contains(err.Error(), `"`+logstream.SubjectPrefix+".") {
				logsRefusedOnce.Do(func() {
					log.WarnContext(logstream.Suppress(context.Background()), "the hub refuses this identity's log records; they stay on stderr", "err", err)
				})
				return
			}
			// Permission violations arrive this way: what this identity's
			// role may not do.
			log.Warn("hub refused", "err", err)
		}),
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

// Refused says whether err is the hub refusing the client's credentials
// (unknown, revoked, or none while pairing is closed) rather than the hub
// being unreachable.
func Refused(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrMaxAccountConnectionsExceeded)
}

// URL is the hub URL(s) the flags resolve to (through the profile), without
// user or password: what to show in logs.
func (f HubFlags) URL() string {
	c, err := f.connection()
	if err != nil {
		return PublicURL(f.NATS)
	}
	return PublicURL(c.URL())
}
