package execfn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
)

// handlersFor parses a manifest of one service "t" whose functions are
// given as YAML (the entries of functions) and returns its handlers.
func handlersFor(t *testing.T, cfg Config, functions string) (*manifests.Manifest, omq.Handlers) {
	t.Helper()
	m, err := manifests.ParseWith("t.yml", []byte("name: t\nfunctions:\n"+functions), manifests.Options{CheckProgram: CheckProgram})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := Handlers(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, hs
}

// call calls a handler directly with args (a JSON array, as servicehost
// passes them), bounded by the test's patience.
func call(t *testing.T, h omq.Handler, args string) (json.RawMessage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return callCtx(ctx, h, args)
}

func callCtx(ctx context.Context, h omq.Handler, args string) (json.RawMessage, error) {
	res, err := h.Handle(ctx, &omq.Request{Args: json.RawMessage(args)})
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, nil
	}
	return res.(json.RawMessage), nil
}

// wantCode checks that err is an *omq.Error with code whose message
// holds each of parts.
func wantCode(t *testing.T, err error, code int, parts ...string) {
	t.Helper()
	var oe *omq.Error
	if !errors.As(err, &oe) || oe.Code != code {
		t.Fatalf("got %v, want an error with code %d", err, code)
	}
	for _, p := range parts {
		if !strings.Contains(oe.Description, p) {
			t.Errorf("%q does not mention %q", oe.Description, p)
		}
	}
	if strings.ContainsAny(oe.Description, "\r\n") {
		t.Errorf("message on several lines (it travels in a header): %q", oe.Description)
	}
}

// readPID waits for a command to write its pid to file.
func readPID(t *testing.T, file string) int {
	t.Helper()
	var pid int
	eventually(t, func() bool {
		b, err := os.ReadFile(file)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	}, "the command to write its pid to "+file)
	return pid
}

// groupGone waits until no live process is in process group pgid.
// Zombies do not count: PID 1 reaps orphans when it gets to it, and in
// some containers never does.
func groupGone(t *testing.T, pgid int) {
	t.Helper()
	var left []string
	ok := within(func() bool {
		left = groupMembers(t, pgid)
		return len(left) == 0
	})
	if !ok {
		t.Fatalf("process group %d still has live processes: %v", pgid, left)
	}
}

// groupMembers lists the live processes of group pgid from /proc.
func groupMembers(t *testing.T, pgid int) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp …; comm may hold spaces and parens.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			out = append(out, string(b[:i+1]))
		}
	}
	return out
}

// eventually polls cond until it holds, for at most 20 s.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	if !within(cond) {
		t.Fatalf("not within 20s: %s", what)
	}
}

func within(cond func() bool) bool {
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// lines splits a result of string_list for messages.
func lines(t *testing.T, v json.RawMessage) []string {
	t.Helper()
	var s []string
	if err := json.Unmarshal(v, &s); err != nil {
		t.Fatalf("%s: %v", v, err)
	}
	return s
}
