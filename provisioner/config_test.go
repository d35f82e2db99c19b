package provisioner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig_Errors(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown key", "period: 1s\nservices:\n  - name: work\n    mni: 1\n", "p.yml: yaml: unmarshal errors:\n  line 4: field mni not found"},
		{"bad duration", "period: soon\n", `line 1`},
		{"no name", "services:\n  - min: 1\n", "services[0]: name: missing"},
		{"bad name", "services:\n  - name: a.b\n", `services[0]: name "a.b": use letters`},
		{"twice", "services:\n  - name: a\n  - name: a\n", `services[1]: "a" is already configured`},
		{"bad policy", "services:\n  - name: a\n    policy: magic\n", `policy "magic": want one of`},
		{"bad history", "history: disk\n", `history "disk": want kv or memory`},
		// Agents refuse spawn requests that bring a command.
		{"command", "services:\n  - name: a\n    command: [dpc-service, a]\n", "p.yml:3: services[0].command: agents no longer take a command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig("p.yml", []byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if !strings.Contains(err.Error(), "p.yml") {
				t.Fatalf("err = %v, want it to name the file", err)
			}
		})
	}
}

// A service's scaling comes from its manifest, with the config file's
// fields on top; the supervisor settings from the file override the
// defaults, and a shorter period shortens what depends on it.
func TestFileConfig_ManifestUnderConfig(t *testing.T) {
	dir := t.TempDir()
	man := filepath.Join(dir, "work.yml")
	if err := os.WriteFile(man, []byte(`name: work
functions:
  - funct_name: work
command: [dpc-service, work]
scaling:
  min: 2
  max: 5
  policy: target-tracking
  target_tracking: {target: 80ms}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file sets one target-tracking field, to zero: the manifest's
	// target stays, and a zero window is a zero window, not the default.
	fc, err := ParseConfig("p.yml", []byte("period: 1s\nservices:\n  - name: work\n    manifest: "+man+"\n    max: 9\n    target_tracking: {down_window: 0s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fc.Supervisor(DefaultConfig())
	if cfg.Period != time.Second || cfg.AgentExpiry != 3*time.Second || cfg.Window != 250*time.Millisecond {
		t.Errorf("supervisor config = %+v", cfg)
	}
	svcs, err := fc.BuildServices(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := svcs[0]
	if s.Limits != (Limits{Min: 2, Max: 9}) || s.Policy.Name() != "target-tracking" {
		t.Fatalf("service = %+v", s)
	}
	if tt := s.Policy.(*TargetTracking); tt.cfg.Target != 80*time.Millisecond || tt.cfg.Percentile != 90 || tt.cfg.DownWindow != 0 {
		t.Errorf("target tracking config = %+v, want the manifest's target over the defaults, and the file's zero down window", tt.cfg)
	}
}

func TestFileConfig_PolicyErrorsNameTheService(t *testing.T) {
	fc, err := ParseConfig("p.yml", []byte("services:\n  - name: work\n    policy: reactive\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fc.BuildServices(nil)
	if err == nil || !strings.Contains(err.Error(), "p.yml: service work:") || !strings.Contains(err.Error(), "reactive.response_time missing") {
		t.Fatalf("err = %v, want the file, the service and the missing response time", err)
	}
	fc, _ = ParseConfig("p.yml", []byte("services:\n  - name: work\n    min: 3\n    policy: fixed\n"))
	svcs, err := fc.BuildServices(nil)
	if err != nil {
		t.Fatal(err)
	}
	if f := svcs[0].Policy.(Fixed); f.N != 3 || svcs[0].Limits != (Limits{Min: 3, Max: 8}) {
		t.Fatalf("fixed = %+v, limits %+v; want N = min = 3", f, svcs[0].Limits)
	}
}

// start_timeout reaches the supervisor; lease_expiry the lease, three
// periods unless given.
func TestFileConfig_StartTimeoutAndLease(t *testing.T) {
	fc, err := ParseConfig("p.yml", []byte("period: 1s\nstart_timeout: 5s\nservices:\n  - name: work\n    policy: fixed\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg := fc.Supervisor(DefaultConfig()); cfg.StartTimeout != 5*time.Second {
		t.Errorf("start timeout %v, want 5s", cfg.StartTimeout)
	}
	if lc := fc.Lease(time.Second); lc.Expiry != 3*time.Second || lc.Renew != time.Second {
		t.Errorf("lease %+v, want an expiry of 3s renewed every 1s", lc)
	}
	fc, err = ParseConfig("p.yml", []byte("lease_expiry: 10s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if lc := fc.Lease(2 * time.Second); lc.Expiry != 10*time.Second || lc.Validate() != nil {
		t.Errorf("lease %+v (%v), want an expiry of 10s", lc, lc.Validate())
	}
	if DefaultConfig().StartTimeout != 30*time.Second {
		t.Errorf("default start timeout %v", DefaultConfig().StartTimeout)
	}
}

// A min-0 service gets the default idle time unless it names one (0:
// the policy alone decides); a service with instances kept has none. A
// manifest's idle is overridden by the file's.
func TestServiceSpec_Idle(t *testing.T) {
	dir := t.TempDir()
	man := filepath.Join(dir, "cold.yml")
	if err := os.WriteFile(man, []byte("name: cold\nfunctions:\n  - funct_name: f\nscaling:\n  min: 0\n  idle: 1m\n  policy: fixed\n  instances: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fc, err := ParseConfig("p.yml", []byte(`services:
  - {name: a, min: 0, policy: fixed, instances: 1}
  - {name: b, min: 0, idle: 5s, policy: fixed, instances: 1}
  - {name: c, min: 0, idle: 0s, policy: fixed, instances: 1}
  - {name: d, min: 1, idle: 5s, policy: fixed}
  - {name: cold, manifest: `+man+`}
  - {name: cold2, manifest: `+man+`, idle: 2s}
`))
	if err != nil {
		t.Fatal(err)
	}
	fc.Services[5].Name = "cold" // the manifest's name; the config's spec is what differs
	want := []time.Duration{DefaultIdle, 5 * time.Second, 0, 0, time.Minute, 2 * time.Second}
	for i, spec := range fc.Services {
		svc, err := spec.Build(nil)
		if err != nil {
			t.Fatalf("%s: %v", spec.Name, err)
		}
		if svc.Idle != want[i] {
			t.Errorf("services[%d] (%s): idle %v, want %v", i, spec.Name, svc.Idle, want[i])
		}
	}
}

// Every policy but target-tracking, which has a window of its own, gets
// the default down window; the file's down_window replaces it (0s: none)
// and may not be negative.
func TestFileConfig_DownWindow(t *testing.T) {
	services := `services:
  - {name: a, policy: combined, reactive: {response_time: 50ms}}
  - {name: b, policy: reactive, reactive: {response_time: 50ms}}
  - {name: c, policy: fixed, instances: 2}
  - {name: d, policy: target-tracking, target_tracking: {target: 50ms}}
`
	for _, tc := range []struct {
		head string
		want time.Duration
	}{
		{"", DefaultDownWindow},
		{"down_window: 4s\n", 4 * time.Second},
		{"down_window: 0s\n", 0},
	} {
		fc, err := ParseConfig("p.yml", []byte(tc.head+services))
		if err != nil {
			t.Fatal(err)
		}
		svcs, err := fc.BuildServices(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, svc := range svcs {
			want := tc.want
			if svc.Name == "d" {
				want = 0
			}
			if svc.DownWindow != want {
				t.Errorf("%q: service %s: down window %v, want %v", tc.head, svc.Name, svc.DownWindow, want)
			}
		}
	}
	if _, err := ParseConfig("p.yml", []byte("down_window: -1s\n")); err == nil {
		t.Error("a negative down_window was accepted")
	}
}
