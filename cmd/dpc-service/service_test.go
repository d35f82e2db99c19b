package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input is refused before anything starts, saying what was wrong and
// where.
func TestService_RejectsBadInput(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "dpc-service")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	badManifest := filepath.Join(t.TempDir(), "tst.yml")
	if err := os.WriteFile(badManifest, []byte("name: tst\nfunctions:\n  - funct_name: add\n    args_list:\n      - arg_name: a\n        arg_typ: int\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nosuch"}, 2, `must be one of "textutil","tst"`},
		{[]string{"--manifest", badManifest, "tst"}, 1, badManifest + ":6: functions[0].args_list[0].arg_typ"},
		{[]string{"--manifest", "/no/such/file.yml", "tst"}, 2, "/no/such/file.yml"},
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
