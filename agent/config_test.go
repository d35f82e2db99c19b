package agent_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/agent"
)

func TestConfig_Validate(t *testing.T) {
	if err := agent.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*agent.Config)
		want   string
	}{
		{"id with a dot", func(c *agent.Config) { c.ID = "a.b" }, `id "a.b"`},
		{"negative grace", func(c *agent.Config) { c.Grace = -time.Second }, "grace -1s"},
		{"no processes", func(c *agent.Config) { c.MaxProcesses = 0 }, "max processes 0"},
		{"relative allow path", func(c *agent.Config) { c.Allow = []string{"bin/x"} }, `allow "bin/x"`},
		{"empty command", func(c *agent.Config) {
			c.Services = map[string]agent.ServiceCommand{"tst": {}}
		}, "service tst: empty command"},
		{"bad service name", func(c *agent.Config) {
			c.Services = map[string]agent.ServiceCommand{"a b": {Command: []string{"x"}}}
		}, `service "a b"`},
		{"shared credentials", func(c *agent.Config) { c.Env = map[string]string{"DPC_PASSWORD": "pw"} }, "env DPC_PASSWORD: the agent gives no process shared hub credentials"},
		{"credentials in the hub URL", func(c *agent.Config) { c.Env = map[string]string{"NATS_URL": "nats://u:p@hub:4222"} }, "env NATS_URL: a user or password"},
		{"manifest program not allowed", func(c *agent.Config) {
			c.Manifests = map[string]agent.ManifestCommand{"w": {Command: []string{"/tmp/x/dpc-service", "w"}, File: "/m/w.yml", Line: 5}}
		}, `/m/w.yml:5: command[0]: service w: program "/tmp/x/dpc-service" is not on the allow list (allowed: dpc-service)`},
		{"manifest with no allow list", func(c *agent.Config) {
			c.Allow = []string{}
			c.Manifests = map[string]agent.ManifestCommand{"w": {Command: []string{"dpc-service", "w"}, File: "/m/w.yml"}}
		}, `program "dpc-service" is not on the allow list (allowed: none)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := agent.DefaultConfig()
			tc.change(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "agent: ") {
				t.Fatalf("Validate: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// New gives zero fields their defaults.
func TestNew_Defaults(t *testing.T) {
	a, err := agent.New(agent.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() != agent.DefaultConfig().ID || a.ID() == "" || strings.Contains(a.ID(), ".") {
		t.Errorf("ID %q", a.ID())
	}
	st := a.List()
	if st.Agent != a.ID() || len(st.Processes) != 0 {
		t.Errorf("List %+v", st)
	}
}

// A service's own env may give it credentials of its own; the agent-wide
// env may not.
func TestConfig_ServiceEnvMayHoldCredentials(t *testing.T) {
	cfg := agent.DefaultConfig()
	cfg.Services = map[string]agent.ServiceCommand{"legacy": {Command: []string{"x"}, Env: map[string]string{"DPC_USER": "legacy"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// LoadManifests reads the commands of the manifests in its directories,
// skipping other files and manifests without a command, and reports every
// bad file with its line, a service described twice, and what anyone may
// write to.
func TestLoadManifests(t *testing.T) {
	write := func(dir, name, text string, mode os.FileMode) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		return path
	}
	const fn = "functions:\n  - funct_name: f\n"
	a, b := t.TempDir(), t.TempDir()
	work := write(a, "work.yml", "name: work\n"+fn+"command: [dpc-service, work, --service-time, 20ms]\n", 0o644)
	write(a, "tst.yaml", "name: tst\n"+fn+"command:\n  - /opt/tst\n", 0o644)
	write(a, "hub.yml", "name: hub\n"+fn, 0o644)
	write(a, "README.md", "not a manifest", 0o644)
	write(a, ".work.yml.swp", "junk", 0o644)
	got, err := agent.LoadManifests(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["work"].File != work || !slices.Equal(got["work"].Command, []string{"dpc-service", "work", "--service-time", "20ms"}) ||
		got["work"].Line != 4 || got["tst"].Line != 5 {
		t.Fatalf("got %+v", got)
	}

	bad := write(b, "bad.yml", "name: bad\n"+fn+"comand: [x]\n", 0o644)
	write(b, "work.yml", "name: work\n"+fn+"command: [dpc-service, work]\n", 0o644)
	open := write(b, "open.yml", "name: open\n"+fn+"command: [dpc-service, open]\n", 0o666)
	_, err = agent.LoadManifests(a, b, filepath.Join(b, "none"), work)
	for _, want := range []string{
		bad + ":4: comand: unknown field (did you mean command?)",
		filepath.Join(b, "work.yml") + ": service work is already described by " + work,
		open + ": anyone may write to it",
		filepath.Join(b, "none") + ": no such file",
		work + " is not a directory",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v\nlacks %q", err, want)
		}
	}
	if err := os.Chmod(b, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.LoadManifests(b); err == nil || !strings.Contains(err.Error(), b+": anyone may write to it") {
		t.Errorf("world-writable directory: %v", err)
	}
}
