package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/dpc-project/dpc/catalog"
)

// DescribeCmd shows one function as the catalog knows it.
type DescribeCmd struct {
	Name string `arg:"" help:"Function: its plain name, or service.function when several services have it."`
}

func (c *DescribeCmd) Run(ctx context.Context, g *Globals, s streams) error {
	cl, fi, err := g.lookup(ctx, c.Name)
	if err != nil {
		return err
	}
	defer cl.Close()
	if g.JSON {
		return writeJSON(s.out, fi)
	}
	return writeDescription(s, fi, cl)
}

func writeDescription(s streams, fi catalog.FunctionInfo, cl *client) error {
	f := fi.Function
	fmt.Fprintf(s.out, "%s: %s\n", fi.Name, f.Signature())
	if f.Description != "" {
		fmt.Fprintf(s.out, "  %s\n", f.Description)
	}
	tw := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', 0)
	plural := "s"
	if fi.Instances == 1 {
		plural = ""
	}
	if fi.Asleep {
		fmt.Fprintf(tw, "  service:\t%s (asleep: the first call starts an instance)\n", fi.Service)
	} else {
		fmt.Fprintf(tw, "  service:\t%s (%d instance%s)\n", fi.Service, fi.Instances, plural)
	}
	apps := "all"
	if len(f.Apps) > 0 {
		apps = strings.Join(f.Apps, ", ")
	}
	fmt.Fprintf(tw, "  apps:\t%s\n", apps)
	if len(f.Args) == 0 {
		fmt.Fprintf(tw, "  arguments:\tnone\n")
	}
	for i, a := range f.Args {
		label := ""
		if i == 0 {
			label = "arguments:"
		}
		fmt.Fprintf(tw, "  %s\t%s %s\t%s\n", label, a.Name, a.Type, a.Description)
	}
	fmt.Fprintf(tw, "  returns:\t%s\n", f.ReturnType)
	fmt.Fprintf(tw, "  idempotent:\t%s\n", yesNo(f.Idempotent))
	switch {
	case cl.timeoutSet && f.Timeout > 0:
		fmt.Fprintf(tw, "  timeout:\t%s (--timeout; its own: %s)\n", cl.timeout, f.Timeout)
	case f.Timeout > 0:
		fmt.Fprintf(tw, "  timeout:\t%s\n", f.Timeout)
	default:
		fmt.Fprintf(tw, "  timeout:\t%s (--timeout)\n", cl.timeout)
	}
	if f.Cacheable != nil {
		fmt.Fprintf(tw, "  cacheable:\tfor %s\n", f.Cacheable.TTL)
	} else {
		fmt.Fprintf(tw, "  cacheable:\tno\n")
	}
	fmt.Fprintf(tw, "  usage:\tdpc-cli call %s\n", callSyntax(fi.Name, &f))
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
