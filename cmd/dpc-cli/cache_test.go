package main

import (
	"encoding/json"
	"testing"
	"time"
)

func TestResultCache_Age(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newResultCache(func() time.Time { return now })
	args := json.RawMessage(`[45,38]`)
	if c.has("tst.add") {
		t.Fatal("an empty cache has add")
	}
	c.put("tst.add", args, json.RawMessage("83"), 10*time.Minute)
	now = now.Add(150 * time.Second)
	res, age, ok := c.lookup("tst.add", args)
	if !ok || string(res) != "83" || age != 150*time.Second || ago(age) != "2 min ago" {
		t.Fatalf("lookup: %s, %s (%q), %v", res, age, ago(age), ok)
	}
	if !c.has("tst.add") || c.has("tst.split") {
		t.Fatal("has: want add only")
	}
	now = now.Add(10 * time.Minute)
	if c.has("tst.add") {
		t.Fatal("has: an expired result counts")
	}
	for d, want := range map[time.Duration]string{
		0: "just now", 999 * time.Millisecond: "just now", time.Second: "1 s ago", 59 * time.Second: "59 s ago",
		time.Minute: "1 min ago", 59*time.Minute + 59*time.Second: "59 min ago", 3*time.Hour + time.Minute: "3 h ago",
	} {
		if got := ago(d); got != want {
			t.Errorf("ago(%s) = %q, want %q", d, got, want)
		}
	}
}
