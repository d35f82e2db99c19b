package manifests

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration does: "1m0s", "500ms".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d as a string such as "1m0s".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a string such as "2s" or "500ms" (time.ParseDuration);
// negative durations are refused.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration like \"2s\" or \"500ms\", got %s", n.Line, describeNode(n))
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalJSON writes d as a JSON string such as "1m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a JSON string such as "2s"; null leaves d unchanged,
// as encoding/json does for other types.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string like \"2s\" or \"500ms\", got %s", b)
	}
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// parseDuration is time.ParseDuration with messages that show the form
// wanted, and without negative values.
func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return 0, fmt.Errorf("want a duration with a unit, like \"%ss\" or \"%sms\", got %q", s, s, s)
		}
		return 0, fmt.Errorf("want a duration like \"2s\", \"500ms\" or \"1m30s\", got %q", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("want a duration of zero or more, got %q", s)
	}
	return Duration(v), nil
}
