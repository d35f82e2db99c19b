package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/dpc-project/dpc/discovery"
	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/trust"
)

// HubsCmd lists the hubs that announce themselves on the LAN (DNS-SD,
// _dpc._tcp). It needs no identity: discovery only gives addresses.
type HubsCmd struct {
	Interface string `help:"Network interface to ask on (default: the system's default multicast interface)." env:"DPC_CLI_HUBS_INTERFACE" placeholder:"NAME"`
}

// hubView is one hub found, and whether it is the one this machine
// paired with (its CA is the profile's).
type hubView struct {
	discovery.Hub
	Paired bool `json:"paired"`
}

func (c *HubsCmd) Run(ctx context.Context, g *Globals, s streams) error {
	// --timeout given bounds the browse; its default (for calls) is far
	// longer than a LAN needs to answer.
	timeout := discovery.DefaultTimeout
	if g.timeoutSet {
		timeout = g.Timeout
	}
	hubs, err := discovery.Browse(ctx, discovery.BrowseOptions{Timeout: timeout, Interface: c.Interface})
	if err != nil {
		return err
	}
	paired := pairedCA(g)
	views := make([]hubView, 0, len(hubs))
	for _, h := range hubs {
		views = append(views, hubView{Hub: h, Paired: paired != "" && h.CA == paired})
	}
	if g.JSON {
		return writeJSON(s.out, views)
	}
	if len(views) == 0 {
		fmt.Fprintf(s.err, "no hub answered on the LAN within %s\n", timeout)
		return nil
	}
	w := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tADDRESSES\tPORT\tTLS\tCA\t")
	for _, v := range views {
		tls := "no"
		if v.TLS {
			tls = "yes"
		}
		ca := hubconn.ShortFingerprint(v.CA)
		if v.Paired {
			ca += " (paired)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t\n", v.Name, strings.Join(v.Addrs, ","), strconv.Itoa(v.Port), tls, ca)
	}
	return w.Flush()
}

// pairedCA is the fingerprint of the CA this machine trusts (--tls-ca, or
// the profile's), or "".
func pairedCA(g *Globals) string {
	file := g.TLSCA
	if file == "" {
		dir, err := trust.ProfileDir()
		if err != nil {
			return ""
		}
		p, err := trust.LoadProfile(dir)
		if err != nil {
			return ""
		}
		file = p.CAFile()
	}
	fp, err := hubconn.CAFingerprint(file)
	if err != nil {
		return ""
	}
	return fp
}
