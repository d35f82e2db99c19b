package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dpc-project/dpc/omq"
)

// Client is the supervisor's side of the agents: it finds them, lists
// their processes, and asks one to spawn or stop.
type Client struct {
	node *omq.Node
	stub *omq.Stub
}

// NewClient calls the agents reachable through node.
func NewClient(node *omq.Node) *Client {
	return &Client{node: node, stub: node.Lookup(ServiceName)}
}

// List asks every agent for its processes. It finds the agents with a
// $SRV.PING gathered for window (so that a loaded agent is not missed),
// then asks them all with one multi call. It returns the states that
// arrived, ordered by agent id, and an error if some agent found did not
// answer in time (ctx's deadline, else omq's default timeout). No agent at
// all is an empty list, not an error.
func (c *Client) List(ctx context.Context, window time.Duration) ([]State, error) {
	pings, err := c.node.PingWithin(ctx, ServiceName, window)
	if err != nil {
		return nil, fmt.Errorf("agent: list: find agents: %w", err)
	}
	if len(pings) == 0 {
		return nil, nil
	}
	replies, err := c.stub.MultiCall(ctx, FnList, nil, omq.Expect(len(pings)))
	states := make([]State, 0, len(replies))
	var bad []string
	for _, r := range replies {
		var st State
		if derr := r.Decode(&st); derr != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", r.Instance, derr))
			continue
		}
		states = append(states, st)
	}
	slices.SortFunc(states, func(a, b State) int { return strings.Compare(a.Agent, b.Agent) })
	switch {
	case err != nil:
		return states, fmt.Errorf("agent: list: %d of %d agents answered: %w", len(replies), len(pings), err)
	case len(bad) > 0:
		return states, fmt.Errorf("agent: list: %s", strings.Join(bad, "; "))
	}
	return states, nil
}

// Spawn asks agent agentID to start an instance. Refusals match
// ErrBadRequest, ErrConflict, ErrUnavailable or ErrFailed with errors.Is.
// A spawn is never repeated: a lost reply may mean a running process,
// which the next List shows.
func (c *Client) Spawn(ctx context.Context, agentID string, req SpawnRequest) (Process, error) {
	var p Process
	if err := c.stub.At(agentID).Call(ctx, FnSpawn, req, &p); err != nil {
		return Process{}, fmt.Errorf("agent: spawn %s on %s: %w", req.Service, agentID, err)
	}
	return p, nil
}

// Stop asks agent agentID to stop an instance and returns it exited, or
// stopping if it had not exited shortly before the call's deadline. When
// ctx has no deadline the call waits for the request's grace (DefaultGrace
// when zero) plus a few seconds. An unknown id matches ErrNotFound.
func (c *Client) Stop(ctx context.Context, agentID string, req StopRequest) (Process, error) {
	var opts []omq.CallOption
	if _, ok := ctx.Deadline(); !ok {
		grace := DefaultGrace
		if req.GraceMS > 0 {
			grace = time.Duration(req.GraceMS) * time.Millisecond
		}
		opts = append(opts, omq.Timeout(grace+killWait))
	}
	var p Process
	if err := c.stub.At(agentID).Call(ctx, FnStop, req, &p, opts...); err != nil {
		return Process{}, fmt.Errorf("agent: stop %s on %s: %w", req.ID, agentID, err)
	}
	return p, nil
}
