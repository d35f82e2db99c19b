package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
)

// DeadCmd manages the dead letters: durable calls that could not succeed
// (owner only).
type DeadCmd struct {
	List   DeadListCmd   `cmd:"" help:"List the dead letters, oldest first."`
	Replay DeadReplayCmd `cmd:"" help:"Send dead letters again to the function they were for, and remove them."`
	Purge  DeadPurgeCmd  `cmd:"" help:"Remove dead letters for good."`
}

// Help is the long help of "dpc-cli dead --help".
func (DeadCmd) Help() string {
	return `A durable call (sent with omq's Durable option) that cannot succeed becomes a dead letter instead of being dropped: when its handler answers a 4xx error (another try cannot help), when it still fails on its last allowed delivery, or when its process died or hung on every delivery (the hub moves those). The hub keeps dead letters for 30 days, at most 10,000 of them and 256 MiB, the oldest going first.

Each dead letter keeps the call's arguments and headers and says why it died. Fix the cause, then replay it (the function runs again) or purge it. Only an owner may do this.

Examples:
  dpc-cli dead list
  dpc-cli dead list --service tst --json
  dpc-cli dead replay 17 18
  dpc-cli dead replay --all --service tst
  dpc-cli dead purge --all`
}

// DeadListCmd lists the dead letters.
type DeadListCmd struct {
	Service string `help:"Only the dead letters of this service." placeholder:"SERVICE"`
	Limit   int    `help:"Show at most this many (1 to 1000)." default:"1000"`
}

func (c *DeadListCmd) Run(ctx context.Context, g *Globals, s streams) error {
	if c.Limit < 1 || c.Limit > trust.MaxDeadList {
		return usageErrorf("--limit %d: from 1 to %d", c.Limit, trust.MaxDeadList)
	}
	if c.Service != "" && !omq.ValidName(c.Service) {
		return usageErrorf("--service %q: a service name is letters, digits, - and _", c.Service)
	}
	cl, err := g.connect(connectOptions{})
	if err != nil {
		return err
	}
	defer cl.Close()
	var rep trust.DeadListReply
	if err := cl.dead(ctx, trust.FnList, trust.DeadListRequest{Service: c.Service, Limit: c.Limit}, &rep); err != nil {
		return err
	}
	if rep.Letters == nil {
		rep.Letters = []trust.DeadLetter{}
	}
	if g.JSON {
		return writeJSON(s.out, rep)
	}
	if rep.Total == 0 {
		fmt.Fprintln(s.out, "No dead letters.")
		return nil
	}
	if err := writeDeadLetters(s.out, rep.Letters); err != nil {
		return err
	}
	if rep.More {
		fmt.Fprintf(s.out, "… %d dead letters in all; these are the oldest %d (--service narrows the list).\n", rep.Total, len(rep.Letters))
	}
	return nil
}

func writeDeadLetters(w io.Writer, ls []trust.DeadLetter) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFUNCTION\tDIED\tDELIVERIES\tSIZE\tREASON")
	for _, l := range ls {
		size := fmt.Sprintf("%d B", l.Size)
		if l.LargeBody {
			size += " (large body)"
		}
		reason := l.Reason
		if len(reason) > 80 {
			reason = reason[:79] + "…"
		}
		fmt.Fprintf(tw, "%d\t%s.%s\t%s\t%d\t%s\t%s\n", l.ID, l.Service, l.Function, l.Time.Local().Format("2006-01-02 15:04:05"), l.Deliveries, size, reason)
	}
	return tw.Flush()
}

// deadSelection is what replay and purge take: ids, or --all.
type deadSelection struct {
	IDs     []uint64 `arg:"" optional:"" name:"id" help:"Ids of dead letters, as dead list shows them."`
	All     bool     `help:"All the dead letters (of --service, if given) there are now."`
	Service string   `help:"With --all: only this service's dead letters." placeholder:"SERVICE"`
}

func (d deadSelection) check() error {
	switch {
	case len(d.IDs) == 0 && !d.All:
		return usageErrorf("say which dead letters: their ids (dpc-cli dead list shows them), or --all")
	case len(d.IDs) > 0 && d.All:
		return usageErrorf("give ids or --all, not both")
	case d.Service != "" && !d.All:
		return usageErrorf("--service goes with --all; ids say exactly which")
	case d.Service != "" && !omq.ValidName(d.Service):
		return usageErrorf("--service %q: a service name is letters, digits, - and _", d.Service)
	}
	return nil
}

// DeadReplayCmd replays dead letters.
type DeadReplayCmd struct {
	deadSelection
}

// Help is the long help of "dpc-cli dead replay --help".
func (DeadReplayCmd) Help() string {
	return "Each dead letter is sent again as a durable call, with its arguments and headers, to the function it was for; once the call is stored, the dead letter is removed. " +
		"A call that fails again becomes a new dead letter (with a new id); --all does not replay those again. " +
		"A dead letter whose arguments were a large body is kept if the hub no longer has that body (large bodies are kept 7 days). " +
		"Exit code 1 if some dead letters were left alone; the others were replayed."
}

func (c *DeadReplayCmd) Run(ctx context.Context, g *Globals, s streams) error {
	return c.deadSelection.run(ctx, g, s, trust.FnReplay, "Replayed")
}

// DeadPurgeCmd purges dead letters.
type DeadPurgeCmd struct {
	deadSelection
}

// Help is the long help of "dpc-cli dead purge --help".
func (DeadPurgeCmd) Help() string {
	return "The dead letters are removed for good: their calls will not run. " +
		"--all removes those there are when the command starts (of --service, if given), not those that arrive meanwhile. " +
		"Exit code 1 if some ids were not found; the others were removed."
}

func (c *DeadPurgeCmd) Run(ctx context.Context, g *Globals, s streams) error {
	return c.deadSelection.run(ctx, g, s, trust.FnPurge, "Purged")
}

// deadOutcome is the --json output of replay and purge.
type deadOutcome struct {
	Done    int              `json:"done"`
	Skipped []trust.DeadSkip `json:"skipped"`
}

// run replays or purges (fn) the selection: ids in chunks of at most
// trust.MaxDeadIDs, --all in as many calls as the hub asks for.
func (d deadSelection) run(ctx context.Context, g *Globals, s streams, fn, done string) error {
	if err := d.check(); err != nil {
		return err
	}
	cl, err := g.connect(connectOptions{})
	if err != nil {
		return err
	}
	defer cl.Close()
	out := deadOutcome{Skipped: []trust.DeadSkip{}}
	var reqs []trust.DeadRequest
	for ids := range slices.Chunk(d.IDs, trust.MaxDeadIDs) {
		reqs = append(reqs, trust.DeadRequest{IDs: ids})
	}
	if d.All {
		reqs = append(reqs, trust.DeadRequest{All: true, Service: d.Service})
	}
	for len(reqs) > 0 {
		req := reqs[0]
		reqs = reqs[1:]
		var rep trust.DeadReply
		if err := cl.dead(ctx, fn, req, &rep); err != nil {
			if out.Done > 0 {
				fmt.Fprintf(s.err, "dpc-cli: %s %d dead letters before the error\n", strings.ToLower(done), out.Done)
			}
			return err
		}
		out.Done += rep.Done
		out.Skipped = append(out.Skipped, rep.Skipped...)
		if rep.Next != 0 {
			req.From, req.To = rep.Next, rep.To
			reqs = append(reqs, req)
		}
	}
	if g.JSON {
		if err := writeJSON(s.out, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(s.out, "%s %d dead letters.\n", done, out.Done)
	}
	if len(out.Skipped) == 0 {
		return nil
	}
	lines := make([]string, len(out.Skipped))
	for i, sk := range out.Skipped {
		lines[i] = fmt.Sprintf("%d: %s", sk.ID, sk.Why)
	}
	return &cliError{code: exitError, msg: fmt.Sprintf("%d left alone:\n  %s", len(out.Skipped), strings.Join(lines, "\n  "))}
}

// dead calls one of the hub's dead-letter functions; only an owner's
// credentials may.
func (c *client) dead(ctx context.Context, fn string, args, reply any) error {
	ctx, done := c.guard(ctx)
	defer done()
	err := c.node.Lookup(trust.DeadLettersService).Call(ctx, fn, args, reply, omq.Timeout(c.timeout))
	var oe *omq.Error
	switch {
	case err == nil:
		return nil
	case c.denied.Load() != nil:
		return &cliError{code: exitDenied, msg: fmt.Sprintf("dead %s: the hub refused it: only an owner may manage dead letters (this machine is %s)", fn, c.identity()), err: err}
	case errors.Is(err, omq.ErrNoResponders):
		return unavailableErrorf(err, "dead %s: the hub at %s does not answer for dead letters (a dpc-hub older than dead letters?)", fn, c.url)
	case errors.As(err, &oe) && oe.Code < 500:
		return &cliError{code: exitUsage, msg: oe.Description, err: err}
	}
	return c.failure(trust.DeadLettersService+"."+fn, err, c.timeout)
}
