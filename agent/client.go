package agent

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dpc-project/dpc/omq"
)

// Client is the supervisor's side of the agents: it finds them, lists
// their processes, and asks one to spawn or stop. Every call but the
// $SRV.PING that finds the agents goes to one agent
// (dpc.one.agent.<id>.<function>).
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
// then asks each one found with a call of its own
// (dpc.one.agent.<id>.list), all at once, each waiting until ctx's
// deadline (else omq's default timeout): an agent that does not answer
// costs only its own reply. It returns the states that arrived, ordered
// by agent id, and, if some agent found did not answer with a state, a
// *ListError naming each. No agent at all is an empty list, not an
// error.
func (c *Client) List(ctx context.Context, window time.Duration) ([]State, error) {
	pings, err := c.node.PingWithin(ctx, ServiceName, window)
	if err != nil {
		return nil, fmt.Errorf("agent: list: find agents: %w", err)
	}
	ids := make([]string, 0, len(pings))
	for _, p := range pings {
		if !slices.Contains(ids, p.ID) {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	states := make([]State, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { errs[i] = c.stub.At(id).Call(ctx, FnList, nil, &states[i]) })
	}
	wg.Wait()
	out := make([]State, 0, len(ids))
	failed := map[string]error{}
	for i, id := range ids {
		if errs[i] != nil {
			failed[id] = errs[i]
			continue
		}
		out = append(out, states[i])
	}
	slices.SortFunc(out, func(a, b State) int { return strings.Compare(a.Agent, b.Agent) })
	if len(failed) > 0 {
		return out, &ListError{Found: len(ids), Failed: failed}
	}
	return out, nil
}

// ListError is List's error when agents that answered $SRV.PING did not
// answer list (in time, or with a state). Failed holds why, by agent id.
// It matches what each call failed with (omq.ErrTimeout, …) with
// errors.Is.
type ListError struct {
	Found  int // agents that answered $SRV.PING
	Failed map[string]error
}

func (e *ListError) Error() string {
	ids := slices.Sorted(maps.Keys(e.Failed))
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id + ": " + e.Failed[id].Error()
	}
	return fmt.Sprintf("agent: list: %d of %d agents answered: %s", e.Found-len(e.Failed), e.Found, strings.Join(parts, "; "))
}

// Unwrap returns each agent's error.
func (e *ListError) Unwrap() []error {
	ids := slices.Sorted(maps.Keys(e.Failed))
	out := make([]error, len(ids))
	for i, id := range ids {
		out[i] = e.Failed[id]
	}
	return out
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
