package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/dpc-project/dpc/catalog"
)

// FuncsCmd lists the functions an application may use.
type FuncsCmd struct{}

func (c *FuncsCmd) Run(ctx context.Context, g *Globals, s streams) error {
	cl, err := g.connect(connectOptions{})
	if err != nil {
		return err
	}
	defer cl.Close()
	if g.App != "" {
		// An application nobody names is a typo, not one with only the
		// functions open to all.
		if err := cl.checkApp(ctx, g.App); err != nil {
			return err
		}
	}
	fs, err := cl.funcs(ctx, g.App)
	if err != nil {
		return err
	}
	if g.JSON {
		if fs == nil {
			fs = []catalog.FunctionInfo{}
		}
		return writeJSON(s.out, fs)
	}
	tw := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIGNATURE\tINSTANCES\tDESCRIPTION")
	for _, f := range fs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, f.Function.Signature(), instances(f), summary(f.Function.Description))
	}
	return tw.Flush()
}

// instances is a function's INSTANCES column: how many, or "asleep" for
// a service scaled to zero, which the first call starts.
func instances(f catalog.FunctionInfo) string {
	if f.Asleep {
		return "asleep"
	}
	return strconv.Itoa(f.Instances)
}

// summary is a description's first sentence, cut short if long, for one
// line of a table; describe shows it whole.
func summary(desc string) string {
	if i := strings.Index(desc, ". "); i >= 0 {
		desc = desc[:i+1]
	}
	const max = 72
	if r := []rune(desc); len(r) > max {
		desc = strings.TrimSpace(string(r[:max-1])) + "…"
	}
	return desc
}
