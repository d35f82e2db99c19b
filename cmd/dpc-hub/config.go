package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
	"gopkg.in/yaml.v3"
)

// configPaths are read, if present, before flags and environment: a
// setting in a later one wins, and flags and DPC_* variables win over all.
var configPaths = []string{"/etc/dpc/hub.yml", "~/.config/dpc/hub.yml"}

// yamlConfig loads a hub config file: a YAML mapping whose keys are the
// long flag names (port, data, tls-cert or tls_cert, routes as a list, …).
func yamlConfig(r io.Reader) (kong.Resolver, error) {
	name := "config file"
	if f, ok := r.(*os.File); ok {
		name = f.Name()
	}
	values := map[string]any{}
	dec := yaml.NewDecoder(r)
	if err := dec.Decode(&values); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	norm := map[string]any{}
	for k, v := range values {
		norm[strings.ReplaceAll(k, "_", "-")] = v
	}
	return &configResolver{file: name, values: norm}, nil
}

type configResolver struct {
	file   string
	values map[string]any
}

// Validate refuses keys that are not flags, naming the file and listing
// the settings there are.
func (c *configResolver) Validate(app *kong.Application) error {
	var known []string
	for _, f := range app.Flags {
		if f.Name != "help" && f.Name != "config" {
			known = append(known, f.Name)
		}
	}
	var bad []string
	for k := range c.values {
		if !slices.Contains(known, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	slices.Sort(known)
	return fmt.Errorf("%s: unknown setting %s (settings are the long flag names: %s)",
		c.file, strings.Join(bad, ", "), strings.Join(known, ", "))
}

func (c *configResolver) Resolve(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
	v, ok := c.values[flag.Name]
	if !ok {
		return nil, nil
	}
	if list, ok := v.([]any); ok {
		// kong reads a list flag from one comma-separated value.
		parts := make([]string, len(list))
		for i, e := range list {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ","), nil
	}
	return v, nil
}

// reloadLogLevel reads log-level from the config files as at start-up
// (the defaults, then --config; a later one wins) and applies it: what
// SIGHUP changes besides the certificate. The flag and DPC_HUB_LOG_LEVEL
// are read once; a running process's environment does not change.
func (c *CLI) reloadLogLevel() error {
	files := append([]string(nil), configPaths...)
	if c.Config != "" {
		files = append(files, string(c.Config))
	}
	level := ""
	for _, f := range files {
		b, err := os.ReadFile(kong.ExpandPath(f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		var v struct {
			A string `yaml:"log-level"`
			B string `yaml:"log_level"`
		}
		if err := yaml.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if v.A != "" {
			level = v.A
		} else if v.B != "" {
			level = v.B
		}
	}
	if level == "" || level == c.LogLevel {
		return nil
	}
	return c.SetLevel(level)
}
