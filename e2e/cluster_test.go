package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Issue 9's evidence for a cluster of hubs: three dpc-hub processes on
// loopback, formed as docs/RELIABILITY.md says, under sustained load from
// clients on every hub (idempotent calls of tst.add, durable sends to a
// service that records what it handled, note saves and reads through the
// hub's built-ins). One hub is killed with SIGKILL in the middle and
// restarted on its data directory and ports; then the whole cluster is
// stopped and started again. The test asserts what a user would notice
// and logs the figures that docs/RELIABILITY.md quotes.
func TestCluster_KillRejoinAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("three hubs as processes under load")
	}
	began := time.Now()
	m := newMachine(t)
	c := formCluster(t, m)
	t.Logf("cluster formed in %s (%s)", time.Since(began).Round(time.Millisecond), c)

	// Two instances of tst, on different hubs; clients on every hub.
	proctest.Start(t, "dpc-service tst (hub1)", m.command(nil, bins.service, "--nats", c.hubs[0].url, "--log-format", "json", "tst"))
	proctest.Start(t, "dpc-service tst (hub2)", m.command(nil, bins.service, "--nats", c.hubs[1].url, "--log-format", "json", "tst"))
	clients := make([]*clusterClient, len(c.hubs))
	for i, h := range c.hubs {
		clients[i] = c.connect(t, fmt.Sprintf("e2e client %d", i), h.url)
	}
	waitInstances(t, clients[2].node, "tst", 2)

	// The recorder: the service durable calls go to, one instance on each
	// hub's connection, counting every call it handles.
	rec := newRecorder()
	rec.bindAll(t, clients)

	// Each client's note, saved once before the load.
	notesAt := make([]noteState, len(clients))
	for i, cl := range clients {
		name := fmt.Sprintf("load-%d.txt", i)
		rev, _, _, err := saveNote(cl.hub(), name, "start", 0)
		if err != nil {
			t.Fatalf("save %s through hub %d: %v", name, i+1, err)
		}
		notesAt[i] = noteState{name: name, rev: rev, content: "start"}
	}

	// ---- Load, with one hub killed and restarted in the middle. ----
	victimIdx := c.indexOf(clients[0].nc.ConnectedUrl())
	if victimIdx < 0 {
		t.Fatalf("client 0 is connected to %q, none of the hubs", clients[0].nc.ConnectedUrl())
	}
	victim := c.hubs[victimIdx]
	led := &ledger{}
	lctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, cl := range clients {
		for range 2 {
			wg.Go(func() { addLoad(lctx, cl, i, led) })
		}
		wg.Go(func() { durableLoad(lctx, cl, i, led) })
		wg.Go(func() { notesAt[i] = noteLoad(lctx, cl, i, led, notesAt[i]) })
	}
	loadStart := time.Now()
	// Kill once every client has done each kind of operation at least 20
	// times, so the kill hits a cluster under load.
	eventually(t, 20*time.Second, func() bool { return led.everyClientDid(len(clients), 20) }, "every client calls, sends and saves notes")
	killAt := time.Now()
	victim.proc.Kill()
	t.Logf("killed %s (kill -9) at %s, %s into the load; client 0 was connected to it", victim.name, killAt.UTC().Format("15:04:05.000"), killAt.Sub(loadStart).Round(time.Millisecond))

	// Every client succeeds again, at every kind of operation.
	if !within(30*time.Second, func() bool { return led.everyClientSucceededSince(len(clients), killAt) }) {
		t.Fatalf("not within 30s: every client's calls, sends and note operations succeed again after the kill; without a success since:\n%s", led.stalled(len(clients), killAt))
	}

	// The killed hub comes back on its data directory and ports, while the
	// load goes on.
	restartAt := time.Now()
	victim.start(t, c)
	victim.waitReady(t, 45*time.Second)
	rejoinReady := time.Since(restartAt)
	c.waitRoutes(t, victim, 20*time.Second)
	c.waitStreamsCurrent(t, clients[1].nc, 30*time.Second)
	rejoinCurrent := time.Since(restartAt)
	// More load with the cluster whole again.
	eventually(t, 20*time.Second, func() bool { return led.everyClientSucceededSince(len(clients), time.Now().Add(-time.Second)) }, "load after the rejoin")
	stopLoad()
	waitGroup(t, &wg, 60*time.Second, "the load's workers to finish their last operations")
	loadEnd := time.Now()

	// Every durable call that was sent is handled, at least once.
	sent := led.sentIDs()
	eventually(t, 30*time.Second, func() bool { return rec.missing(sent) == 0 }, fmt.Sprintf("every durable call sent is handled (%d missing)", rec.missing(sent)))
	kill := led.figures(len(clients), killAt, rec)
	kill.log(t, "kill -9 of "+victim.name)
	if r := led.retriedErrors(3); len(r) > 0 {
		t.Logf("kill: first attempts that failed and were retried: %v", r)
	}
	t.Logf("kill: load ran %s with clients on every hub; %s restarted %s after the kill, ready in %s, every stream's replicas current %s after its start",
		loadEnd.Sub(loadStart).Round(time.Millisecond), victim.name, restartAt.Sub(killAt).Round(time.Millisecond),
		rejoinReady.Round(time.Millisecond), rejoinCurrent.Round(time.Millisecond))

	// The rejoined hub serves: a connection to it alone reaches both tst
	// instances (wherever they are), and the notes through its built-ins.
	checkThrough(t, c, victim, notesAt)

	if kill.addFailed != 0 {
		t.Errorf("%d of %d idempotent calls failed across the kill; want 0: %v", kill.addFailed, kill.adds, led.firstErrors("add", 3))
	}
	if kill.lost != 0 {
		t.Errorf("%d of %d durable calls sent (acknowledged by the stream) were never handled", kill.lost, kill.durableSent)
	}
	if kill.durableUnsent != 0 {
		t.Errorf("%d durable sends never succeeded within 30 s of retries: %v", kill.durableUnsent, led.firstErrors("durable", 3))
	}
	if kill.noteFailed != 0 {
		// A read that misses the revision just saved (a 404 "no revision
		// N" or "revision N is no longer kept") is a replica answering
		// before it has applied the save: see staleRead.
		t.Errorf("%d of %d note operations failed even when retried (%d of them reads that missed the revision just saved): %v",
			kill.noteFailed, kill.noteOps, kill.noteStale, led.firstErrors("note", 3))
	}

	// ---- The whole cluster stopped and started again. ----
	// Durable calls sent while no instance of their service is bound wait
	// in the stream: they must survive the restart.
	rec.unbindAll(t)
	const pending = 300
	var pendingIDs []string
	for k := range pending {
		id := fmt.Sprintf("pending-%d", k)
		if tries, _, err := sendDurable(clients[k%len(clients)], id); err != nil {
			t.Fatalf("durable send %s (%d tries): %v", id, tries, err)
		}
		pendingIDs = append(pendingIDs, id)
	}
	if n, err := clients[0].node.DurableBacklog(context.Background(), "rec"); err != nil || n != pending {
		t.Fatalf("durable backlog of rec before the restart: %d %v; want %d", n, err, pending)
	}
	// The notes as they are now.
	for i, cl := range clients {
		var text string
		if err := cl.hub().Call(context.Background(), "get", omq.Args(notesAt[i].name, 0), &text, omq.Idempotent(), omq.Timeout(10*time.Second)); err != nil || text != notesAt[i].content {
			t.Fatalf("note %s before the restart: %q %v; want %q", notesAt[i].name, text, err, notesAt[i].content)
		}
	}
	// Idempotent calls keep going through the restart, from every client.
	rled := &ledger{}
	rctx, stopRestartLoad := context.WithCancel(context.Background())
	var rwg sync.WaitGroup
	for i, cl := range clients {
		rwg.Go(func() { addLoad(rctx, cl, i, rled) })
	}
	eventually(t, 10*time.Second, func() bool { return rled.everyClientDidKind(len(clients), "add", 5) }, "calls before the restart")

	stopAt := time.Now()
	c.stopAll(t, 30*time.Second)
	stopped := time.Since(stopAt)
	startAt := time.Now()
	for _, h := range c.hubs {
		h.start(t, c)
	}
	for _, h := range c.hubs {
		h.waitReady(t, 45*time.Second)
	}
	allReady := time.Since(startAt)
	eventually(t, 30*time.Second, func() bool { return rled.everyClientSucceededSince(len(clients), startAt) }, "calls succeed on every client after the restart")
	stopRestartLoad()
	waitGroup(t, &rwg, 30*time.Second, "the restart load's callers")
	c.waitStreamsCurrent(t, clients[0].nc, 30*time.Second)

	// The durable calls sent before the restart are all there.
	if n, err := clients[0].node.DurableBacklog(context.Background(), "rec"); err != nil || n != pending {
		t.Errorf("durable backlog of rec after the restart: %d %v; want %d", n, err, pending)
	}
	rec2 := newRecorder()
	rec2.bindAll(t, clients)
	eventually(t, 30*time.Second, func() bool { return rec2.missing(pendingIDs) == 0 }, fmt.Sprintf("the durable calls sent before the restart are handled after it (%d missing)", rec2.missing(pendingIDs)))
	rlost, rdup, rstray := rec2.tally(pendingIDs)
	// The notes are there, and writable.
	for i, cl := range clients {
		var text string
		if err := cl.hub().Call(context.Background(), "get", omq.Args(notesAt[i].name, 0), &text, omq.Idempotent(), omq.Timeout(10*time.Second)); err != nil || text != notesAt[i].content {
			t.Errorf("note %s after the restart: %q %v; want %q (revision %d)", notesAt[i].name, text, err, notesAt[i].content, notesAt[i].rev)
		}
		if _, _, _, err := saveNote(cl.hub(), notesAt[i].name, "after the restart", notesAt[i].rev); err != nil {
			t.Errorf("save %s through hub %d after the restart: %v", notesAt[i].name, i+1, err)
		}
	}
	rf := rled.figures(len(clients), stopAt, newRecorder())
	t.Logf("full restart: SIGTERM to all three at %s; stopped (lame duck) in %s; all three ready %s after they were started again",
		stopAt.UTC().Format("15:04:05.000"), stopped.Round(time.Millisecond), allReady.Round(time.Millisecond))
	t.Logf("full restart: idempotent calls across it %d, failed %d (timeout 15 s), slowest %s, longest gap between successes on a client %s; durable calls pending across it %d, lost %d, handled twice %d, unexpected %d; %d notes intact and writable",
		rf.adds, rf.addFailed, rf.addMax.Round(time.Millisecond), rf.gap["add"].Round(time.Millisecond), pending, rlost, rdup, rstray, len(notesAt))
	if rf.addFailed > 0 {
		t.Logf("full restart: the failed calls: %v", rled.firstErrors("add", 3))
	}
	if rlost != 0 || rdup != 0 || rstray != 0 {
		t.Errorf("durable calls across the restart: %d lost, %d handled twice, %d unexpected; want none", rlost, rdup, rstray)
	}
	t.Logf("the whole test took %s", time.Since(began).Round(time.Millisecond))
}

// ---- The cluster ----

// clusterHub is one dpc-hub process of the cluster and what it keeps
// across restarts: its data directory and its ports.
type clusterHub struct {
	name                    string // hub1, hub2, hub3
	dir                     string
	port, routePort, httpPt int
	url                     string // tls://127.0.0.1:port
	proc                    *proctest.Process
	single                  bool // a hub alone: no cluster flags
}

// hubCluster is the three hubs, run on the machine m (whose DPC profile
// the first hub installs).
type hubCluster struct {
	m    *machine
	hubs []*clusterHub
}

func (c *hubCluster) String() string {
	var s []string
	for _, h := range c.hubs {
		s = append(s, fmt.Sprintf("%s %s route :%d", h.name, h.url, h.routePort))
	}
	return strings.Join(s, ", ")
}

// command is the hub's command line: docs/RELIABILITY.md's, on loopback,
// with the monitoring port on (to check the routes), JSON logs, the quick
// catalog the other e2e tests use, and a shorter lame duck.
func (h *clusterHub) command(c *hubCluster) *exec.Cmd {
	if h.single {
		return c.m.command(nil, bins.hub, "--data", h.dir, "--host", "127.0.0.1", fmt.Sprintf("--port=%d", h.port),
			fmt.Sprintf("--http-port=%d", h.httpPt), "--metrics=",
			"--log-format", "json", "--sweep-interval", "200ms", "--expiry", "1s")
	}
	var routes []string
	for _, o := range c.hubs {
		if o != h {
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", o.routePort))
		}
	}
	return c.m.command(nil, bins.hub, "--data", h.dir, "--host", "127.0.0.1", fmt.Sprintf("--port=%d", h.port),
		"--cluster-name", "home", "--cluster-host", "127.0.0.1", fmt.Sprintf("--cluster-port=%d", h.routePort),
		"--routes", strings.Join(routes, ","),
		fmt.Sprintf("--http-port=%d", h.httpPt), "--metrics=",
		"--log-format", "json", "--sweep-interval", "200ms", "--expiry", "1s", "--lame-duck", "2s")
}

func (h *clusterHub) start(t *testing.T, c *hubCluster) {
	t.Helper()
	h.proc = proctest.Start(t, h.name, h.command(c))
}

// waitReady waits for the hub's ready line, and fails at once if the hub
// gives up instead (its last words: "dpc-hub: <error>").
func (h *clusterHub) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		rec, err := proctest.WaitForLog(ctx, h.proc.Output(), "dpc-hub ready")
		cancel()
		if err == nil {
			if url, _ := rec["nats"].(string); url != h.url {
				t.Fatalf("%s reports client URL %q, want %s", h.name, url, h.url)
			}
			return
		}
		for line := range strings.Lines(h.proc.Output().String()) {
			if strings.HasPrefix(line, "dpc-hub: ") {
				t.Fatalf("%s exited instead of becoming ready: %s", h.name, strings.TrimSpace(line))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready within %s", h.name, timeout)
		}
	}
}

// formCluster starts three hubs as docs/RELIABILITY.md says: the first
// makes the identity as it starts; the other two get a copy of its
// authority and CA before their first start.
func formCluster(t *testing.T, m *machine) *hubCluster {
	t.Helper()
	root := t.TempDir()
	ports := freePorts(t, 9)
	c := &hubCluster{m: m}
	for i := range 3 {
		c.hubs = append(c.hubs, &clusterHub{
			name: fmt.Sprintf("hub%d", i+1), dir: filepath.Join(root, fmt.Sprintf("hub%d", i+1)),
			port: ports[3*i], routePort: ports[3*i+1], httpPt: ports[3*i+2],
			url: fmt.Sprintf("tls://127.0.0.1:%d", ports[3*i]),
		})
	}
	first := c.hubs[0]
	first.start(t, c)
	// The identity the first hub makes: the files to copy.
	files := []string{
		filepath.Join("identity", "authority.json"),
		filepath.Join("identity", "tls", "ca.pem"),
		filepath.Join("identity", "tls", "ca-key.pem"),
	}
	eventually(t, 20*time.Second, func() bool {
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(first.dir, f)); err != nil {
				return false
			}
		}
		return true
	}, "the first hub makes its identity")
	for _, h := range c.hubs[1:] {
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(first.dir, f))
			if err != nil {
				t.Fatal(err)
			}
			// As cp and chmod go= would: the files are secrets.
			if err := trust.WriteSecret(filepath.Join(h.dir, f), b); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, h := range c.hubs[1:] {
		h.start(t, c)
	}
	for _, h := range c.hubs {
		h.waitReady(t, 45*time.Second)
	}
	// Only the first hub made an owner, and installed its profile.
	p := m.profile(t)
	if p.Role != trust.RoleOwner || len(p.URLs) != 1 || p.URLs[0] != first.url {
		t.Fatalf("the profile installed is %+v; want the owner's, at %s", p, first.url)
	}
	for _, h := range c.hubs[1:] {
		if _, err := os.Stat(filepath.Join(h.dir, "identity", "made-here")); err == nil {
			t.Errorf("%s, given a copy of the identity, says it made it", h.name)
		}
	}
	return c
}

// indexOf is the hub whose client URL is url (as nats.go reports it), or -1.
func (c *hubCluster) indexOf(url string) int {
	for i, h := range c.hubs {
		if strings.TrimPrefix(url, "tls://") == strings.TrimPrefix(h.url, "tls://") {
			return i
		}
	}
	return -1
}

// stopAll stops every hub at once with SIGTERM, as a shutdown of their
// machines would, and waits for them to exit.
func (c *hubCluster) stopAll(t *testing.T, timeout time.Duration) {
	t.Helper()
	for _, h := range c.hubs {
		if err := h.proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("SIGTERM %s: %v", h.name, err)
		}
	}
	for _, h := range c.hubs {
		if err := h.proc.Wait(timeout); err != nil {
			t.Errorf("%s exited with %v after SIGTERM", h.name, err)
		}
	}
}

// waitRoutes waits until h's monitoring port shows routes to both other
// hubs.
func (c *hubCluster) waitRoutes(t *testing.T, h *clusterHub, timeout time.Duration) {
	t.Helper()
	peers := func() (map[string]bool, error) {
		var rz struct {
			Routes []struct {
				RemoteName string `json:"remote_name"`
			} `json:"routes"`
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/routez", h.httpPt))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&rz); err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for _, r := range rz.Routes {
			out[r.RemoteName] = true
		}
		return out, nil
	}
	deadline := time.Now().Add(timeout)
	for {
		ps, err := peers()
		if err == nil && len(ps) == len(c.hubs)-1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s has routes to the two other hubs; last: %v %v", timeout, h.name, ps, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitStreamsCurrent waits until every stream of the DPC account has a
// leader and every one of its replicas is online and current.
func (c *hubCluster) waitStreamsCurrent(t *testing.T, nc *nats.Conn, timeout time.Duration) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	deadline := time.Now().Add(timeout)
	for {
		last = streamsNotCurrent(js)
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: every stream's replicas current; last: %s", timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// streamsNotCurrent says which streams lack a leader or a current replica
// ("" if none).
func streamsNotCurrent(js jetstream.JetStream) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var bad []string
	names := js.StreamNames(ctx)
	n := 0
	for name := range names.Name() {
		n++
		st, err := js.Stream(ctx, name)
		if err != nil {
			bad = append(bad, name+": "+err.Error())
			continue
		}
		cl := st.CachedInfo().Cluster
		switch {
		case cl == nil || cl.Leader == "":
			bad = append(bad, name+": no leader")
		case len(cl.Replicas) != 2:
			bad = append(bad, fmt.Sprintf("%s: %d replicas besides the leader", name, len(cl.Replicas)))
		default:
			for _, r := range cl.Replicas {
				if !r.Current || r.Offline {
					bad = append(bad, fmt.Sprintf("%s: replica %s current=%v offline=%v lag=%d", name, r.Name, r.Current, r.Offline, r.Lag))
				}
			}
		}
	}
	if err := names.Err(); err != nil {
		bad = append(bad, "stream names: "+err.Error())
	} else if n == 0 {
		bad = append(bad, "no streams")
	}
	return strings.Join(bad, "; ")
}

// ---- Clients ----

// clusterClient is a client connected to one hub as the owner, through the
// profile the first hub installed, that follows the cluster when its hub
// goes.
type clusterClient struct {
	nc   *nats.Conn
	node *omq.Node
}

func (cl *clusterClient) hub() *omq.Stub { return cl.node.Lookup("hub") }

func (c *hubCluster) connect(t *testing.T, name, url string) *clusterClient {
	t.Helper()
	conn, err := trust.Connection{URLs: []string{url}}.Resolve(c.m.dpcHome)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := conn.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(conn.URL(), append(opts, nats.Name(name), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond), nats.ReconnectJitter(50*time.Millisecond, 50*time.Millisecond),
		nats.Timeout(5*time.Second))...)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	node, err := omq.New(nc, omq.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return &clusterClient{nc: nc, node: node}
}

func waitInstances(t *testing.T, node *omq.Node, service string, n int) {
	t.Helper()
	eventually(t, 20*time.Second, func() bool {
		ps, err := node.Ping(context.Background(), service)
		return err == nil && len(ps) == n
	}, fmt.Sprintf("%d instances of %s answer", n, service))
}

// checkThrough checks the restarted hub from a connection to it alone:
// every tst instance (at least one on another hub) answers through it, and
// its built-ins read and save notes.
func checkThrough(t *testing.T, c *hubCluster, h *clusterHub, notesAt []noteState) {
	t.Helper()
	conn, err := trust.Connection{URLs: []string{h.url}}.Resolve(c.m.dpcHome)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := conn.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(conn.URL(), append(opts, nats.Name("e2e through "+h.name), nats.NoReconnect())...)
	if err != nil {
		t.Fatalf("connect to the restarted %s: %v", h.name, err)
	}
	defer nc.Close()
	if got := nc.ConnectedUrl(); c.indexOf(got) < 0 || c.hubs[c.indexOf(got)] != h {
		t.Fatalf("connected to %s, not the restarted %s", got, h.name)
	}
	node, err := omq.New(nc, omq.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ps, err := node.Ping(ctx, "tst")
	if err != nil || len(ps) != 2 {
		t.Fatalf("tst instances seen through %s: %d %v; want 2", h.name, len(ps), err)
	}
	for _, p := range ps {
		var sum int
		if err := node.Lookup("tst").At(p.ID).Call(ctx, "add", omq.Args(20, 22), &sum, omq.Idempotent()); err != nil || sum != 42 {
			t.Errorf("tst instance %s through %s: %d %v", p.ID, h.name, sum, err)
		}
	}
	for _, n := range notesAt {
		var text string
		if err := node.Lookup("hub").Call(ctx, "get", omq.Args(n.name, n.rev), &text, omq.Idempotent()); err != nil || text != n.content {
			t.Errorf("note %s revision %d through %s: %q %v; want %q", n.name, n.rev, h.name, text, err, n.content)
		}
	}
	rev, _, _, err := saveNote(node.Lookup("hub"), "rejoined.txt", "saved through the rejoined hub", 0)
	if err != nil {
		t.Errorf("save through %s: %v", h.name, err)
	}
	var text string
	if err := node.Lookup("hub").Call(ctx, "get", omq.Args("rejoined.txt", rev), &text, omq.Idempotent()); err != nil || text != "saved through the rejoined hub" {
		t.Errorf("get through %s: %q %v", h.name, text, err)
	}
}

// ---- The recorder: a service that counts the durable calls it handles ----

type recorder struct {
	mu    sync.Mutex
	seen  map[string]int
	insts []*omq.Instance
}

func newRecorder() *recorder { return &recorder{seen: map[string]int{}} }

// bindAll binds one instance of rec on each client's connection. The
// first instance makes the durable consumer, with a short ack wait so
// that a call taken by an instance whose hub died is offered again soon.
func (r *recorder) bindAll(t *testing.T, clients []*clusterClient) {
	t.Helper()
	hs := omq.Handlers{"put": omq.HandlerFunc(func(_ context.Context, req *omq.Request) (any, error) {
		var id string
		if err := req.Decode(&id); err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.seen[id]++
		r.mu.Unlock()
		return nil, nil
	})}
	for _, cl := range clients {
		// As dpc-service does: a bind that fails (JetStream without a
		// leader for the consumer yet, after a restart) is tried again.
		deadline := time.Now().Add(30 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			inst, err := cl.node.Bind(ctx, "rec", hs, omq.AckWait(2*time.Second))
			cancel()
			if err == nil {
				r.insts = append(r.insts, inst)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("bind rec: %v", err)
			}
			t.Logf("bind rec failed; trying again: %v", err)
			time.Sleep(time.Second)
		}
	}
}

func (r *recorder) unbindAll(t *testing.T) {
	t.Helper()
	for _, inst := range r.insts {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := inst.Unbind(ctx)
		cancel()
		if err != nil {
			t.Fatalf("unbind rec: %v", err)
		}
	}
	r.insts = nil
}

// missing counts the ids not handled yet.
func (r *recorder) missing(ids []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, id := range ids {
		if r.seen[id] == 0 {
			n++
		}
	}
	return n
}

// tally: ids never handled, extra handlings of handled ones, and handled
// calls that are not among ids.
func (r *recorder) tally(ids []string) (lost, dup, stray int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
		switch n := r.seen[id]; {
		case n == 0:
			lost++
		case n > 1:
			dup += n - 1
		}
	}
	for id := range r.seen {
		if !want[id] {
			stray++
		}
	}
	return lost, dup, stray
}

// ---- The load ----

// op is one operation a client made, as its user saw it.
type op struct {
	kind       string // add, durable, note
	client     int
	start, end time.Time
	err        error  // the final outcome
	firstErr   error  // the first attempt's error (a durable send or a note save retried)
	tries      int    // attempts the client made
	id         string // a durable call's id
}

type ledger struct {
	mu  sync.Mutex
	ops []op
	// busy holds, per kind and client, when the operation in flight
	// started: a stall shows here, not in ops.
	busy map[string]time.Time
}

func busyKey(kind string, client int) string { return fmt.Sprintf("%s/%d", kind, client) }

// begin notes that client started an operation of kind.
func (l *ledger) begin(kind string, client int) time.Time {
	now := time.Now()
	l.mu.Lock()
	if l.busy == nil {
		l.busy = map[string]time.Time{}
	}
	l.busy[busyKey(kind, client)] = now
	l.mu.Unlock()
	return now
}

func (l *ledger) add(o op) {
	l.mu.Lock()
	l.ops = append(l.ops, o)
	delete(l.busy, busyKey(o.kind, o.client))
	l.mu.Unlock()
}

// stalled says, for each kind and client with no success since since, how
// its last operation ended and whether one is still in flight: what a
// failed wait for everyClientSucceededSince needs to be understood.
func (l *ledger) stalled(clients int, since time.Time) string {
	ops := l.snapshot()
	l.mu.Lock()
	busy := maps.Clone(l.busy)
	l.mu.Unlock()
	var out []string
	for _, k := range kinds {
		for c := range clients {
			ok, n := false, 0
			var last *op
			for i := range ops {
				o := &ops[i]
				if o.kind != k || o.client != c {
					continue
				}
				n++
				last = o
				if o.err == nil && o.start.After(since) {
					ok = true
				}
			}
			if ok || n == 0 {
				continue
			}
			s := fmt.Sprintf("%s of client %d: last ended %s, err %v, first err %v, %d tries",
				k, c, last.end.UTC().Format("15:04:05.000"), last.err, last.firstErr, last.tries)
			if b, inFlight := busy[busyKey(k, c)]; inFlight {
				s += fmt.Sprintf("; one in flight since %s", b.UTC().Format("15:04:05.000"))
			}
			out = append(out, s)
		}
	}
	return strings.Join(out, "\n")
}

func (l *ledger) snapshot() []op {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ops)
}

var kinds = []string{"add", "durable", "note"}

func (l *ledger) everyClientDid(clients, n int) bool {
	for _, k := range kinds {
		if !l.everyClientDidKind(clients, k, n) {
			return false
		}
	}
	return true
}

func (l *ledger) everyClientDidKind(clients int, kind string, n int) bool {
	counts := make([]int, clients)
	for _, o := range l.snapshot() {
		if o.kind == kind && o.err == nil {
			counts[o.client]++
		}
	}
	return slices.Min(counts) >= n
}

// everyClientSucceededSince: every client has an operation of every kind
// the ledger holds that started after since and succeeded.
func (l *ledger) everyClientSucceededSince(clients int, since time.Time) bool {
	ops := l.snapshot()
	for _, k := range kinds {
		seen, ok := false, make([]bool, clients)
		for _, o := range ops {
			if o.kind != k {
				continue
			}
			seen = true
			if o.err == nil && o.start.After(since) {
				ok[o.client] = true
			}
		}
		if seen && slices.Contains(ok, false) {
			return false
		}
	}
	return true
}

// succeededSince counts the operations of kind that started after since
// and succeeded.
func (l *ledger) succeededSince(kind string, since time.Time) int {
	n := 0
	for _, o := range l.snapshot() {
		if o.kind == kind && o.err == nil && o.start.After(since) {
			n++
		}
	}
	return n
}

// firstSuccessAfter is when the first operation of kind to succeed after
// t ended (zero if none has).
func (l *ledger) firstSuccessAfter(kind string, t time.Time) time.Time {
	var first time.Time
	for _, o := range l.snapshot() {
		if o.kind == kind && o.err == nil && o.end.After(t) && (first.IsZero() || o.end.Before(first)) {
			first = o.end
		}
	}
	return first
}

func (l *ledger) count(kind string) (n, failed int) {
	for _, o := range l.snapshot() {
		if o.kind == kind {
			n++
			if o.err != nil {
				failed++
			}
		}
	}
	return n, failed
}

func (l *ledger) firstErrors(kind string, n int) []string {
	var out []string
	for _, o := range l.snapshot() {
		if o.kind == kind && o.err != nil && len(out) < n {
			out = append(out, fmt.Sprintf("client %d at %s: %v", o.client, o.start.UTC().Format("15:04:05.000"), o.err))
		}
	}
	return out
}

// retriedErrors are the first attempts' errors of operations that
// succeeded when retried.
func (l *ledger) retriedErrors(n int) []string {
	var out []string
	for _, o := range l.snapshot() {
		if o.err == nil && o.firstErr != nil && len(out) < n {
			out = append(out, fmt.Sprintf("%s, client %d at %s: %v", o.kind, o.client, o.start.UTC().Format("15:04:05.000"), o.firstErr))
		}
	}
	return out
}

func (l *ledger) sentIDs() []string {
	var ids []string
	for _, o := range l.snapshot() {
		if o.kind == "durable" && o.err == nil {
			ids = append(ids, o.id)
		}
	}
	return ids
}

// killFigures are what the load saw across the kill.
type killFigures struct {
	adds, addFailed                       int
	addMax                                time.Duration // the slowest idempotent call
	durableSent, durableUnsent, sendRetry int           // sends acknowledged, never acknowledged, that needed more than one attempt
	lost, duplicated, stray               int
	noteOps, noteFailed, noteRetried      int
	noteStale                             int // reads that missed the revision just saved
	noteMax                               time.Duration
	// The longest time a client saw no successful operation of a kind,
	// around the kill: what a user notices as the outage.
	gap map[string]time.Duration
}

func (l *ledger) figures(clients int, killAt time.Time, rec *recorder) killFigures {
	ops := l.snapshot()
	f := killFigures{gap: map[string]time.Duration{}}
	for _, o := range ops {
		d := o.end.Sub(o.start)
		switch o.kind {
		case "add":
			f.adds++
			if o.err != nil {
				f.addFailed++
			}
			f.addMax = max(f.addMax, d)
		case "durable":
			if o.err != nil {
				f.durableUnsent++
			} else {
				f.durableSent++
			}
			if o.tries > 1 {
				f.sendRetry++
			}
		case "note":
			f.noteOps++
			if o.err != nil {
				f.noteFailed++
				if staleRead(o.err) {
					f.noteStale++
				}
			} else if o.firstErr != nil {
				f.noteRetried++
			}
			f.noteMax = max(f.noteMax, d)
		}
	}
	f.lost, f.duplicated, f.stray = rec.tally(l.sentIDs())
	for _, k := range kinds {
		for c := range clients {
			var ends []time.Time
			for _, o := range ops {
				if o.kind == k && o.client == c && o.err == nil {
					ends = append(ends, o.end)
				}
			}
			sort.Slice(ends, func(i, j int) bool { return ends[i].Before(ends[j]) })
			// The gap that spans the kill, or any longer one after it.
			for j := 1; j < len(ends); j++ {
				if ends[j].After(killAt) {
					f.gap[k] = max(f.gap[k], ends[j].Sub(ends[j-1]))
				}
			}
		}
	}
	return f
}

func (f killFigures) log(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s: idempotent calls %d, failed %d, slowest %s, longest gap between successes on a client %s",
		what, f.adds, f.addFailed, f.addMax.Round(time.Millisecond), f.gap["add"].Round(time.Millisecond))
	t.Logf("%s: durable sends acknowledged %d, never acknowledged %d, retried %d; lost %d, handled twice %d, unexpected %d; longest gap %s",
		what, f.durableSent, f.durableUnsent, f.sendRetry, f.lost, f.duplicated, f.stray, f.gap["durable"].Round(time.Millisecond))
	t.Logf("%s: note operations (save then get) %d, failed %d (%d reads missing the revision just saved), saves failed at first and retried successfully %d, slowest %s, longest gap %s",
		what, f.noteOps, f.noteFailed, f.noteStale, f.noteRetried, f.noteMax.Round(time.Millisecond), f.gap["note"].Round(time.Millisecond))
}

// staleRead says whether a note read failed because it did not find the
// revision its client had just saved: the hub's notes store reads
// JetStream with direct gets, which any replica answers, including one
// that has not yet applied the save.
func staleRead(err error) bool {
	return err != nil && strings.Contains(err.Error(), "get revision") &&
		(strings.Contains(err.Error(), "has no revision") || strings.Contains(err.Error(), "no longer kept"))
}

// pace waits d, or until ctx ends (false).
func pace(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// addLoad calls tst.add as an idempotent call until ctx ends; the call in
// flight then finishes.
func addLoad(ctx context.Context, cl *clusterClient, client int, led *ledger) {
	tst := cl.node.Lookup("tst")
	for ctx.Err() == nil {
		a, b := rand.IntN(1000), rand.IntN(1000)
		start := led.begin("add", client)
		var sum int
		err := tst.Call(context.Background(), "add", omq.Args(a, b), &sum, omq.Idempotent(), omq.Timeout(15*time.Second), omq.Retries(5))
		if err == nil && sum != a+b {
			err = fmt.Errorf("add(%d, %d) = %d", a, b, sum)
		}
		led.add(op{kind: "add", client: client, start: start, end: time.Now(), err: err})
		if !pace(ctx, 10*time.Millisecond) {
			return
		}
	}
}

// sendDurable sends one durable call to rec.put with id as its message id,
// again and again (the same id: the stream drops repeats) until the stream
// acknowledges it or 30 s have passed.
func sendDurable(cl *clusterClient, id string) (tries int, firstErr, err error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		tries++
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = cl.node.Lookup("rec").Send(ctx, "put", omq.Args(id), omq.Durable(), omq.MsgID(id))
		cancel()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if err == nil || time.Now().After(deadline) {
			return tries, firstErr, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func durableLoad(ctx context.Context, cl *clusterClient, client int, led *ledger) {
	for k := 0; ctx.Err() == nil; k++ {
		id := fmt.Sprintf("load-%d-%d", client, k)
		start := led.begin("durable", client)
		tries, firstErr, err := sendDurable(cl, id)
		led.add(op{kind: "durable", client: client, start: start, end: time.Now(), err: err, firstErr: firstErr, tries: tries, id: id})
		if !pace(ctx, 10*time.Millisecond) {
			return
		}
	}
}

// noteState is a note's latest revision and content as its writer knows
// them.
type noteState struct {
	name    string
	rev     uint64
	content string
}

// noteLoad saves a new revision of the client's note and reads it back,
// until ctx ends; it returns the note as last saved.
func noteLoad(ctx context.Context, cl *clusterClient, client int, led *ledger, n noteState) noteState {
	hub := cl.hub()
	for k := 1; ctx.Err() == nil; k++ {
		content := fmt.Sprintf("%s, edit %d", n.name, k)
		start := led.begin("note", client)
		rev, tries, firstErr, err := saveNote(hub, n.name, content, n.rev)
		if err == nil {
			n = noteState{name: n.name, rev: rev, content: content}
			var text string
			if gerr := hub.Call(context.Background(), "get", omq.Args(n.name, rev), &text, omq.Idempotent(), omq.Timeout(15*time.Second), omq.Retries(5)); gerr != nil {
				err = fmt.Errorf("get revision %d: %w", rev, gerr)
			} else if text != content {
				err = fmt.Errorf("get revision %d: %q, want %q", rev, text, content)
			}
		}
		led.add(op{kind: "note", client: client, start: start, end: time.Now(), err: err, firstErr: firstErr, tries: tries})
		if err != nil && !strings.Contains(err.Error(), "get revision") {
			// The save failed for good: carry on from what is there.
			var latest uint64
			if hub.Call(context.Background(), "revision", omq.Args(n.name), &latest, omq.Idempotent(), omq.Timeout(10*time.Second)) == nil {
				var text string
				if hub.Call(context.Background(), "get", omq.Args(n.name, latest), &text, omq.Idempotent(), omq.Timeout(10*time.Second)) == nil {
					n = noteState{name: n.name, rev: latest, content: text}
				}
			}
		}
		if !pace(ctx, 20*time.Millisecond) {
			return n
		}
	}
	return n
}

// saveNote saves content as the revision after base, the way a careful
// client does: a save is not idempotent (its base revision would be stale
// the second time), so after a failed attempt it asks what the note's
// latest revision holds. If that is this content, the save had happened
// (its reply was lost); if the note is still at base, it saves again.
func saveNote(hub *omq.Stub, name, content string, base uint64) (rev uint64, tries int, firstErr, err error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		tries++
		err = hub.Call(context.Background(), "save", omq.Args(name, content, base), &rev, omq.Timeout(10*time.Second))
		if err == nil {
			return rev, tries, firstErr, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if time.Now().After(deadline) {
			return 0, tries, firstErr, err
		}
		var latest uint64
		if rerr := hub.Call(context.Background(), "revision", omq.Args(name), &latest, omq.Idempotent(), omq.Timeout(10*time.Second)); rerr == nil && latest != base {
			var text string
			gerr := hub.Call(context.Background(), "get", omq.Args(name, latest), &text, omq.Idempotent(), omq.Timeout(10*time.Second))
			if gerr == nil && text == content {
				return latest, tries, firstErr, nil
			}
			if gerr == nil {
				return 0, tries, firstErr, fmt.Errorf("note %s moved from revision %d to %d with content %q, not ours: %w", name, base, latest, text, err)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitGroup(t *testing.T, wg *sync.WaitGroup, timeout time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("not within %s: %s", timeout, what)
	}
}
