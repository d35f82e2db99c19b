package servicehost_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/provisioner"
	"github.com/nats-io/nats.go/micro"
)

// docPath is the page this file keeps true.
const docPath = "../docs/SERVICES.md"

// TestServicesDoc builds the service of docs/SERVICES.md from the page's
// own code blocks, with the page's own build commands, in a module of its
// own outside this repository (offline: GOPROXY=off), runs it against a
// real NATS server as an agent would start it, and calls it as the page
// says; then stops it with SIGTERM as an agent would.
func TestServicesDoc(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build the service of docs/SERVICES.md")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	blocks := fencedBlocks(doc)
	block := func(info string) string {
		t.Helper()
		b, ok := blocks[info]
		if !ok {
			t.Fatalf("%s has no code block ```%s", docPath, info)
		}
		return b
	}
	mainGo, manifestYAML := block("go main.go"), block("yaml greet.yml")

	// The program is short, formatted, and its manifest valid.
	if n := strings.Count(mainGo, "\n"); n >= 40 {
		t.Errorf("main.go is %d lines; the page promises fewer than 40", n)
	}
	if f, err := format.Source([]byte(mainGo)); err != nil || string(f) != mainGo {
		t.Errorf("main.go is not gofmt-formatted (err %v)", err)
	}
	m, err := manifests.Parse("greet.yml", []byte(manifestYAML))
	if err != nil {
		t.Fatalf("greet.yml: %v", err)
	}

	dir := filepath.Join(t.TempDir(), "greet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"main.go": mainGo, "greet.yml": manifestYAML} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	checkScaling(t, doc, blocks, manifestYAML)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	runBuild(ctx, t, goTool, dir, root, block("sh greet-build"))

	// Run it as dpc-agent would: the hub's URL and the instance id in its
	// environment (a plain test server: no credentials, no CA).
	srv := brokertest.Start(t)
	const id = "greet-doc-1"
	cmd := exec.Command(filepath.Join(dir, "greet"))
	cmd.Env = append(os.Environ(), "NATS_URL="+srv.ClientURL(), "DPC_CREDS=", "DPC_TLS_CA=", "DPC_INSTANCE_ID="+id)
	p := proctest.Start(t, "greet", cmd)

	nc := brokertest.Connect(t, srv)
	node, err := omq.New(nc, omq.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	stub := node.Lookup("greet")
	brokertest.Eventually(t, 20*time.Second, func() bool {
		insts, _ := stub.Instances(ctx)
		return len(insts) == 1 && insts[0].ID == id
	}, "greet answering $SRV.PING.greet as "+id)

	// The calls of the page.
	var s string
	if err := stub.Call(ctx, "hello", omq.Args("World"), &s); err != nil || s != "Hello, World!" || !strings.Contains(doc, "\nHello, World!\n") {
		t.Errorf(`hello("World") = %q, %v; the page shows "Hello, World!"`, s, err)
	}
	if err := stub.Call(ctx, "hello", map[string]any{"name": "Ada"}, &s); err != nil || s != "Hello, Ada!" {
		t.Errorf(`hello(name=Ada) = %q, %v`, s, err)
	}
	err = stub.Call(ctx, "hello", omq.Args(5), &s)
	const bad = `hello: argument "name" (string): got 5, a number`
	var oe *omq.Error
	if !errors.Is(err, omq.ErrBadArguments) || !errors.As(err, &oe) || oe.Description != bad {
		t.Errorf("hello(5) = %v; the page says a 400 %q", err, bad)
	}
	if !strings.Contains(doc, bad) {
		t.Errorf("the page no longer quotes the 400 %q", bad)
	}

	// What the checklist says an instance carries in $SRV.
	msg, err := nc.RequestWithContext(ctx, "$SRV.INFO.greet."+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	if err := json.Unmarshal(msg.Data, &info); err != nil {
		t.Fatal(err)
	}
	var listed manifests.Manifest
	if err := json.Unmarshal([]byte(info.Metadata[catalog.MetaManifest]), &listed); err != nil || listed.Name != "greet" || listed.Function("hello") == nil {
		t.Errorf("$SRV.INFO metadata %s = %q (%v); want greet's manifest", catalog.MetaManifest, info.Metadata[catalog.MetaManifest], err)
	}
	if info.Version != m.Version || info.Metadata[catalog.MetaHost] == "" || info.Metadata[omq.MetadataPrefix] != "dpc" {
		t.Errorf("$SRV.INFO: version %q, metadata %v; want version %s, %s and %s=dpc", info.Version, info.Metadata, m.Version, catalog.MetaHost, omq.MetadataPrefix)
	}
	for _, e := range info.Endpoints {
		if e.Subject != "dpc.svc.greet.hello" || e.QueueGroup != "greet" {
			t.Errorf("endpoint %+v; want dpc.svc.greet.hello in queue group greet", e)
		}
	}

	// SIGTERM, as an agent stops it: a clean exit, and no longer there.
	if err := p.Stop(20 * time.Second); err != nil {
		t.Errorf("greet on SIGTERM: %v; want a clean exit", err)
	}
	if insts, _ := stub.Instances(ctx); len(insts) != 0 {
		t.Errorf("after SIGTERM %d instances still answer $SRV.PING.greet", len(insts))
	}

	checkLinks(t, doc)
}

// runBuild runs the page's build commands in dir, reading ../dpc as this
// repository, with no module proxy.
func runBuild(ctx context.Context, t *testing.T, goTool, dir, root, script string) {
	t.Helper()
	env := append(os.Environ(), "GOPROXY=off", "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	sc := bufio.NewScanner(strings.NewReader(script))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		args := strings.Fields(strings.ReplaceAll(line, "../dpc", root))
		if len(args) == 0 {
			continue
		}
		switch args[0] {
		case "cp":
			if len(args) != 3 || args[2] != "." {
				t.Fatalf("build step %q: the test runs only cp FILE .", line)
			}
			b, err := os.ReadFile(args[1])
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, filepath.Base(args[1])), b, 0o644)
			}
			if err != nil {
				t.Fatalf("build step %q: %v", line, err)
			}
		case "go":
			cmd := exec.CommandContext(ctx, goTool, args[1:]...)
			cmd.Dir, cmd.Env = dir, env
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build step %q (offline, GOPROXY=off): %v\n%s", line, err, out)
			}
		default:
			t.Fatalf("build step %q: the test runs only go and cp", line)
		}
	}
}

// checkScaling holds the scaling section's additions to the manifest, the
// provisioner config and the agent's flags to what the packages accept.
func checkScaling(t *testing.T, doc string, blocks map[string]string, manifestYAML string) {
	t.Helper()
	dir := t.TempDir()
	full := manifestYAML + "\n" + blocks["yaml greet.yml-scaling"]
	m, err := manifests.Parse("greet.yml", []byte(full))
	if err != nil {
		t.Fatalf("greet.yml with the scaling section's additions: %v", err)
	}
	if len(m.Command) != 1 || m.Command[0] != "greet" || m.Scaling == nil {
		t.Errorf("greet.yml with the additions: command %q, scaling %v", m.Command, m.Scaling)
	}
	path := filepath.Join(dir, "greet.yml")
	if err := os.WriteFile(path, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}

	// The agent, as `dpc-agent --manifests DIR --allow dpc-service,greet`.
	if !strings.Contains(doc, "--allow dpc-service,greet") {
		t.Error("the page no longer allows greet with --allow dpc-service,greet")
	}
	approved, err := agent.LoadManifests(dir)
	if err != nil {
		t.Fatal(err)
	}
	acfg := agent.DefaultConfig()
	acfg.ID, acfg.Allow, acfg.Manifests = "nas", []string{"dpc-service", "greet"}, approved
	if err := acfg.Validate(); err != nil {
		t.Errorf("the agent of the page: %v", err)
	}

	// The provisioner's config, its manifest path pointed at the file.
	fc, err := provisioner.ParseConfig("provisioner.yml", []byte(blocks["yaml provisioner.yml"]))
	if err != nil {
		t.Fatalf("provisioner.yml: %v", err)
	}
	for i := range fc.Services {
		fc.Services[i].Manifest = path
	}
	svcs, err := fc.BuildServices(provisioner.NewMemoryHistory())
	if err != nil {
		t.Fatalf("provisioner.yml: %v", err)
	}
	if len(svcs) != 1 || svcs[0].Name != "greet" || svcs[0].Limits != (provisioner.Limits{Min: 2, Max: 4}) {
		t.Errorf("provisioner.yml sizes %+v; the page says greet, 2..4", svcs)
	}
}

// checkLinks holds the page's links to other files, and to their headings,
// to what is there.
func checkLinks(t *testing.T, doc string) {
	t.Helper()
	link := regexp.MustCompile(`\]\(([^)#\s]*)(?:#([^)\s]+))?\)`)
	for _, l := range link.FindAllStringSubmatch(doc, -1) {
		file, anchor := l[1], l[2]
		if strings.Contains(file, "://") {
			continue
		}
		target := docPath
		if file != "" {
			target = filepath.Join(filepath.Dir(docPath), file)
		}
		b, err := os.ReadFile(target)
		if err != nil {
			t.Errorf("link %s: %v", l[0], err)
			continue
		}
		if anchor != "" && !hasHeading(string(b), anchor) {
			t.Errorf("link %s: %s has no heading #%s", l[0], target, anchor)
		}
	}
}

// hasHeading says whether md has a heading whose GitHub anchor is anchor.
func hasHeading(md, anchor string) bool {
	for line := range strings.Lines(md) {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range text {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		if b.String() == anchor {
			return true
		}
	}
	return false
}

// fencedBlocks returns the page's fenced code blocks by info string
// ("go main.go"), the ones that name a file or a step.
func fencedBlocks(md string) map[string]string {
	out := map[string]string{}
	var info string
	var body strings.Builder
	in := false
	for line := range strings.Lines(md) {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && strings.HasPrefix(trimmed, "```"):
			in, info = true, strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))
			body.Reset()
		case in && trimmed == "```":
			in = false
			if strings.Contains(info, " ") {
				out[info] = body.String()
			}
		case in:
			body.WriteString(line)
		}
	}
	return out
}
