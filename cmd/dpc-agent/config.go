package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dpc-project/dpc/agent"
	"gopkg.in/yaml.v3"
)

// exampleConfig is shown by --help; config_test.go checks that it loads.
const exampleConfig = `# /etc/dpc/agent.yml
id: nas                 # agent id (default: the host name's first label)
grace: 15s              # SIGTERM to SIGKILL when stopping (default 10s)
max_processes: 16       # processes at once (default 64)
keep_exited: 2m         # exited processes stay in list (default 1m)
allow: [dpc-service]    # programs a manifest's command may run; with dpc-service
                        # here, a service with no command runs as dpc-service <service>
manifests:              # approved manifests: the command of each *.yml here
  - /etc/dpc/manifests
env:                    # for every process (never hub credentials)
  GOMEMLIMIT: 512MiB
services:               # the agent's own commands win over manifests'
  tst:
    command: [/usr/local/bin/dpc-service, tst]
  textutil:
    command: [dpc-service, --concurrency, "32", textutil]
    env: {GOMAXPROCS: "2"}
    dir: /var/lib/dpc
`

// fileConfig is the YAML config file; every key is optional and unknown
// keys are refused.
type fileConfig struct {
	ID           string                 `yaml:"id"`
	Host         string                 `yaml:"host"`
	Grace        time.Duration          `yaml:"grace"`
	MaxProcesses int                    `yaml:"max_processes"`
	KeepExited   time.Duration          `yaml:"keep_exited"`
	Allow        []string               `yaml:"allow"`
	Manifests    []string               `yaml:"manifests"`
	Env          map[string]string      `yaml:"env"`
	Services     map[string]fileService `yaml:"services"`
}

type fileService struct {
	Command []string          `yaml:"command"`
	Env     map[string]string `yaml:"env"`
	Dir     string            `yaml:"dir"`
}

// knownKeys lists the keys of a config struct, for messages.
func knownKeys(typ string) string {
	switch typ {
	case "fileConfig":
		return "id, host, grace, max_processes, keep_exited, allow, manifests, env, services"
	case "fileService":
		return "command, env, dir"
	}
	return "see --help"
}

// loadConfig reads a config file into cfg, reporting every problem as
// "file:line: message". It returns the directories of approved manifests
// the file names, for agent.LoadManifests.
func loadConfig(path string, cfg *agent.Config) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(path, err)
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root) // it decoded above, so it parses

	// Check each setting on its own, with agent.Config's own rules, so
	// that a problem points at its line.
	var probs []problem
	check := func(line int, change func(*agent.Config)) {
		c := agent.DefaultConfig()
		change(&c)
		if err := c.Validate(); err != nil {
			for _, e := range strings.Split(err.Error(), "\n") {
				probs = append(probs, problem{line, strings.TrimPrefix(e, "agent: ")})
			}
		}
	}
	if fc.ID != "" {
		check(valueLine(&root, "id"), func(c *agent.Config) { c.ID = fc.ID })
	}
	if fc.Grace != 0 {
		check(valueLine(&root, "grace"), func(c *agent.Config) { c.Grace = fc.Grace })
	}
	if fc.MaxProcesses != 0 {
		check(valueLine(&root, "max_processes"), func(c *agent.Config) { c.MaxProcesses = fc.MaxProcesses })
	}
	if fc.KeepExited != 0 {
		check(valueLine(&root, "keep_exited"), func(c *agent.Config) { c.KeepExited = fc.KeepExited })
	}
	for i, a := range fc.Allow {
		check(valueLine(&root, "allow", strconv.Itoa(i)), func(c *agent.Config) { c.Allow = []string{a} })
	}
	for i, d := range fc.Manifests {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			probs = append(probs, problem{valueLine(&root, "manifests", strconv.Itoa(i)), fmt.Sprintf("manifests: %s is not a directory", d)})
		}
	}
	for k, v := range fc.Env {
		check(keyLine(&root, "env", k), func(c *agent.Config) { c.Env = map[string]string{k: v} })
	}
	for name, s := range fc.Services {
		check(keyLine(&root, "services", name), func(c *agent.Config) {
			c.Services = map[string]agent.ServiceCommand{name: {Command: []string{"true"}}}
		})
		if len(s.Command) == 0 || s.Command[0] == "" {
			probs = append(probs, problem{valueLine(&root, "services", name, "command"), fmt.Sprintf("service %s: empty command", name)})
		}
		if s.Dir != "" {
			if st, err := os.Stat(s.Dir); err != nil || !st.IsDir() {
				probs = append(probs, problem{valueLine(&root, "services", name, "dir"), fmt.Sprintf("service %s: dir %s is not a directory", name, s.Dir)})
			}
		}
	}
	if len(probs) > 0 {
		slices.SortStableFunc(probs, func(a, b problem) int { return a.line - b.line })
		errs := make([]error, len(probs))
		for i, p := range probs {
			errs[i] = fmt.Errorf("%s:%d: %s", path, p.line, p.msg)
		}
		return nil, errors.Join(errs...)
	}

	if fc.ID != "" {
		cfg.ID = fc.ID
	}
	if fc.Host != "" {
		cfg.Host = fc.Host
	}
	if fc.Grace != 0 {
		cfg.Grace = fc.Grace
	}
	if fc.MaxProcesses != 0 {
		cfg.MaxProcesses = fc.MaxProcesses
	}
	if fc.KeepExited != 0 {
		cfg.KeepExited = fc.KeepExited
	}
	if fc.Allow != nil {
		cfg.Allow = fc.Allow
	}
	cfg.Env = fc.Env
	if len(fc.Services) > 0 {
		cfg.Services = make(map[string]agent.ServiceCommand, len(fc.Services))
		for name, s := range fc.Services {
			cfg.Services[name] = agent.ServiceCommand{Command: s.Command, Env: s.Env, Dir: s.Dir}
		}
	}
	return fc.Manifests, nil
}

// problem is one thing wrong in the config file.
type problem struct {
	line int
	msg  string
}

// valueLine is the line of the value at path (mapping keys, or sequence
// indexes) in a parsed document, or of the deepest part of the path found.
func valueLine(doc *yaml.Node, path ...string) int {
	_, v := lookup(doc, path)
	return v.Line
}

// keyLine is the line of the last key of path, or of the deepest part of
// the path found.
func keyLine(doc *yaml.Node, path ...string) int {
	k, _ := lookup(doc, path)
	return k.Line
}

// lookup follows path from the document's root and returns the key and
// value nodes of the deepest part found.
func lookup(doc *yaml.Node, path []string) (key, value *yaml.Node) {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	key = n
	for _, p := range path {
		var k, v *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					k, v = n.Content[i], n.Content[i+1]
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(p); err == nil && i >= 0 && i < len(n.Content) {
				k, v = n.Content[i], n.Content[i]
			}
		}
		if v == nil {
			return key, n
		}
		key, n = k, v
	}
	return key, n
}

var (
	yamlLineRE    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownKeyRE  = regexp.MustCompile(`^field (\S+) not found in type main\.(\w+)$`)
	durationErrRE = regexp.MustCompile(`into time\.Duration$`)
)

// yamlError rewrites yaml.v3's errors as "file:line: message", one per
// problem, with unknown keys listing the known ones.
func yamlError(path string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var errs []error
	for _, m := range msgs {
		sub := yamlLineRE.FindStringSubmatch(strings.TrimSpace(m))
		if sub == nil {
			errs = append(errs, fmt.Errorf("%s: %s", path, strings.TrimPrefix(m, "yaml: ")))
			continue
		}
		line, msg := sub[1], sub[2]
		if k := unknownKeyRE.FindStringSubmatch(msg); k != nil {
			msg = fmt.Sprintf("unknown key %q (keys here: %s)", k[1], knownKeys(k[2]))
		} else if durationErrRE.MatchString(msg) {
			msg += " (write a duration with its unit: 10s, 2m)"
		}
		errs = append(errs, fmt.Errorf("%s:%s: %s", path, line, msg))
	}
	return errors.Join(errs...)
}
