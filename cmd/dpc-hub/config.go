package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/internal/suggest"
	"gopkg.in/yaml.v3"
)

// configPaths are read, if present, before flags and environment: a
// setting in a later one wins, and flags and DPC_* variables win over all.
var configPaths = []string{"/etc/dpc/hub.yml", "~/.config/dpc/hub.yml"}

// yamlConfig loads a hub config file: a YAML mapping whose keys are the
// long flag names, spelt as on the command line (port, data, tls-cert,
// http-port, routes as a list, …).
func yamlConfig(r io.Reader) (kong.Resolver, error) {
	name := "config file"
	if f, ok := r.(*os.File); ok {
		name = f.Name()
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(r).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c := &configResolver{file: name, values: map[string]any{}, lines: map[string]int{}}
	if len(doc.Content) == 0 {
		return c, nil // an empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: the config is a mapping of settings (port: 4222, data: /var/lib/dpc, …), not a %s", name, root.Line, kindName(root.Kind))
	}
	var errs []string
	for k := 0; k+1 < len(root.Content); k += 2 {
		key, val := root.Content[k], root.Content[k+1]
		if first, ok := c.lines[key.Value]; ok {
			errs = append(errs, fmt.Sprintf("%s:%d: %s is set twice (first on line %d)", name, key.Line, key.Value, first))
			continue
		}
		var v any
		if err := val.Decode(&v); err != nil {
			errs = append(errs, fmt.Sprintf("%s:%d: %s: %v", name, val.Line, key.Value, err))
			continue
		}
		c.values[key.Value], c.lines[key.Value] = v, key.Line
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return c, nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	}
	return "document of another kind"
}

type configResolver struct {
	file   string
	values map[string]any
	lines  map[string]int // where each key is
}

// Validate refuses keys that are not flags, each with its line and what
// was probably meant (or the settings there are).
func (c *configResolver) Validate(app *kong.Application) error {
	var known []string
	for _, f := range app.Flags {
		if f.Name != "help" && f.Name != "config" {
			known = append(known, f.Name)
		}
	}
	slices.Sort(known)
	var bad []string
	for k := range c.values {
		if !slices.Contains(known, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.SortFunc(bad, func(a, b string) int { return c.lines[a] - c.lines[b] })
	var msgs []string
	for _, k := range bad {
		hint := "settings are the long flag names: " + strings.Join(known, ", ")
		if s := suggest.Closest(k, known); s != "" {
			hint = "did you mean " + s + "?"
		}
		msgs = append(msgs, fmt.Sprintf("%s:%d: unknown setting %s (%s)", c.file, c.lines[k], k, hint))
	}
	return errors.New(strings.Join(msgs, "\n"))
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
			Level string `yaml:"log-level"`
		}
		if err := yaml.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if v.Level != "" {
			level = v.Level
		}
	}
	if level == "" || level == c.LogLevel {
		return nil
	}
	return c.SetLevel(level)
}
