package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/internal/proctest"
)

// The session of the thesis's Appendix A: choose the notes application,
// use one of its functions, add 45 and 38, mistype a number, ask again
// (from the cache, with its age), and choose add after Tst-serv has
// stopped: "not available" before any argument is asked for, its cached
// result still shown as such, and the next menu, drawn afresh, has none
// of its functions.
func TestShell_ThesisSession(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	note := writeFile(t, "todo", "milk\neggs\n")
	if r := cli(t, sys.url, "notes", "--state", statePath(t), "save", note); r.code != 0 {
		t.Fatal(r)
	}

	s := startShell(t, sys.url)
	apps := s.Expect("Select application (enter application number): ")
	for _, want := range []string{"Available applications:", "  0 quit", "notes", "test"} {
		if !strings.Contains(apps, want) {
			t.Fatalf("application menu lacks %q:\n%s", want, apps)
		}
	}
	s.choose(apps, "notes")
	fns := s.Expect("Select functionality: ")
	if !strings.Contains(fns, "Available functionality for notes:") {
		t.Fatalf("no functions menu:\n%s", fns)
	}
	m := menu(fns)
	for name, num := range map[string]string{"quit": "0", "change_app": "1", "refresh": "2"} {
		if m[name] != num {
			t.Fatalf("menu entry %s is %q, want %s:\n%s", name, m[name], num, fns)
		}
	}
	for _, want := range []string{"save", "get", "merge", "list", "history", "nopKserv", "upper", "wordCount"} {
		if m[want] == "" {
			t.Fatalf("notes menu lacks %s:\n%s", want, fns)
		}
	}
	if m["add"] != "" {
		t.Fatalf("notes menu has tst's add, which is for the test application only:\n%s", fns)
	}

	s.choose(fns, "list")
	s.Expect("Result: todo\n")
	fns = s.Expect("Select functionality: ")
	s.choose(fns, "upper")
	s.Expect("Please input text (Text to change): ")
	s.Send("hello, world")
	s.Expect("Result: HELLO, WORLD\n")

	// change_app, to the application tst's functions are for.
	s.Expect("Select functionality: ")
	s.Send("1")
	apps = s.Expect("Select application (enter application number): ")
	s.choose(apps, "test")
	fns = s.Expect("Select functionality: ")
	if !strings.Contains(fns, "Available functionality for test:") || menu(fns)["add"] == "" {
		t.Fatalf("test menu without add:\n%s", fns)
	}
	add := menu(fns)["add"]
	s.Send(add)
	s.Expect("Please input a (First number): ")
	s.Send("45")
	s.Expect("Please input b (Second number): ")
	s.Send("38")
	s.Expect("Result: 83\n")

	// A mistyped number is explained and asked for again.
	s.Expect("Select functionality: ")
	s.Send(add)
	s.Expect("Please input a (First number): ")
	s.Send("4x")
	if got := s.Expect("Please input a (First number): "); !strings.Contains(got, `want a whole number, like 42; got "4x"`) {
		t.Fatalf("no explanation of the bad input:\n%s", got)
	}
	s.Send("3")
	s.Expect("Please input b (Second number): ")
	s.Send("2")
	s.Expect("Result: 5\n")

	// add is cacheable: the same question is answered from the cache,
	// which says how old its answer is.
	s.Expect("Select functionality: ")
	s.Send(add)
	s.Expect("Please input a (First number): ")
	s.Send("45")
	s.Expect("Please input b (Second number): ")
	s.Send("38")
	if got := s.Expect("\n"); !cachedAge.MatchString(got) || strings.Contains(got, "not available") {
		t.Fatalf("want the cached result with its age, got %q", got)
	}

	// An invalid choice is said so, and asked again.
	s.Expect("Select functionality: ")
	s.Send("99")
	s.Expect(`Invalid choice "99": enter a number from 0 to`)
	s.Expect("Select functionality: ")
	s.Send("two")
	s.Expect(`Invalid choice "two"`)
	s.Expect("Select functionality: ")

	// Tst-serv stops. The menu on the screen still offers add: choosing it
	// says at once that it is not available; its cached result can still
	// be seen, labelled so.
	sys.tst.stop()
	waitCatalog(t, sys.url, "tst.add", false)
	s.Send(add)
	if got := s.Expect("Please input a (First number): "); !strings.Contains(got, "add is not available at the moment: no instance of tst answers.\n") {
		t.Fatalf("arguments asked for before saying add is not available:\n%s", got)
	}
	s.Send("45")
	s.Expect("Please input b (Second number): ")
	s.Send("38")
	if got := s.Expect("\n"); !cachedAge.MatchString(got) || !strings.Contains(got, "; the service is not available)") {
		t.Fatalf("want the cached result with its age and the service not available, got %q", got)
	}
	// The next menu is drawn from the catalog, which no longer lists tst
	// (should a sweep that began before the withdrawal list it once more,
	// the next one drops it: draw the menu again until then).
	fns = s.Expect("Select functionality: ")
	for deadline := time.Now().Add(waitLong); menu(fns)["add"] != ""; {
		if time.Now().After(deadline) {
			t.Fatalf("the menu still has tst's functions:\n%s", fns)
		}
		s.Send("")
		fns = s.Expect("Select functionality: ")
	}
	if !strings.Contains(fns, "tst has gone.\n\nAvailable functionality for test:") {
		t.Fatalf("the menu does not say that tst has gone:\n%s", fns)
	}
	m = menu(fns)
	if m["test_int"] != "" {
		t.Fatalf("refreshed menu still has tst's functions:\n%s", fns)
	}
	if m["nopKserv"] == "" {
		t.Fatalf("refreshed menu lost the hub's functions:\n%s", fns)
	}

	s.Send("0")
	s.Expect("Quitting...")
	if code := s.exit(); code != 0 {
		t.Fatalf("exit code %d after quit", code)
	}
}

// Ctrl-D (EOF) at any prompt ends the session cleanly.
func TestShell_EOFExitsZero(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	s := startShell(t, sys.url, "--app", "test")
	fns := s.Expect("Select functionality: ")
	s.choose(fns, "add")
	s.Expect("Please input a (First number): ")
	s.in.Close()
	if code := s.exit(); code != 0 {
		t.Fatalf("exit code %d at EOF, want 0; output:\n%s", code, s.out.String())
	}
}

// Ctrl-C during a call cancels the call and returns to the menu; at the
// menu it ends the session with 130.
func TestShell_InterruptCancelsCall(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	waiting := make(chan struct{}, 1)
	startExtra(t, sys.url, waiting)

	s := startShell(t, sys.url, "--app", "test", "--timeout", "1m")
	fns := s.Expect("Select functionality: ")
	if m := menu(fns); m["tst.add"] == "" || m["extra.add"] == "" || m["add"] != "" {
		t.Fatalf("two services' add should be shown qualified:\n%s", fns)
	}
	s.choose(fns, "wait")
	<-waiting // the call has reached the service
	s.interrupts <- struct{}{}
	s.Expect("Call of wait() cancelled.\n")
	fns = s.Expect("Select functionality: ")

	// Ctrl-C while typing an argument abandons the function.
	s.choose(fns, "tst.add")
	s.Expect("Please input a (First number): ")
	s.interrupts <- struct{}{}
	s.Expect("Cancelled tst.add().\n")
	s.Expect("Select functionality: ")

	s.interrupts <- struct{}{}
	if code := s.exit(); code != exitInterrupted {
		t.Fatalf("exit code %d after Ctrl-C at the menu, want %d", code, exitInterrupted)
	}
}

// Errors other than "not available" are shown with their code, and the
// session goes on with the same menu.
func TestShell_ErrorCodes(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	startExtra(t, sys.url, nil)

	s := startShell(t, sys.url, "--app", "test")
	fns := s.Expect("Select functionality: ")
	for _, tc := range []struct {
		fn, arg, want string
	}{
		{"positive", "-1", "Error when calling positive(): bad arguments (400): n must not be negative, got -1\n"},
		{"fail", "", "Error when calling fail(): the service failed (500): it broke\n"},
		{"clash", "", "Error when calling clash(): conflict (409): the thing changed meanwhile\nThe call was refused because"},
		{"nap", "", "Error when calling nap(): no reply within 100ms (timeout).\n"},
	} {
		s.choose(fns, tc.fn)
		if tc.arg != "" {
			s.Expect("Please input n (A number): ")
			s.Send(tc.arg)
		}
		s.Expect(tc.want)
		fns = s.Expect("Select functionality: ")
		if menu(fns)[tc.fn] == "" {
			t.Fatalf("after %s the menu lost it:\n%s", tc.fn, fns)
		}
	}
	s.Send("0")
	if code := s.exit(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// The session outlives a hub restart: the connection comes back, the
// services announce themselves again, and calls work after a refresh.
func TestShell_SurvivesHubRestart(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	s := startShell(t, sys.url, "--app", "test")
	fns := s.Expect("Select functionality: ")
	add := menu(fns)["add"]

	port, data := sys.hub.port(), sys.hub.data
	sys.hub.stop()
	s.Expect("lost the hub")
	h := startHub(t, port, data)
	t.Cleanup(func() { // before this hub stops, so that they withdraw
		sys.tst.stop()
		sys.textutil.stop()
	})
	s.Expect("connected to the hub again")
	waitCatalog(t, h.url, "tst.add", true)

	s.Send("2") // refresh
	fns = s.Expect("Select functionality: ")
	if menu(fns)["add"] != add {
		t.Fatalf("after the restart add is not entry %s:\n%s", add, fns)
	}
	s.Send(add)
	s.Expect("Please input a (First number): ")
	s.Send("1")
	s.Expect("Please input b (Second number): ")
	s.Send("2")
	s.Expect("Result: 3\n")
	s.Send("0")
	if code := s.exit(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// Without a hub the interactive mode ends at once, as K-app did.
func TestShell_NoHub(t *testing.T) {
	t.Parallel()
	s := startShell(t, "nats://127.0.0.1:1")
	s.Expect("cannot reach the hub at nats://127.0.0.1:1")
	if code := s.exit(); code != exitUnavailable {
		t.Fatalf("exit code %d, want %d", code, exitUnavailable)
	}
}

// cachedAge is a result from the cache: "Result: 83 (cached 3 s ago)", or
// "…; the service is not available)" while it is not.
var cachedAge = regexp.MustCompile(`^Result: 83 \(cached (just now|\d+ s ago)(; the service is not available)?\)\n$`)

// A service killed with SIGKILL (it withdraws nothing) and started again:
// the menu on the screen still offers its functions, and choosing one
// says at once that it is not available, without asking for arguments;
// the menu then follows the catalog by itself — without refresh — saying
// that tst has gone, and later that it is back.
func TestShell_FollowsServiceKilledAndRestarted(t *testing.T) {
	t.Parallel()
	h := startHub(t, -1, t.TempDir())
	waitCatalog(t, h.url, "hub.save", true)
	tst := startServiceProcess(t, h.url, "tst")
	waitCatalog(t, h.url, "tst.split", true)

	s := startShell(t, h.url, "--app", "test")
	fns := s.Expect("Select functionality: ")
	tst.Kill()
	s.choose(fns, "split")
	// "answers", or "answered within 2s" if the server routed the PING to
	// the dead process before it noticed its connection closed.
	if got := s.Expect("split is not available at the moment: no instance of tst answer"); strings.Contains(got, "Please input") {
		t.Fatalf("arguments asked for before saying split is not available:\n%s", got)
	}
	// The menu drawn next says so of all tst's functions, if the catalog
	// has not dropped them yet.
	seen := s.Expect("Select functionality: ")
	if strings.Contains(seen, "Please input") {
		t.Fatalf("arguments asked for after saying split is not available:\n%s", seen)
	}
	if !strings.Contains(seen, "tst does not answer at the moment: its functions are not available.\n") && !strings.Contains(seen, "tst has gone.\n") {
		t.Fatalf("the menu drawn next does not say that tst's functions are not available:\n%s", seen)
	}

	// An empty line draws the menu again: once the catalog has dropped tst,
	// so has the menu (the menu drawn after the message may have already).
	waitCatalog(t, h.url, "tst.split", false)
	s.Send("")
	fns = s.Expect("Select functionality: ")
	seen += fns
	if !strings.Contains(seen, "tst has gone.\n") || menu(fns)["split"] != "" || menu(fns)["nopKserv"] == "" {
		t.Fatalf("the menu has not followed tst's going:\n%s", seen)
	}

	startServiceProcess(t, h.url, "tst")
	waitCatalog(t, h.url, "tst.split", true)
	s.Send("")
	fns = s.Expect("Select functionality: ")
	if !strings.Contains(fns, "tst is back.\n") || menu(fns)["split"] == "" {
		t.Fatalf("the menu has not followed tst's return:\n%s", fns)
	}
	s.choose(fns, "add")
	s.Expect("Please input a (First number): ")
	s.Send("2")
	s.Expect("Please input b (Second number): ")
	s.Send("3")
	s.Expect("Result: 5\n")
	s.Send("0")
	if code := s.exit(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// serviceBinary is dpc-service, built on first use next to the other
// binaries (only the tests that kill a service need it).
var serviceBinary = sync.OnceValues(func() (string, error) {
	bins, err := proctest.Build(filepath.Dir(hubBinary), "./cmd/dpc-service")
	return bins["./cmd/dpc-service"], err
})

// startServiceProcess runs dpc-service NAME against the hub at url, as
// its owner, until the test ends.
func startServiceProcess(t *testing.T, url, name string) *proctest.Process {
	t.Helper()
	bin, err := serviceBinary()
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{"--nats", url}, auth(url)...), "--log-format", "json", name)
	return proctest.Start(t, "dpc-service "+name, exec.Command(bin, args...))
}
