package execfn

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestEnviron(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin:/bin", "HOME=/home/me", "LANG=C.UTF-8", "TZ=Europe/Madrid",
		"DPC_CREDS=/home/me/.config/dpc/identity.creds", "DPC_PASSWORD=pw", "DPC_HOME=/home/me/.config/dpc",
		"NATS_URL=tls://u:p@hub:4222", "AWS_SECRET_ACCESS_KEY=x", "XDG_RUNTIME_DIR=/run/user/1000",
		"HOME=/home/me2", // the last of duplicates, as exec takes it
	}
	got := Environ(environ, []string{"XDG_RUNTIME_DIR", "UNSET_VAR"})
	want := []string{"PATH=/usr/bin:/bin", "HOME=/home/me2", "LANG=C.UTF-8", "TZ=Europe/Madrid", "XDG_RUNTIME_DIR=/run/user/1000", "DPC_HOME=none"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Environ = %q, want %q", got, want)
	}
}

func TestConfig_PassEnvRefusesSecrets(t *testing.T) {
	for _, name := range []string{"DPC_CREDS", "DPC_HOME", "NATS_URL", "A=B", ""} {
		if _, err := (Config{PassEnv: []string{name}}).withDefaults(); err == nil {
			t.Errorf("PassEnv %q accepted", name)
		}
	}
	if _, err := (Config{PassEnv: []string{"DISPLAY", "XDG_RUNTIME_DIR"}}).withDefaults(); err != nil {
		t.Error(err)
	}
}

// A real command sees only what Environ gives it: none of this process's
// DPC credentials or other secrets.
func TestRun_Environment(t *testing.T) {
	t.Setenv("DPC_CREDS", "/secret/identity.creds")
	t.Setenv("DPC_PASSWORD", "hunter2")
	t.Setenv("NATS_URL", "tls://owner:pw@hub:4222")
	t.Setenv("SOME_TOKEN", "abc")
	t.Setenv("EXTRA", "passed")
	_, hs := handlersFor(t, Config{PassEnv: []string{"EXTRA"}}, `
  - funct_name: env
    return_type: string_list
    exec: [env]
`)
	v, err := call(t, hs["env"], "")
	if err != nil {
		t.Fatal(err)
	}
	env := lines(t, v)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains([]string{"PATH", "HOME", "LANG", "LC_ALL", "TZ", "EXTRA", "DPC_HOME"}, k) {
			t.Errorf("the command got %s", kv)
		}
	}
	for _, want := range []string{"DPC_HOME=none", "EXTRA=passed"} {
		if !slices.Contains(env, want) {
			t.Errorf("the command did not get %s: %q", want, env)
		}
	}
}
