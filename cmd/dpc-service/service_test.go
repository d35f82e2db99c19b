package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/dpc-project/dpc/broker"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/omq"
)

// bin is dpc-service, built once by TestMain.
var bin string

// sysinfo is the example manifest of functions that run commands.
const sysinfo = "../../examples/sysinfo.yml"

func TestMain(m *testing.M) {
	os.Exit(proctest.RunWithBinaries(m, func(b map[string]string) { bin = b["./cmd/dpc-service"] }, "./cmd/dpc-service"))
}

// Bad input is refused before anything starts, saying what was wrong and
// where.
func TestService_RejectsBadInput(t *testing.T) {
	badManifest := filepath.Join(t.TempDir(), "tst.yml")
	if err := os.WriteFile(badManifest, []byte("name: tst\nfunctions:\n  - funct_name: add\n    args_list:\n      - arg_name: a\n        arg_typ: int\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	absSysinfo, err := filepath.Abs(sysinfo) // as kong gives it
	if err != nil {
		t.Fatal(err)
	}
	noProgram := filepath.Join(t.TempDir(), "cmds.yml")
	if err := os.WriteFile(noProgram, []byte("name: cmds\nfunctions:\n  - funct_name: a\n    exec: [no-such-program-dpc]\n  - funct_name: b\n    exec: [uptime, '{x}']\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nosuch"}, 2, `must be one of "textutil","tst","work"`},
		{nil, 2, "name a service to run (textutil, tst, work), or give a manifest whose functions run commands: --manifest FILE"},
		{[]string{"--manifest", noProgram}, 1, noProgram + `:4: functions[0].exec[0]: program "no-such-program-dpc" is not on this host`},
		{[]string{"--manifest", noProgram}, 1, noProgram + `:6: functions[1].exec[1]: {x} names no argument`},
		{[]string{"--manifest", sysinfo, "tst"}, 1, absSysinfo + ": functions[0] (uptime) names a command (exec), which runs only without a service name: dpc-service --manifest " + absSysinfo},
		{[]string{"--manifest", sysinfo, "--exec-env", "DPC_CREDS"}, 1, "will not pass DPC_CREDS to commands"},
		{[]string{"--manifest", sysinfo, "--name", "a.b"}, 1, `running ` + absSysinfo + ` as "a.b"`},
		{[]string{"--manifest", badManifest, "tst"}, 1, badManifest + ":6: functions[0].args_list[0].arg_typ"},
		{[]string{"--manifest", "/no/such/file.yml", "tst"}, 2, "/no/such/file.yml"},
		{[]string{"--name", "a.b", "work"}, 1, `running work as "a.b"`},
		{[]string{"--service-time=-5ms", "work"}, 1, "service time -5ms"},
		{[]string{"--service-time-dist", "normal", "work"}, 2, `must be one of "fixed","exp"`},
	} {
		out, err := exec.Command(bin, append(tc.args, "--nats", "nats://127.0.0.1:1")...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
			t.Errorf("%v: %v, want exit %d\n%s", tc.args, err, tc.code, out)
			continue
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: output does not mention %q:\n%s", tc.args, tc.want, out)
		}
	}
}

// --name runs a service under another name, in a queue group of its own,
// and the instance id comes from --instance-id, else DPC_INSTANCE_ID (as
// an agent sets it), else is random.
func TestService_NameAndInstanceID(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	start := func(env string, args ...string) {
		cmd := exec.Command(bin, append([]string{"--nats", url, "--service-time", "1ms"}, args...)...)
		cmd.Env = append(os.Environ(), env)
		proctest.Start(t, "dpc-service "+strings.Join(args, " "), cmd)
	}
	start("DPC_INSTANCE_ID=from-env", "--name", "work-fixed", "work")
	start("DPC_INSTANCE_ID=from-env-too", "--instance-id", "from-flag", "work")
	start("DPC_INSTANCE_ID=", "--name", "work-exp", "--service-time-dist", "exp", "work")

	node, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, tc := range []struct {
		service string
		want    string // "" for any id
	}{
		{"work-fixed", "from-env"},
		{"work", "from-flag"},
		{"work-exp", ""},
	} {
		var served string
		brokertest.Eventually(t, 30*time.Second, func() bool {
			return node.Lookup(tc.service).Call(ctx, "work", nil, &served, omq.Timeout(time.Second)) == nil
		}, tc.service+".work answers")
		if tc.want != "" && served != tc.want {
			t.Errorf("%s.work served by %q, want %q", tc.service, served, tc.want)
		}
		if served == "" {
			t.Errorf("%s.work served by an instance without an id", tc.service)
		}
	}
	// Each name is a queue group of its own: three names, one instance
	// each. An instance answers calls a moment before $SRV.PING, so wait
	// for the answer.
	for _, name := range []string{"work-fixed", "work", "work-exp"} {
		var n int
		brokertest.Eventually(t, 30*time.Second, func() bool {
			pings, err := node.PingWithin(ctx, name, 200*time.Millisecond)
			n = len(pings)
			return err == nil && n > 0
		}, "an instance of "+name+" answers $SRV.PING")
		if n != 1 {
			t.Errorf("%d instances of %s, want one", n, name)
		}
	}
}

// A service started before its hub waits for it, and serves once it is up
// (the first bind times out after 5 s; it must retry, not exit).
func TestService_StartsBeforeTheHub(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := proctest.Start(t, "dpc-service work", exec.Command(bin, "--nats", fmt.Sprintf("nats://127.0.0.1:%d", port),
		"--service-time", "1ms", "--log-format", "json", "work"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Past the first bind's timeout, with no hub.
	if _, err := proctest.WaitForLog(ctx, p.Output(), "bind failed; retrying"); err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	srv := brokertest.Start(t, func(c *broker.Config) { c.Port = port })
	node, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	var served string
	brokertest.Eventually(t, 30*time.Second, func() bool {
		return node.Lookup("work").Call(ctx, "work", nil, &served) == nil
	}, "the service to answer once the hub is up")
}

// A manifest alone is a service: its functions run commands, hosted as
// any service is (here under another name).
func TestService_ManifestOfCommands(t *testing.T) {
	srv := brokertest.Start(t)
	proctest.Start(t, "dpc-service --manifest sysinfo.yml", exec.Command(bin, "--nats", srv.ClientURL(), "--manifest", sysinfo, "--name", "facts"))
	node, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var kernel string
	brokertest.Eventually(t, 30*time.Second, func() bool {
		return node.Lookup("facts").Call(ctx, "kernel", nil, &kernel, omq.Timeout(5*time.Second)) == nil
	}, "facts.kernel answers")
	if !strings.HasPrefix(kernel, "Linux ") {
		t.Errorf("kernel = %q", kernel)
	}
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	var size int
	if err := node.Lookup("facts").Call(ctx, "fileSize", omq.Args(file), &size); err != nil || size != 5 {
		t.Errorf("fileSize = %d, %v", size, err)
	}
	err = node.Lookup("facts").Call(ctx, "fileSize", omq.Args(file+"-missing"), &size)
	if !errors.Is(err, omq.ErrHandlerFailure) || !strings.Contains(err.Error(), "No such file") {
		t.Errorf("fileSize of a missing file: %v", err)
	}
}

// Stopped while its hub is unreachable, a service exits at once and
// cleanly (0): it does not wait for the hub to confirm the end of its
// subscriptions or to take its withdrawal.
func TestService_StopsCleanlyWithoutItsHub(t *testing.T) {
	srv := brokertest.Start(t)
	p := proctest.Start(t, "dpc-service work", exec.Command(bin, "--nats", srv.ClientURL(), "--log-format", "json", "work"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 30*time.Second, func() bool {
		return node.Lookup("work").Call(ctx, "work", nil, nil) == nil
	}, "the service to answer")
	srv.Shutdown()
	if _, err := proctest.WaitForLog(ctx, p.Output(), "lost the hub; reconnecting"); err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(60 * time.Second); err != nil {
		t.Fatalf("dpc-service stopped without its hub: %v, want exit 0\n%s", err, p.Output())
	}
	if !strings.Contains(p.Output().String(), "the hub is unreachable") {
		t.Fatalf("no word that the hub was unreachable at the stop:\n%s", p.Output())
	}
}
