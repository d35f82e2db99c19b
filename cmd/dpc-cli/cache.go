package main

import (
	"encoding/json"
	"time"
)

// resultCache keeps the results of cacheable functions (a manifest's
// cacheable: {ttl: …}) for the interactive mode, per function and
// arguments. The thesis named caching of cacheable functions as future
// work; a session that asks the same question twice gets the answer at
// once. It is used from the shell's one goroutine only.
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
	expires time.Time
}

func newResultCache(now func() time.Time) *resultCache {
	return &resultCache{now: now, entries: map[cacheKey]cacheEntry{}}
}

func (c *resultCache) get(function string, args json.RawMessage) (json.RawMessage, bool) {
	k := cacheKey{function, string(args)}
	e, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	if !c.now().Before(e.expires) {
		delete(c.entries, k)
		return nil, false
	}
	return e.result, true
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
	c.entries[cacheKey{function, string(args)}] = cacheEntry{result: result, expires: now.Add(ttl)}
}
