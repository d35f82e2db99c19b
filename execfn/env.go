package execfn

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/dpc-project/dpc/trust"
)

// baseEnv are the variables of this process's environment a command
// gets, when set: where programs are, the user's home, language and time
// zone. Nothing else, so that no hub credential (DPC_CREDS,
// DPC_PASSWORD…), hub address or other secret of the host process
// reaches a program that a caller's values steer.
func baseEnv() []string { return []string{"PATH", "HOME", "LANG", "LC_ALL", "TZ"} }

// envNameRE is what a variable name may be.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkPassEnv refuses names Config.PassEnv may not hold.
func checkPassEnv(names []string) error {
	for _, k := range names {
		switch {
		case !envNameRE.MatchString(k):
			return fmt.Errorf("execfn: %q is not an environment variable name", k)
		case strings.HasPrefix(k, "DPC_") || strings.HasPrefix(k, "NATS_"):
			return fmt.Errorf("execfn: will not pass %s to commands: DPC_ and NATS_ variables hold the hub's address and this process's credentials", k)
		}
	}
	return nil
}

// Environ is the environment of every command, built from environ (this
// process's, as os.Environ gives it): PATH, HOME, LANG, LC_ALL and TZ,
// then the variables named in pass, each when set, and DPC_HOME=none, so
// that a DPC program the command runs finds no DPC profile of the user
// and acts as nobody.
func Environ(environ, pass []string) []string {
	want := append(baseEnv(), pass...)
	have := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			have[k] = v // the last of duplicates, as exec takes it
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, k := range want {
		if v, ok := have[k]; ok && !seen[k] {
			seen[k] = true
			out = append(out, k+"="+v)
		}
	}
	return append(out, trust.EnvHome+"="+trust.NoProfile)
}
