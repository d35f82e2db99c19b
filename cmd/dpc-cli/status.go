package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dpc-project/dpc/catalog"
)

// StatusCmd shows the live services, their instances and each instance's
// load, from the catalog's services().
type StatusCmd struct{}

func (c *StatusCmd) Run(ctx context.Context, g *Globals, s streams) error {
	cl, err := g.connect(connectOptions{})
	if err != nil {
		return err
	}
	defer cl.Close()
	ss, err := cl.services(ctx)
	if err != nil {
		return err
	}
	if g.JSON {
		if ss == nil {
			ss = []catalog.ServiceInfo{}
		}
		return writeJSON(s.out, ss)
	}
	return writeStatus(s.out, ss, time.Now())
}

// writeStatus shows services as a table of instances per service. During
// a rolling upgrade (instances of several versions) the header lists the
// versions, newest first, and a VERSION column tells each instance's.
func writeStatus(w io.Writer, ss []catalog.ServiceInfo, now time.Time) error {
	if len(ss) == 0 {
		fmt.Fprintln(w, "No live services.")
		return nil
	}
	for i, svc := range ss {
		if i > 0 {
			fmt.Fprintln(w)
		}
		mixed := len(svc.Versions) > 1
		fmt.Fprintf(w, "%s %s", svc.Name, svc.Version)
		if mixed {
			fmt.Fprintf(w, " (and %s)", strings.Join(svc.Versions[1:], ", "))
		}
		if svc.Description != "" {
			fmt.Fprintf(w, " — %s", svc.Description)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  functions: %s\n", strings.Join(svc.Functions, ", "))
		if svc.Asleep {
			at := time.Time{}
			if svc.AsleepSince != nil {
				at = *svc.AsleepSince
			}
			fmt.Fprintf(w, "  asleep since %s: no instance runs; a call starts one\n", since(at, now))
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		version := func(v string) string {
			if mixed {
				return v + "\t"
			}
			return ""
		}
		fmt.Fprintln(tw, "  INSTANCE\t"+version("VERSION")+"HOST\tSINCE\tSTATE\tREQUESTS\tERRORS\tREFUSED\tIN-FLIGHT\tBACKLOG\tP90 WAIT")
		for _, in := range svc.Instances {
			fmt.Fprintf(tw, "  %s\t%s%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", in.ID, version(in.Version), in.Host, since(in.Since, now),
				stateOf(in.State), in.Requests, in.Errors, in.Refused, in.InFlight, in.Backlog, seconds(in.QueueWaitP90))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// stateOf shows an instance's state; "?" when it did not answer STATS.
func stateOf(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// since is a start time as local time with how long ago it was:
// "10:20:23 (5m ago)", with the date when it was not today.
func since(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	t = t.Local()
	layout := "15:04:05"
	if y, m, d := t.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
		layout = "2006-01-02 15:04"
	}
	ago := now.Sub(t).Round(time.Second)
	if ago < 0 {
		ago = 0
	}
	return fmt.Sprintf("%s (%s ago)", t.Format(layout), ago)
}

// seconds shows a duration given in seconds, rounded for reading.
func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}
