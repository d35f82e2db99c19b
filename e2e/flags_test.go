package e2e

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// sharedEnv are the variables several commands read on purpose: the hub
// connection of every client command (an agent hands them to the
// processes it starts).
var sharedEnv = map[string]bool{"NATS_URL": true, "DPC_CREDS": true, "DPC_TLS_CA": true}

// Every flag of every DPC command has an environment fallback, shown in
// its --help, and no two commands read the same variable for different
// things (dpc-hub's server certificate and a client's CA once shared
// DPC_TLS_*): one shell can configure them all.
func TestCommands_EveryFlagHasItsOwnEnvironmentVariable(t *testing.T) {
	flagLine := regexp.MustCompile(`^\s+(-\w, )?--([a-z0-9-]+)`)
	envRef := regexp.MustCompile(`\(\$([A-Z0-9_]+)\)`)
	owner := map[string]string{} // variable → the command and flag that read it
	for _, c := range []struct{ name, bin string }{
		{"dpc-hub", bins.hub}, {"dpc-service", bins.service}, {"dpc-cli", bins.cli},
		{"dpc-agent", bins.agent}, {"dpc-provisioner", bins.provisioner},
	} {
		out, err := exec.Command(c.bin, "--help").Output()
		if err != nil {
			t.Fatalf("%s --help: %v", c.name, err)
		}
		// A flag's help runs from its line to the next flag's (kong wraps).
		var flags, helps []string
		in := false
		for line := range strings.Lines(string(out)) {
			switch m := flagLine.FindStringSubmatch(line); {
			case m != nil:
				flags, helps, in = append(flags, m[2]), append(helps, line), true
			case in && strings.HasPrefix(line, "      "):
				helps[len(helps)-1] += line
			default:
				in = false
			}
		}
		if len(flags) < 3 {
			t.Fatalf("%s --help: found only the flags %v:\n%s", c.name, flags, out)
		}
		for i, f := range flags {
			if f == "help" || f == "config" {
				continue
			}
			m := envRef.FindStringSubmatch(strings.Join(strings.Fields(helps[i]), " "))
			if m == nil {
				t.Errorf("%s --%s has no environment variable in its help: %q", c.name, f, strings.TrimSpace(helps[i]))
				continue
			}
			who := c.name + " --" + f
			if prev, ok := owner[m[1]]; ok && !sharedEnv[m[1]] {
				t.Errorf("$%s is read by %s and by %s", m[1], prev, who)
			}
			owner[m[1]] = who
		}
	}
}
