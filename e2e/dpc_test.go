package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestDPC walks through the thesis's prototype session and its failure
// cases with real processes: a hub, two instances of tst, textutil, and
// dpc-cli both interactive and by subcommands.
func TestDPC(t *testing.T) {
	port := freePort(t)
	data := t.TempDir()
	hub, url := startHub(t, port, data)
	hubLog := func() string { return hub.Output().String() }
	tst1 := startService(t, url, "tst")
	tst2 := startService(t, url, "tst")
	textutil := startService(t, url, "textutil")
	eventually(t, 30*time.Second, func() bool {
		f := funcs(t, url)
		return f["tst.add"] == 2 && f["textutil.upper"] == 1
	}, "both tst instances and textutil in the catalog")

	sh := startSession(t, url)
	menu := sh.Expect("Select application (enter application number): ")
	sh.Send(choice(t, menu, "test"))

	t.Run("interactive call, as in the thesis", func(t *testing.T) {
		menu := sh.Expect("Select functionality: ")
		sh.Send(choice(t, menu, "add"))
		sh.Expect("Please input a (")
		sh.Send("45")
		sh.Expect("Please input b (")
		sh.Send("forty")
		sh.Expect("Invalid int for b")
		sh.Expect("Please input b (")
		sh.Send("38")
		sh.Expect("Result: 83")
	})

	t.Run("subcommands", func(t *testing.T) {
		if r := cli(t, url, "call", "add", "45", "38"); r.code != 0 || strings.TrimSpace(r.stdout) != "83" {
			t.Fatalf("call add 45 38: %+v", r)
		}
		if r := cli(t, url, "call", "tst.split", "text=a b c", "separator= "); r.code != 0 || !strings.Contains(r.stdout, "a, b, c") {
			t.Fatalf("call split: %+v", r)
		}
		if r := cli(t, url, "--json", "call", "add", "1", "2"); r.code != 0 || !strings.Contains(r.stdout, `"result":3`) && !strings.Contains(r.stdout, `"result": 3`) {
			t.Fatalf("call --json: %+v", r)
		}
		if r := cli(t, url, "call", "add", "x", "2"); r.code != 2 || !strings.Contains(r.stderr, "a") {
			t.Fatalf("call add x 2: exit %d, %q; want 2 naming the argument", r.code, r.stderr)
		}
		if r := cli(t, url, "apps"); r.code != 0 || !strings.Contains(r.stdout, "notes") || !strings.Contains(r.stdout, "test") {
			t.Fatalf("apps: %+v", r)
		}
		if r := cli(t, url, "--app", "notes", "funcs"); r.code != 0 || !strings.Contains(r.stdout, "upper") || strings.Contains(r.stdout, "addMany") {
			t.Fatalf("funcs --app notes: %+v", r)
		}
		if r := cli(t, url, "status"); r.code != 0 || !strings.Contains(r.stdout, "tst") {
			t.Fatalf("status: %+v", r)
		}
	})

	note := filepath.Join(t.TempDir(), "shopping")
	if err := os.WriteFile(note, []byte("milk\nbread\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("notes", func(t *testing.T) {
		if r := cli(t, url, "notes", "save", note); r.code != 0 {
			t.Fatalf("notes save: %+v", r)
		}
		if r := cli(t, url, "notes", "get", "shopping"); r.code != 0 || r.stdout != "milk\nbread\n" {
			t.Fatalf("notes get: %+v", r)
		}
	})

	t.Run("a killed instance: calls go to the other", func(t *testing.T) {
		tst1.Kill()
		for i := range 10 {
			if r := cli(t, url, "call", "add", "1", "2"); r.code != 0 || strings.TrimSpace(r.stdout) != "3" {
				t.Fatalf("call %d after one instance died: %+v", i, r)
			}
		}
		eventually(t, 15*time.Second, func() bool { return funcs(t, url)["tst.add"] == 1 }, "the dead instance to leave the catalog")
	})

	t.Run("the last instance killed: unavailable at once, gone within seconds", func(t *testing.T) {
		tst2.Kill()
		// The call must follow the hub's noticing the closed socket: sent
		// before that, it is delivered to the dead subscription and times
		// out, which no client can tell from a slow instance.
		waitNoSubscriber(t, url, "dpc.svc.tst.add")
		start := time.Now()
		r := cli(t, url, "call", "tst.add", "1", "2")
		if r.code != 3 {
			t.Fatalf("call with no instance: exit %d (%q), want 3 unavailable", r.code, r.stderr)
		}
		t.Logf("unavailable reported after %s", time.Since(start).Round(time.Millisecond))
		eventually(t, 15*time.Second, func() bool { _, ok := funcs(t, url)["tst.add"]; return !ok }, "tst to leave the catalog")

		// The interactive session says so before asking for arguments, and
		// its next menu, read from the catalog, says that tst has gone.
		menu := sh.Expect("Select functionality: ")
		sh.Send(choice(t, menu, "split"))
		if got := sh.Expect("split is not available at the moment: no instance of tst answer"); strings.Contains(got, "Please input") {
			t.Fatalf("arguments asked for before saying split is not available:\n%s", got)
		}
		menu = sh.Expect("Select functionality: ")
		if !strings.Contains(menu, "tst has gone.\n") || strings.Contains(menu, " add\n") {
			t.Fatalf("the next menu still offers add:\n%s", menu)
		}
		sh.Send("2") // refresh, for the next step's menu
	})

	parent := t
	t.Run("the service restarted: back by itself", func(t *testing.T) {
		startService(parent, url, "tst") // lives on after this step
		eventually(t, 30*time.Second, func() bool { return funcs(t, url)["tst.add"] == 1 }, "tst to come back")
		if r := cli(t, url, "call", "add", "2", "2"); r.code != 0 || strings.TrimSpace(r.stdout) != "4" {
			t.Fatalf("call after restart: %+v", r)
		}
	})

	t.Run("the hub killed and restarted: everything reconnects, notes intact", func(t *testing.T) {
		hub.Kill()
		if r := cli(t, url, "call", "add", "1", "1"); r.code != 3 {
			t.Fatalf("call with the hub down: exit %d, want 3", r.code)
		}
		hub, _ = startHub(parent, port, data)
		eventually(t, 30*time.Second, func() bool {
			f := funcs(t, url)
			return f["tst.add"] == 1 && f["textutil.upper"] == 1 && f["hub.save"] == 1
		}, "the catalog to be rebuilt from the live services")
		if r := cli(t, url, "call", "add", "20", "22"); r.code != 0 || strings.TrimSpace(r.stdout) != "42" {
			t.Fatalf("call after the hub restart: %+v", r)
		}
		if r := cli(t, url, "notes", "get", "shopping"); r.code != 0 || r.stdout != "milk\nbread\n" {
			t.Fatalf("note after the hub restart: %+v", r)
		}
		// The interactive session reconnected by itself too.
		eventually(t, 30*time.Second, func() bool {
			sh.Expect("Select functionality: ")
			sh.Send("2") // refresh
			menu := sh.Expect("Select functionality: ")
			if strings.Contains(menu, " add\n") {
				return true
			}
			sh.Send("2")
			return false
		}, "the interactive session to list add again")
		sh.Send("2")
		menu := sh.Expect("Select functionality: ")
		sh.Send(choice(t, menu, "add"))
		sh.Expect("Please input a (")
		sh.Send("40")
		sh.Expect("Please input b (")
		sh.Send("2")
		sh.Expect("Result: 42")
	})

	t.Run("graceful stops", func(t *testing.T) {
		sh.Send("0")
		sh.Expect("Quitting...")
		if err := textutil.Stop(30 * time.Second); err != nil {
			t.Fatalf("textutil after SIGTERM: %v", err)
		}
		if !strings.Contains(textutil.Output().String(), "stopped") {
			t.Fatalf("textutil did not say it stopped:\n%s", textutil.Output().String())
		}
		// It withdrew: the catalog says so, rather than noticing silence.
		eventually(t, 10*time.Second, func() bool {
			return strings.Contains(hubLog(), `"service":"textutil"`) && strings.Contains(hubLog(), `"why":"withdrew"`)
		}, "the hub to log textutil's withdrawal")
	})
}

// waitNoSubscriber waits until a request on subject finds nobody: the hub
// has seen the socket of its last subscriber close.
func waitNoSubscriber(t *testing.T, url, subject string) {
	t.Helper()
	nc := connectOwner(t, url)
	defer nc.Close()
	eventually(t, 10*time.Second, func() bool {
		_, err := nc.Request(subject, []byte("[1,2]"), 100*time.Millisecond)
		return errors.Is(err, nats.ErrNoResponders)
	}, "the hub to drop the subscription of "+subject)
}
