package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dpc-project/dpc/logstream"
	"github.com/dpc-project/dpc/omq"
)

// LogsCmd shows the log records every DPC process publishes, from the
// hub's window of them.
type LogsCmd struct {
	Follow   bool   `short:"f" help:"Keep showing new records as they come, until Ctrl-C." env:"DPC_CLI_LOGS_FOLLOW"`
	Service  string `help:"Only this service's records." placeholder:"SERVICE" env:"DPC_CLI_LOGS_SERVICE"`
	Kind     string `help:"Only records of this kind of process: hub, service, agent or provisioner." placeholder:"KIND" env:"DPC_CLI_LOGS_KIND"`
	Instance string `help:"Only this instance's records (as status shows its id)." placeholder:"ID" env:"DPC_CLI_LOGS_INSTANCE"`
	Level    string `help:"Lowest level shown: debug, info, warn or error." placeholder:"LEVEL" env:"DPC_CLI_LOGS_LEVEL"`
	Since    string `help:"Records since this long ago (10m, 2h) or this time (RFC 3339)." placeholder:"D" env:"DPC_CLI_LOGS_SINCE"`
	Trace    string `help:"Only the records of this trace (their trace_id)." placeholder:"ID" env:"DPC_CLI_LOGS_TRACE"`
	Limit    int    `help:"Show at most this many records (1 to 1000) before following: the latest, or with --since the first." default:"100" env:"DPC_CLI_LOGS_LIMIT"`
}

// Help is the long help of "dpc-cli logs --help".
func (LogsCmd) Help() string {
	return `Every DPC process (the hub, services, agents, the provisioner) publishes its log records; the hub keeps the recent ones (64 MiB and 7 days by default; dpc-hub --max-logs). This shows them merged, in time order, one line each: time, source (kind/name/instance), level, message and attributes. With --json, one JSON object per line.

Any paired device may read them; services may not.

Examples:
  dpc-cli logs
  dpc-cli logs -f --service tst --level warn
  dpc-cli logs --since 1h --kind hub
  dpc-cli logs --trace 4bf92f3577b34da6a3ce929d0e0e4736 --json`
}

// query is the flags as the logs service's query.
func (c *LogsCmd) query(now time.Time) (logstream.Query, error) {
	q := logstream.Query{Kind: c.Kind, Name: c.Service, Instance: c.Instance, Trace: c.Trace, Limit: c.Limit}
	if c.Service != "" {
		if c.Kind != "" && c.Kind != logstream.KindService {
			return q, usageErrorf("--service %s is a service: --kind %s does not go with it", c.Service, c.Kind)
		}
		q.Kind = logstream.KindService
	}
	if c.Level != "" {
		q.Level = strings.ToLower(c.Level)
	}
	if c.Since != "" {
		if d, err := time.ParseDuration(c.Since); err == nil && d > 0 {
			q.Since = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339, c.Since); err == nil {
			q.Since = t
		} else {
			return q, usageErrorf("--since %q: a duration like 10m or 2h, or a time like 2026-01-02T15:04:05Z", c.Since)
		}
	}
	if err := q.Check(); err != nil {
		return q, usageErrorf("%v", err)
	}
	return q, nil
}

func (c *LogsCmd) Run(ctx context.Context, g *Globals, s streams) error {
	if c.Limit < 1 || c.Limit > logstream.MaxLimit {
		return usageErrorf("--limit %d: from 1 to %d", c.Limit, logstream.MaxLimit)
	}
	q, err := c.query(time.Now())
	if err != nil {
		return err
	}
	cl, err := g.connect(connectOptions{persistent: c.Follow, notices: s.err})
	if err != nil {
		return err
	}
	defer cl.Close()
	show := func(rs []logstream.Record) error {
		for _, r := range rs {
			if err := writeRecord(s.out, r, g.JSON); err != nil {
				return err
			}
		}
		return nil
	}
	// The first answer: the latest records, or with --since the first
	// ones from then, up to --limit.
	shown := 0
	var p logstream.Page
	for {
		q.Limit = c.Limit - shown
		if p, err = cl.logs(ctx, q, 0); err != nil {
			return c.stopped(err)
		}
		if err := show(p.Records); err != nil {
			return err
		}
		shown += len(p.Records)
		q.After, q.Since = p.Cursor, time.Time{}
		if !p.More || shown >= c.Limit {
			break
		}
	}
	if !c.Follow {
		return nil
	}
	q.Limit = logstream.MaxLimit
	for {
		wait := logstream.MaxWait
		if p.More {
			wait = 0
		}
		p, err = cl.logs(ctx, q, wait)
		if err != nil {
			return c.stopped(err)
		}
		if err := show(p.Records); err != nil {
			return err
		}
		q.After = max(q.After, p.Cursor)
	}
}

// stopped is nil when Ctrl-C ended a follow (a clean end), else err.
func (c *LogsCmd) stopped(err error) error {
	if c.Follow && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// writeRecord writes one record: a line of text, or a JSON object on one
// line.
func writeRecord(w io.Writer, r logstream.Record, asJSON bool) error {
	if asJSON {
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	_, err := fmt.Fprintln(w, r.Line())
	return err
}

// logs asks the hub's logs service; wait > 0 makes it a follower's long
// poll.
func (c *client) logs(ctx context.Context, q logstream.Query, wait time.Duration) (logstream.Page, error) {
	ctx, done := c.guard(ctx)
	defer done()
	q.WaitMS = wait.Milliseconds()
	var p logstream.Page
	err := c.node.Lookup(logstream.Service).Call(ctx, logstream.FnQuery, q, &p, omq.Timeout(c.timeout+wait))
	var oe *omq.Error
	switch {
	case err == nil:
		return p, nil
	case c.denied.Load() != nil:
		return p, &cliError{code: exitDenied, msg: fmt.Sprintf("logs: the hub refused it: only the owner and devices may read the logs (this machine is %s)", c.identity()), err: err}
	case errors.Is(err, omq.ErrNoResponders):
		return p, unavailableErrorf(err, "logs: the hub at %s does not answer for logs (a dpc-hub older than logs?)", c.url)
	case errors.As(err, &oe) && oe.Code < 500:
		return p, &cliError{code: exitUsage, msg: oe.Description, err: err}
	case errors.Is(err, context.Canceled):
		return p, err
	}
	return p, c.failure(logstream.Service+"."+logstream.FnQuery, err, c.timeout)
}
