package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/internal/metricsserver"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
)

// TestMain lets the test binary stand in for the programs the agent
// starts: "<test binary> child MODE ARGS…" runs a child instead of tests.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "child" {
		os.Exit(child(os.Args[2], os.Args[3:]))
	}
	os.Exit(m.Run())
}

// child is one of the programs the tests spawn:
//
//	serve     binds DPC_SERVICE as instance DPC_INSTANCE_ID until SIGTERM,
//	          serving /metrics on DPC_SERVICE_METRICS if set
//	stubborn  ignores SIGTERM, starts a grandchild ("grandchild PID"), serves
//	sleep     sleeps (a grandchild)
//	env       prints the variables the agent sets, then exits
//	envfile F [serve]  writes its whole environment to F, then exits (or serves)
//	exit N    prints a line, exits with N
//	longline  prints a line longer than the agent forwards, then "after"
func child(mode string, args []string) int {
	switch mode {
	case "serve":
		return serve(true)
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		gc := exec.Command(os.Args[0], "child", "sleep")
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "grandchild:", err)
			return 1
		}
		fmt.Printf("grandchild %d\n", gc.Process.Pid)
		return serve(false)
	case "sleep":
		time.Sleep(time.Hour)
		return 0
	case "env":
		for _, k := range []string{"NATS_URL", "DPC_INSTANCE_ID", "DPC_SERVICE", "AGENT_TEST_FOO"} {
			fmt.Printf("%s=%s\n", k, os.Getenv(k))
		}
		return 0
	case "envfile":
		env := os.Environ()
		slices.Sort(env)
		if err := os.WriteFile(args[0], []byte(strings.Join(env, "\n")+"\n"), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if len(args) > 1 && args[1] == "serve" {
			return serve(true)
		}
		return 0
	case "exit":
		fmt.Println("exiting")
		n, _ := strconv.Atoi(args[0])
		return n
	case "longline":
		fmt.Println(strings.Repeat("x", 10000))
		fmt.Println("after")
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 2
}

// serve binds the service the agent named under the instance id it gave,
// so that the test sees it answer $SRV.PING with that id, and serves until
// SIGTERM if onTerm, else for ever.
func serve(onTerm bool) int {
	ctx := context.Background()
	if onTerm {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGTERM)
		defer stop()
	}
	nc, err := nats.Connect(os.Getenv("NATS_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		return 1
	}
	defer nc.Close()
	node, err := omq.New(nc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	id := os.Getenv("DPC_INSTANCE_ID")
	hello := omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) { return id, nil })
	// As dpc-service does: /metrics where the agent says, its URL in the
	// instance's metadata.
	md := map[string]string{}
	if addr := os.Getenv(agent.EnvMetrics); addr != "" {
		ms, err := metricsserver.Start(addr, metricsserver.NewRegistry(), slog.Default())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer ms.Close()
		md[catalog.MetaMetrics] = ms.URL()
	}
	inst, err := node.Bind(ctx, os.Getenv("DPC_SERVICE"), omq.Handlers{"hello": hello}, omq.InstanceID(id), omq.NoDurable(), omq.Metadata(md))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bind:", err)
		return 1
	}
	fmt.Println("serving", id)
	<-ctx.Done()
	uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = inst.Unbind(uctx)
	fmt.Fprintln(os.Stderr, "bye")
	return 0
}
