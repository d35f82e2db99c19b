package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
)

// The hub trusts nobody by default: these tests run the hub, services,
// agents and dpc-cli as real processes on "machines" that share nothing
// but the network, each with its own home directory, so that each finds
// its DPC identity where a person's would be (~/.config/dpc).

// machine is one computer's user: a home directory of its own and none of
// the test process's DPC, NATS or XDG settings, so its DPC commands find
// only the profile in its own ~/.config/dpc, the default place.
type machine struct {
	dpcHome string // where its DPC commands look for their profile
	env     []string
}

func newMachine(t *testing.T) *machine {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	m := &machine{dpcHome: filepath.Join(home, ".config", "dpc")}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "HOME", k == trust.EnvHome, k == "NATS_URL", k == "DPC_CREDS", k == "DPC_TLS_CA",
			strings.HasPrefix(k, "XDG_"), strings.HasPrefix(k, "DPC_HUB_"):
			continue
		}
		m.env = append(m.env, kv)
	}
	// The machine's hubs stay off the LAN and serve no web app on its
	// fixed port (proctest.Isolate's settings, dropped with the other
	// DPC_HUB_ variables above).
	m.env = append(m.env, "HOME="+home, "DPC_HUB_MDNS=false", "DPC_HUB_WEB=")
	if runtime.GOOS != "linux" { // elsewhere the default is not ~/.config
		m.env = append(m.env, trust.EnvHome+"="+m.dpcHome)
	}
	return m
}

// command prepares bin to run on the machine, with extra environment
// variables env (NAME=VALUE) on top of the machine's.
func (m *machine) command(env []string, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append([]string(nil), m.env...), env...)
	return cmd
}

// cli runs one dpc-cli command on the machine, with no hub flags: the
// machine's profile says which hub and who.
func (m *machine) cli(t *testing.T, args ...string) result {
	t.Helper()
	return runCLI(t, m.env, args...)
}

// profile is the machine's DPC profile; it fails the test if there is
// none or any of its files is readable by others.
func (m *machine) profile(t *testing.T) *trust.Profile {
	t.Helper()
	p, err := trust.LoadProfile(m.dpcHome)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(m.dpcHome, "hub.json"), p.CredsFile(), p.CAFile()} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	return p
}

// connect connects the test to the hub as the machine's identity, the
// way DPC's commands do.
func (m *machine) connect(t *testing.T) *nats.Conn {
	t.Helper()
	p := m.profile(t)
	c := trust.Connection{URLs: p.URLs, CredsFile: p.CredsFile(), CAFile: p.CAFile()}
	opts, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(c.URL(), append(opts, nats.Name("e2e test"))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// freePorts finds n distinct loopback ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// startOwnHub runs a hub on m on loopback, its data in a new directory,
// with a quick catalog; it installs the owner's profile on m.
func startOwnHub(t *testing.T, m *machine) (*proctest.Process, string) {
	t.Helper()
	return waitHub(t, m.command(nil, bins.hub, "--host", "127.0.0.1", fmt.Sprintf("--port=%d", freePort(t)),
		"--http-port=0", "--metrics=", "--data", t.TempDir(), "--log-format", "json",
		"--sweep-interval", "200ms", "--expiry", "1s"))
}

// callUntil waits until the machine's `dpc-cli call args…` succeeds and
// ok accepts what it printed.
func callUntil(t *testing.T, m *machine, ok func(stdout string) bool, args ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := m.cli(t, append([]string{"call"}, args...)...)
		if r.code == 0 && ok(strings.TrimSpace(r.stdout)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dpc-cli call %s: not within 30s; last: exit %d, stdout %q, stderr %q", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// callAdd waits until the machine's `dpc-cli call add a b` prints want.
func callAdd(t *testing.T, m *machine, a, b, want string) {
	t.Helper()
	callUntil(t, m, func(out string) bool { return out == want }, "add", a, b)
}

// The README's quickstart on the hub's defaults: the hub started with
// nothing but its data directory (and free ports) installs the owner's
// profile for this machine, and a service and dpc-cli then work with no
// flags at all. A client without credentials is refused.
func TestSecurity_QuickstartOnDefaults(t *testing.T) {
	home := newMachine(t)
	ports := freePorts(t, 3)
	waitHub(t, home.command(nil, bins.hub, "--data", t.TempDir(), fmt.Sprintf("--port=%d", ports[0]),
		fmt.Sprintf("--http-port=%d", ports[1]), fmt.Sprintf("--metrics=127.0.0.1:%d", ports[2]), "--log-format", "json"))

	p := home.profile(t)
	local := fmt.Sprintf("tls://127.0.0.1:%d", ports[0])
	if p.Role != trust.RoleOwner || len(p.URLs) != 1 || p.URLs[0] != local {
		t.Fatalf("the installed profile is %+v; want the owner's, at %s", p, local)
	}

	proctest.Start(t, "dpc-service tst", home.command(nil, bins.service, "tst"))
	callAdd(t, home, "1", "2", "3")

	t.Run("no credentials: refused", func(t *testing.T) {
		// A NATS client that trusts the hub's CA but has no credentials.
		nc, err := nats.Connect(local, nats.RootCAs(p.CAFile()), nats.NoReconnect(), nats.Timeout(10*time.Second))
		if err == nil {
			nc.Close()
			t.Fatal("a client with no credentials was let in")
		}
		// Clients without credentials land in the pairing account, which
		// admits nobody while no pairing code is pending.
		if !errors.Is(err, nats.ErrAuthorization) && !errors.Is(err, nats.ErrMaxAccountConnectionsExceeded) {
			t.Fatalf("connecting with no credentials: %v; want a refusal", err)
		}
		// One that does not even speak TLS.
		plain := fmt.Sprintf("nats://127.0.0.1:%d", ports[0])
		if nc, err := nats.Connect(plain, nats.NoReconnect(), nats.Timeout(10*time.Second)); err == nil {
			nc.Close()
			t.Fatal("a plain client with no credentials was let in")
		}
		// dpc-cli on a machine with no profile, told only where the hub
		// is and which CA to trust: denied.
		r := runCLI(t, append(append([]string(nil), home.env...), trust.EnvHome+"="+trust.NoProfile),
			"--nats", local, "--tls-ca", p.CAFile(), "call", "add", "1", "2")
		if r.code != 6 {
			t.Fatalf("dpc-cli with no credentials: exit %d (%q), want 6 denied", r.code, r.stderr)
		}
	})
}

// A second device pairs with a one-time code, calls functions as itself
// but may not manage identities, and once revoked is cut off at once: its
// interactive session loses the hub and never gets back, and its next
// command is denied.
func TestSecurity_PairAndRevoke(t *testing.T) {
	owner := newMachine(t)
	hub, url := startOwnHub(t, owner)
	proctest.Start(t, "dpc-service tst", owner.command(nil, bins.service, "tst"))

	r := owner.cli(t, "--json", "devices", "add", "laptop")
	var add struct {
		Code    string    `json:"code"`
		Name    string    `json:"name"`
		Role    string    `json:"role"`
		Expires time.Time `json:"expires"`
		URLs    []string  `json:"urls"`
	}
	if r.code != 0 {
		t.Fatalf("devices add laptop: %+v", r)
	}
	if err := json.Unmarshal([]byte(r.stdout), &add); err != nil {
		t.Fatalf("devices add --json: %v\n%s", err, r.stdout)
	}
	if add.Code == "" || add.Name != "laptop" || add.Role != "device" || !add.Expires.After(time.Now()) || len(add.URLs) == 0 || add.URLs[0] != url {
		t.Fatalf("devices add --json: %+v; want a code for device laptop, valid now, pairing at %s", add, url)
	}

	laptop := newMachine(t)
	if r := laptop.cli(t, "pair", add.Code, "--hub", add.URLs[0]); r.code != 0 {
		t.Fatalf("pair on the laptop: %+v", r)
	}
	p := laptop.profile(t)
	if p.Name != "laptop" || p.Role != trust.RoleDevice || p.Hub != owner.profile(t).Hub {
		t.Fatalf("the laptop's profile: %+v; want device laptop of the owner's hub", p)
	}
	key := p.PublicKey

	t.Run("a code works once", func(t *testing.T) {
		other := newMachine(t)
		if r := other.cli(t, "pair", add.Code, "--hub", url); r.code != 6 {
			t.Fatalf("pairing again with a used code: exit %d (%q), want 6 denied", r.code, r.stderr)
		}
		if _, err := trust.LoadProfile(other.dpcHome); !errors.Is(err, trust.ErrNoProfile) {
			t.Fatalf("a refused pairing left a profile: %v", err)
		}
	})

	t.Run("the device calls functions as itself", func(t *testing.T) {
		callAdd(t, laptop, "2", "3", "5")
	})

	t.Run("the device may not manage identities", func(t *testing.T) {
		if r := laptop.cli(t, "--timeout", "2s", "devices", "list"); r.code != 6 {
			t.Fatalf("devices list as a device: exit %d (%q), want 6 denied", r.code, r.stderr)
		}
	})

	t.Run("revoked: cut off at once, for good", func(t *testing.T) {
		sh, shp := sessionIn(t, laptop.env, 10*time.Second)
		menu := sh.Expect("Select application (enter application number): ")
		test := choice(t, menu, "test")

		if r := owner.cli(t, "devices", "revoke", "laptop"); r.code != 0 {
			t.Fatalf("devices revoke laptop: %+v", r)
		}
		// The hub tells it why it closed the connection (or refuses it
		// coming back), and the session ends saying so, with the exit
		// code for denied (it may or may not get to say it lost the hub
		// first).
		sh.Expect("no longer accepts this device's credentials")
		var ee *exec.ExitError
		if err := shp.Wait(15 * time.Second); !errors.As(err, &ee) || ee.ExitCode() != 6 {
			t.Fatalf("the revoked session ended with %v, want exit 6", err)
		}
		if out := shp.Output().String(); strings.Contains(out, "connected to the hub again") {
			t.Fatalf("the revoked session reconnected:\n%s", out)
		}
		_ = test

		r := laptop.cli(t, "call", "add", "2", "3")
		if r.code != 6 {
			t.Fatalf("call from the revoked laptop: exit %d (%q), want 6 denied", r.code, r.stderr)
		}
		eventually(t, 15*time.Second, func() bool { return loginsRefused(hub, key) > 0 },
			"the hub to log the revoked laptop's refused login with its key")
		r = owner.cli(t, "--json", "devices", "list")
		var ids []struct {
			Name    string     `json:"name"`
			Revoked *time.Time `json:"revoked"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &ids); r.code != 0 || err != nil {
			t.Fatalf("devices list: %v %+v", err, r)
		}
		found := false
		for _, id := range ids {
			found = found || id.Name == "laptop" && id.Revoked != nil
		}
		if !found {
			t.Fatalf("devices list does not show laptop revoked:\n%s", r.stdout)
		}
	})
}

// loginsRefused counts the hub's log lines refusing a login with the
// identity's public key.
func loginsRefused(hub *proctest.Process, key string) int {
	n := 0
	for line := range strings.Lines(hub.Output().String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "security: login refused" && rec["key"] == key {
			n++
		}
	}
	return n
}

// An agent on the owner's machine enrols itself once as identity
// agent-<id>, and the instances it starts (here for the provisioner's
// minimum of one) serve calls with credentials of their own, not the
// owner's.
func TestSecurity_AgentEnrolsAndInstancesServe(t *testing.T) {
	nas := newMachine(t)
	startOwnHub(t, nas)

	manifests := t.TempDir()
	writeFile(t, filepath.Join(manifests, "work.yml"), `name: work
functions:
  - funct_name: work
    return_type: string
command: [dpc-service, work, --service-time, 1ms]
`)
	path := "PATH=" + bins.dir + string(os.PathListSeparator) + os.Getenv("PATH")
	agp := proctest.Start(t, "dpc-agent", nas.command([]string{path}, bins.agent, "--id", "nas", "--manifests", manifests,
		"--allow", "dpc-service", "--grace", "2s", "--log-format", "json", "--metrics="))
	waitLog(t, agp, "dpc-agent ready")

	cfg := filepath.Join(t.TempDir(), "provisioner.yml")
	writeFile(t, cfg, `period: 1s
history: memory
services:
  - name: work
    min: 1
    max: 1
    policy: target-tracking
    target_tracking: {target: 50ms}
`)
	prov := proctest.Start(t, "dpc-provisioner", nas.command(nil, bins.provisioner, "--config", cfg,
		"--metrics", "127.0.0.1:0", "--log-format", "json"))
	waitLog(t, prov, "dpc-provisioner ready")

	// An instance the agent started serves the call.
	callUntil(t, nas, func(out string) bool { return strings.HasPrefix(out, "work-nas-") }, "work")

	// The agent's own identity, enrolled with the owner's credentials
	// once: restarted, the agent uses it again.
	if !strings.Contains(agp.Output().String(), "enrolling this agent") {
		t.Fatalf("the agent did not enrol:\n%s", agp.Output())
	}
	if err := agp.Stop(30 * time.Second); err != nil {
		t.Fatalf("dpc-agent after SIGTERM: %v", err)
	}
	agp = proctest.Start(t, "dpc-agent (restarted)", nas.command([]string{path}, bins.agent, "--id", "nas", "--manifests", manifests,
		"--allow", "dpc-service", "--grace", "2s", "--log-format", "json", "--metrics="))
	waitLog(t, agp, "dpc-agent ready")
	if strings.Contains(agp.Output().String(), "enrolling this agent") {
		t.Fatalf("the restarted agent enrolled again:\n%s", agp.Output())
	}
	callUntil(t, nas, func(out string) bool { return strings.HasPrefix(out, "work-nas-") }, "work")
	if p, err := trust.LoadProfile(filepath.Join(nas.dpcHome, "agents", "nas")); err != nil || p.Name != "agent-nas" || p.Role != trust.RoleAgent {
		t.Fatalf("the agent's profile: %+v, %v; want agent-nas, role agent", p, err)
	}
	r := nas.cli(t, "--json", "devices", "list")
	var ids []struct {
		Name    string     `json:"name"`
		Role    string     `json:"role"`
		Revoked *time.Time `json:"revoked"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &ids); r.code != 0 || err != nil {
		t.Fatalf("devices list: %v %+v", err, r)
	}
	agents := 0
	for _, id := range ids {
		if id.Role == "agent" && id.Revoked == nil {
			agents++
			if id.Name != "agent-nas" {
				t.Errorf("agent identity %q, want agent-nas", id.Name)
			}
		}
	}
	if agents != 1 {
		t.Fatalf("devices list shows %d live agents, want agent-nas alone:\n%s", agents, r.stdout)
	}

	// The instance has credentials of its own and no profile to fall
	// back on.
	if runtime.GOOS == "linux" {
		node, err := omq.New(nas.connect(t))
		if err != nil {
			t.Fatal(err)
		}
		instance := runningProcess(t, agent.NewClient(node))
		environ, err := os.ReadFile("/proc/" + strconv.Itoa(instance.PID) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for kv := range bytes.SplitSeq(environ, []byte{0}) {
			k, v, _ := strings.Cut(string(kv), "=")
			env[k] = v
		}
		if env[trust.EnvHome] != trust.NoProfile || env["DPC_CREDS"] == "" || env["DPC_CREDS"] == nas.profile(t).CredsFile() {
			t.Fatalf("the instance runs with DPC_HOME=%q DPC_CREDS=%q; want none and credentials of its own", env[trust.EnvHome], env["DPC_CREDS"])
		}
	}
}
