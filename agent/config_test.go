package agent_test

import (
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
