package main

import (
	"encoding/json"
	"fmt"
	"time"
)

// resultCache keeps the results of cacheable functions (a manifest's
// cacheable: {ttl: …}) for the interactive mode, per function and
// arguments. The thesis named caching of cacheable functions as future
// work; a session that asks the same question twice gets the answer at
// once, and while the function's service is not available it can still
// see what it was told before — always labelled as cached, with its age.
// It is used from the shell's one goroutine only.
type resultCache struct {
	now     func() time.Time
	entries map[cacheKey]cacheEntry
}

type cacheKey struct {
	function string // service.function
	args     string // the arguments' JSON, as sent
}

type cacheEntry struct {
	result  json.RawMessage
	stored  time.Time
	expires time.Time
}

func newResultCache(now func() time.Time) *resultCache {
	return &resultCache{now: now, entries: map[cacheKey]cacheEntry{}}
}

func (c *resultCache) get(function string, args json.RawMessage) (json.RawMessage, bool) {
	res, _, ok := c.lookup(function, args)
	return res, ok
}

// lookup is get with the result's age.
func (c *resultCache) lookup(function string, args json.RawMessage) (json.RawMessage, time.Duration, bool) {
	k := cacheKey{function, string(args)}
	e, ok := c.entries[k]
	if !ok {
		return nil, 0, false
	}
	now := c.now()
	if !now.Before(e.expires) {
		delete(c.entries, k)
		return nil, 0, false
	}
	return e.result, now.Sub(e.stored), true
}

// has reports whether any result of function is cached.
func (c *resultCache) has(function string) bool {
	now := c.now()
	for k, e := range c.entries {
		if k.function == function && now.Before(e.expires) {
			return true
		}
	}
	return false
}

func (c *resultCache) put(function string, args json.RawMessage, result json.RawMessage, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	now := c.now()
	for k, e := range c.entries { // drop the expired, so the map stays small
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	c.entries[cacheKey{function, string(args)}] = cacheEntry{result: result, stored: now, expires: now.Add(ttl)}
}

// ago says how long ago something happened, as a person would: "just
// now", "12 s ago", "2 min ago", "3 h ago" (rounded down).
func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	}
	return fmt.Sprintf("%d h ago", int(d/time.Hour))
}
