package main

import (
	"context"
	"fmt"
)

// AppsCmd lists the applications named in the live services' app_lists.
type AppsCmd struct{}

func (c *AppsCmd) Run(ctx context.Context, g *Globals, s streams) error {
	cl, err := g.connect(connectOptions{})
	if err != nil {
		return err
	}
	defer cl.Close()
	apps, err := cl.apps(ctx)
	if err != nil {
		return err
	}
	if g.JSON {
		if apps == nil {
			apps = []string{}
		}
		return writeJSON(s.out, apps)
	}
	for _, a := range apps {
		fmt.Fprintln(s.out, a)
	}
	return nil
}
