package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
)

// An agent runs as an identity of role agent: it serves the agent
// service and signs its instances' credentials with a signing key of its
// own. Its identity is the machine's DPC profile if that is an agent's
// (paired with `dpc-cli pair`). On a machine whose profile is the owner's
// (the hub's own machine, say), the agent enrols itself as an agent once,
// with the owner's credentials, into <profile>/agents/<id>: the owner's
// identity is then neither the agent's nor its instances'.

// identity finds or makes the agent's identity. nil means the hub was
// given without a profile (an explicit --creds, or a hub without
// authentication): the agent runs as that, and its instances get no
// credentials.
func (c *CLI) identity(ctx context.Context, id string, log *slog.Logger) (*trust.Profile, error) {
	if c.Creds != "" {
		return nil, nil
	}
	dir, err := trust.ProfileDir()
	if err != nil {
		return nil, nil
	}
	p, err := trust.LoadProfile(dir)
	if errors.Is(err, trust.ErrNoProfile) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	switch p.Role {
	case trust.RoleAgent:
		return p, nil
	case trust.RoleOwner:
	default:
		return nil, fmt.Errorf("this machine's DPC identity %q is a %s, not an agent: pair an agent identity (dpc-cli devices add NAME --role agent on an owner's machine, then dpc-cli pair CODE here)", p.Name, p.Role)
	}
	own := filepath.Join(dir, "agents", id)
	if ap, err := trust.LoadProfile(own); err == nil && ap.Role == trust.RoleAgent && ap.Hub == p.Hub {
		return ap, nil
	}
	name := "agent-" + id
	log.Info("enrolling this agent with the owner's credentials", "identity", name, "profile", own)
	url, auth, err := hubconn.Resolve(c.NATS, "", c.TLSCA)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append(auth, nats.Name("dpc-agent enrol"), nats.Timeout(10*time.Second))...)
	if err != nil {
		return nil, fmt.Errorf("enrolling the agent: %w", err)
	}
	defer nc.Close()
	node, err := omq.New(nc)
	if err != nil {
		return nil, err
	}
	var rep trust.AddReply
	if err := node.Lookup(trust.DevicesService).Call(ctx, trust.FnAdd, trust.AddRequest{Name: name, Role: string(trust.RoleAgent)}, &rep); err != nil {
		return nil, fmt.Errorf("enrolling the agent as %q: %w (if an old enrolment is lost, revoke it: dpc-cli devices revoke %s)", name, err, name)
	}
	code, err := trust.ParseCode(rep.Code)
	if err != nil {
		return nil, err
	}
	return trust.Pair(ctx, nc.ConnectedUrl(), code, own)
}

// issuer mints the agent's instances' credentials with its signing key
// (registering the key with the hub); without an identity there is none,
// and instances get no credentials.
func (c *CLI) issuer(ctx context.Context, p *trust.Profile, id string) (*trust.InstanceIssuer, error) {
	if p == nil {
		return nil, nil
	}
	runDir, err := os.MkdirTemp("", "dpc-agent-"+id+"-")
	if err != nil {
		return nil, err
	}
	key, err := trust.RegisterAgentKey(ctx, p)
	if err != nil {
		os.RemoveAll(runDir)
		return nil, err
	}
	return &trust.InstanceIssuer{Key: key, Account: p.Account, CAFile: p.CAFile(), Dir: runDir}, nil
}

// logName is the name the agent's log records go under: its identity's
// (an agent role publishes under its own name only), read from its
// profile or its --creds; the agent id when it has neither (a hub
// without authentication).
func logName(p *trust.Profile, creds, id string) string {
	if p != nil {
		return p.Name
	}
	if creds != "" {
		if name, err := hubconn.CredsName(creds); err == nil && name != "" {
			return name
		}
	}
	return id
}
