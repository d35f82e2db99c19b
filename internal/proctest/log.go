package proctest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// WaitForLog polls out until it holds a JSON log line (as slog's JSON
// handler writes) whose "msg" is msg, and returns that line's fields.
func WaitForLog(ctx context.Context, out *Buffer, msg string) (map[string]any, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for line := range strings.Lines(out.String()) {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
				return rec, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("proctest: no log line %q: %w", msg, ctx.Err())
		case <-tick.C:
		}
	}
}
