package execfn

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/manifests"
)

// The example manifest works on this Linux: every program is here, and
// every function gives what it promises.
func TestExample_Sysinfo(t *testing.T) {
	m, err := manifests.LoadWith("../examples/sysinfo.yml", manifests.Options{CheckProgram: CheckProgram})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := Service(m, Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	content := strings.Repeat("DPC ", 1000)
	file := filepath.Join(dir, "-odd name; $(id)")
	writeFile(t, file, content)
	sum := sha256.Sum256([]byte(content))
	arg := func(s string) string { b, _ := json.Marshal([]string{s}); return string(b) }

	for _, tc := range []struct {
		fn, args string
		check    func(v json.RawMessage) bool
	}{
		{"uptime", "", func(v json.RawMessage) bool { return strings.Contains(string(v), "load average") }},
		{"uptimeSeconds", "", func(v json.RawMessage) bool { var f float64; return json.Unmarshal(v, &f) == nil && f > 0 }},
		{"loadAverage", "", func(v json.RawMessage) bool { var f []float64; return json.Unmarshal(v, &f) == nil && len(f) == 3 }},
		{"memAvailable", "", func(v json.RawMessage) bool { var n int64; return json.Unmarshal(v, &n) == nil && n > 0 }},
		{"kernel", "", func(v json.RawMessage) bool { return strings.HasPrefix(string(v), `"Linux `) }},
		{"diskUsage", arg(dir), func(v json.RawMessage) bool {
			var n int64
			return json.Unmarshal(v, &n) == nil && n >= int64(len(content))
		}},
		{"fileSize", arg(file), func(v json.RawMessage) bool { return string(v) == fmt.Sprint(len(content)) }},
		{"sha256", arg(file), func(v json.RawMessage) bool { return string(v) == `"`+hex.EncodeToString(sum[:])+`"` }},
		{"listDir", arg(dir), func(v json.RawMessage) bool {
			var names []string
			return json.Unmarshal(v, &names) == nil && reflect.DeepEqual(names, []string{filepath.Base(file)})
		}},
	} {
		v, err := call(t, svc.Handlers[tc.fn], tc.args)
		if err != nil || !tc.check(v) {
			t.Errorf("%s %s = %s, %v", tc.fn, tc.args, v, err)
		}
		if err := m.Function(tc.fn).CheckResult(v); err != nil {
			t.Errorf("%s: %v", tc.fn, err)
		}
	}

	// A command that fails says why.
	missing := filepath.Join(dir, "missing")
	for _, fn := range []string{"diskUsage", "fileSize", "sha256", "listDir"} {
		_, err := call(t, svc.Handlers[fn], arg(missing))
		wantCode(t, err, 500, "sysinfo."+fn+": ", "No such file")
	}
	if len(svc.Handlers) != len(m.Functions) {
		t.Errorf("%d handlers for %d functions", len(svc.Handlers), len(m.Functions))
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("a call created the file")
	}
}
