package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/mdp/qrterminal/v3"
)

// DevicesCmd manages the identities the hub admits (owner only).
type DevicesCmd struct {
	Add    DevicesAddCmd    `cmd:"" help:"Make a one-time pairing code for a new device, service, agent or provisioner."`
	List   DevicesListCmd   `cmd:"" help:"List the identities the hub admits, and the revoked ones."`
	Revoke DevicesRevokeCmd `cmd:"" help:"Revoke an identity: its connections close at once and it cannot reconnect."`
}

// DevicesAddCmd asks the hub for a pairing code.
type DevicesAddCmd struct {
	Name  string `arg:"" help:"Name of the new identity (letters, digits, - and _)."`
	Role  string `help:"owner, device, agent, provisioner or service:NAME." default:"device"`
	Creds string `name:"write-creds" help:"Pair here at once and write a standard NATS credentials file for the new identity (for nats --creds …) instead of printing a code." type:"path" placeholder:"FILE"`
	NoQR  bool   `name:"no-qr" help:"Do not draw the code as a QR code."`
}

func (c *DevicesAddCmd) Run(ctx context.Context, g *Globals, s streams) error {
	cl, err := g.connect(connectOptions{})
	if err != nil {
		return err
	}
	defer cl.Close()
	var rep trust.AddReply
	if err := cl.manage(ctx, trust.FnAdd, trust.AddRequest{Name: c.Name, Role: c.Role}, &rep); err != nil {
		return err
	}
	if c.Creds != "" {
		return c.pairHere(ctx, g, s, cl, rep)
	}
	if g.JSON {
		return writeJSON(s.out, rep)
	}
	fmt.Fprintf(s.out, "Pairing code for %q (%s), valid until %s (%s):\n\n    %s\n\n",
		rep.Name, rep.Role, rep.Expires.Local().Format("15:04:05"), time.Until(rep.Expires).Round(time.Second), rep.Code)
	fmt.Fprintf(s.out, "On the new machine run:\n\n    dpc-cli pair %s --hub %s\n\n", rep.Code, firstURL(rep.URLs))
	if len(rep.URLs) > 1 {
		fmt.Fprintf(s.out, "(the hub also listens at %s)\n\n", strings.Join(rep.URLs[1:], ", "))
	}
	qr := "dpc://pair?code=" + rep.Code + "&hub=" + firstURL(rep.URLs)
	if len(rep.Web) > 0 {
		// A phone's camera opens this one: the web app, the code filled in.
		qr = rep.Web[0]
		fmt.Fprintf(s.out, "On a phone or in a browser, open (or scan the QR code):\n\n    %s\n\n", rep.Web[0])
		if len(rep.Web) > 1 {
			fmt.Fprintf(s.out, "(or %s)\n\n", strings.Join(rep.Web[1:], ", "))
		}
	}
	if !c.NoQR {
		qrterminal.GenerateHalfBlock(qr, qrterminal.M, s.out)
	}
	return nil
}

// pairHere pairs the new identity from this machine and writes its
// credentials file.
func (c *DevicesAddCmd) pairHere(ctx context.Context, g *Globals, s streams, cl *client, rep trust.AddReply) error {
	code, err := trust.ParseCode(rep.Code)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "dpc-pair-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	p, err := trust.Pair(ctx, cl.nc.ConnectedUrl(), code, tmp)
	if err != nil {
		return pairError(err)
	}
	b, err := os.ReadFile(p.CredsFile())
	if err != nil {
		return err
	}
	if err := trust.WriteSecret(c.Creds, b); err != nil {
		return err
	}
	ca := filepath.Join(filepath.Dir(c.Creds), "hub-ca.pem")
	caPEM, err := os.ReadFile(p.CAFile())
	if err != nil {
		return err
	}
	if err := trust.WriteSecret(ca, caPEM); err != nil {
		return err
	}
	if g.JSON {
		return writeJSON(s.out, map[string]any{"name": p.Name, "role": p.Role, "public_key": p.PublicKey, "creds": c.Creds, "tls_ca": ca, "inbox_prefix": trust.InboxPrefix(p.PublicKey)})
	}
	fmt.Fprintf(s.out, "Paired %q (%s); its credentials are in %s, the hub's CA in %s.\n", p.Name, p.Role, c.Creds, ca)
	url := cl.nc.ConnectedUrl()
	switch role := string(p.Role); {
	case strings.HasPrefix(role, "service:"):
		fmt.Fprintf(s.out, "Run the service with it:\n\n    dpc-service %s --nats %s --creds %s --tls-ca %s\n",
			strings.TrimPrefix(role, "service:"), url, c.Creds, ca)
	case role == "agent" || role == "provisioner":
		fmt.Fprintf(s.out, "Run the %s with it:\n\n    dpc-%s --nats %s --creds %s --tls-ca %s …\n", role, role, url, c.Creds, ca)
	default:
		fmt.Fprintf(s.out, "With the nats CLI:\n\n    nats --server %s --creds %s --tlsca %s --inbox-prefix %s req dpc.svc.tst.add '[2,3]'\n",
			url, c.Creds, ca, trust.InboxPrefix(p.PublicKey))
	}
	return nil
}

func firstURL(urls []string) string {
	if len(urls) == 0 {
		return "tls://HUB:4222"
	}
	return urls[0]
}

// DevicesListCmd lists the identities.
type DevicesListCmd struct{}

func (c *DevicesListCmd) Run(ctx context.Context, g *Globals, s streams) error {
	cl, err := g.connect(connectOptions{})
	if err != nil {
		return err
	}
	defer cl.Close()
	var ids []trust.IdentityInfo
	if err := cl.manage(ctx, trust.FnList, nil, &ids); err != nil {
		return err
	}
	if g.JSON {
		if ids == nil {
			ids = []trust.IdentityInfo{}
		}
		return writeJSON(s.out, ids)
	}
	return writeIdentities(s.out, ids)
}

func writeIdentities(w io.Writer, ids []trust.IdentityInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tKEY\tPAIRED\tSTATUS")
	for _, id := range ids {
		status := "active"
		if id.Revoked != nil {
			status = "revoked " + id.Revoked.Local().Format("2006-01-02 15:04")
		}
		key := id.PublicKey
		if len(key) > 12 {
			key = key[:12] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id.Name, id.Role, key, id.Created.Local().Format("2006-01-02 15:04"), status)
	}
	return tw.Flush()
}

// DevicesRevokeCmd revokes one identity.
type DevicesRevokeCmd struct {
	Name string `arg:"" help:"Name of the identity to revoke."`
}

func (c *DevicesRevokeCmd) Run(ctx context.Context, g *Globals, s streams) error {
	cl, err := g.connect(connectOptions{})
	if err != nil {
		return err
	}
	defer cl.Close()
	var id trust.IdentityInfo
	if err := cl.manage(ctx, trust.FnRevoke, trust.RevokeRequest{Name: c.Name}, &id); err != nil {
		return err
	}
	if g.JSON {
		return writeJSON(s.out, id)
	}
	fmt.Fprintf(s.out, "Revoked %q (%s): its connections are closed and it cannot connect again.\n", id.Name, id.Role)
	return nil
}

// manage calls one of the hub's identity functions; only an owner's
// credentials may.
func (c *client) manage(ctx context.Context, fn string, args, reply any) error {
	ctx, done := c.guard(ctx)
	defer done()
	err := c.node.Lookup(trust.DevicesService).Call(ctx, fn, args, reply, omq.Timeout(c.timeout))
	var oe *omq.Error
	switch {
	case err == nil:
		return nil
	case c.denied.Load() != nil:
		return &cliError{code: exitDenied, msg: fmt.Sprintf("devices.%s: the hub refused it: only an owner may manage identities (this machine is %s)", fn, c.identity()), err: err}
	case errors.As(err, &oe) && oe.Code == 409:
		return &cliError{code: exitConflict, msg: oe.Description, err: err}
	case errors.As(err, &oe) && oe.Code < 500:
		return &cliError{code: exitUsage, msg: oe.Description, err: err}
	}
	return c.failure("devices."+fn, err, c.timeout)
}

// identity says which identity this client connected as.
func (c *client) identity() string {
	dir, err := trust.ProfileDir()
	if err != nil {
		return "unknown"
	}
	p, err := trust.LoadProfile(dir)
	if err != nil {
		return "not from a profile"
	}
	return fmt.Sprintf("%q, role %s", p.Name, p.Role)
}

// PairCmd pairs this machine with a hub.
type PairCmd struct {
	Code  string `arg:"" help:"The pairing code the owner's 'dpc-cli devices add' printed."`
	Hub   string `help:"The hub's URL, as 'devices add' printed it (default: --nats / NATS_URL, else the hub on the LAN whose CA the code names)." placeholder:"URL"`
	Force bool   `help:"Replace this machine's existing DPC identity."`
}

func (c *PairCmd) Run(ctx context.Context, g *Globals, s streams) error {
	code, err := trust.ParseCode(c.Code)
	if err != nil {
		return usageErrorf("%v", err)
	}
	url := c.Hub
	if url == "" {
		url = g.NATS
	}
	if url == "" {
		// The hub on the LAN whose CA the code names: no other will do.
		urls, err := hubconn.Discover(ctx, code.Pins)
		if err != nil {
			return usageErrorf("%v", err)
		}
		if len(urls) == 0 {
			return usageErrorf("no hub on the LAN answered; say which hub: --hub URL (the owner's 'dpc-cli devices add' printed it)")
		}
		url = urls[0]
	}
	dir, err := trust.ProfileDir()
	if err != nil {
		return err
	}
	if p, err := trust.LoadProfile(dir); err == nil && !c.Force {
		return usageErrorf("this machine is already %q (%s) of a hub (%s); --force replaces it", p.Name, p.Role, dir)
	}
	p, err := trust.Pair(ctx, url, code, dir)
	if err != nil {
		return pairError(err)
	}
	if g.JSON {
		return writeJSON(s.out, p)
	}
	fmt.Fprintf(s.out, "Paired with the hub at %s as %q (%s). Credentials: %s\n", url, p.Name, p.Role, p.CredsFile())
	return nil
}

func pairError(err error) error {
	switch {
	case errors.Is(err, trust.ErrPinMismatch), errors.Is(err, trust.ErrPairingRefused):
		return &cliError{code: exitDenied, msg: err.Error(), err: err}
	}
	return unavailableErrorf(err, "%v", err)
}
