package manifests

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDuration_YAML(t *testing.T) {
	var v struct {
		D Duration `yaml:"d"`
	}
	for in, want := range map[string]time.Duration{"d: 2s": 2 * time.Second, "d: 1m30s": 90 * time.Second, "d: 0": 0, "d: 500ms": 500 * time.Millisecond} {
		if err := yaml.Unmarshal([]byte(in), &v); err != nil || v.D.D() != want {
			t.Errorf("%q: %v, %v", in, v.D, err)
		}
	}
	for in, msg := range map[string]string{
		"d: -2s":  `line 1: want a duration of zero or more, got "-2s"`,
		"d: 5":    `line 1: want a duration with a unit, like "5s" or "5ms", got "5"`,
		"d: [1s]": `line 1: want a duration like "2s" or "500ms", got a list`,
	} {
		err := yaml.Unmarshal([]byte(in), &v)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: got %v, want %s", in, err, msg)
		}
	}
	out, err := yaml.Marshal(struct {
		D Duration `yaml:"d"`
	}{Duration(90 * time.Second)})
	if err != nil || string(out) != "d: 1m30s\n" {
		t.Errorf("Marshal: %q, %v", out, err)
	}
}

func TestDuration_JSON(t *testing.T) {
	var d Duration
	if err := json.Unmarshal([]byte(`"1.5s"`), &d); err != nil || d.D() != 1500*time.Millisecond {
		t.Errorf("got %v, %v", d, err)
	}
	if err := json.Unmarshal([]byte(`null`), &d); err != nil || d.D() != 1500*time.Millisecond {
		t.Errorf("null changed it: %v, %v", d, err)
	}
	for in, msg := range map[string]string{
		`"-1s"`: `want a duration of zero or more, got "-1s"`,
		`1000`:  `want a duration string like "2s" or "500ms", got 1000`,
		`"x"`:   `want a duration like "2s", "500ms" or "1m30s", got "x"`,
	} {
		if err := json.Unmarshal([]byte(in), &d); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want %s", in, err, msg)
		}
	}
	out, err := json.Marshal(Function{Name: "f", Timeout: Duration(2 * time.Second), Cacheable: &Cache{TTL: Duration(time.Minute)}})
	if err != nil || !strings.Contains(string(out), `"timeout":"2s","cacheable":{"ttl":"1m0s"}`) {
		t.Errorf("Marshal: %s, %v", out, err)
	}
	var f Function
	if err := json.Unmarshal(out, &f); err != nil || f.Timeout.D() != 2*time.Second || f.Cacheable.TTL.D() != time.Minute {
		t.Errorf("Unmarshal: %+v, %v", f, err)
	}
}
