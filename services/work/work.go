// Package work is a service for elasticity experiments: its one function,
// work, waits for a service time and returns the id of the instance that
// served it. It sleeps instead of computing, so that a small machine hosts
// many instances and an instance's capacity is set by its service time and
// concurrency alone, not by how busy the CPU is.
package work

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dpc-project/dpc/omq"
)

// Dist is how an instance draws the service time of each call.
type Dist string

const (
	// Fixed: every call takes the mean.
	Fixed Dist = "fixed"
	// Exp: exponentially distributed with the mean, as in an M/M/c queue.
	Exp Dist = "exp"
)

// DefaultServiceTime is the mean service time when none is set.
const DefaultServiceTime = 20 * time.Millisecond

// Config is how long calls take.
type Config struct {
	// ServiceTime is the mean time a call takes (default
	// DefaultServiceTime).
	ServiceTime time.Duration
	// Dist is how each call's time is drawn (default Fixed).
	Dist Dist
}

// Check reports a config that cannot be served.
func (c Config) Check() error {
	if c.ServiceTime < 0 {
		return fmt.Errorf("work: service time %s: must not be negative", c.ServiceTime)
	}
	switch c.Dist {
	case "", Fixed, Exp:
		return nil
	}
	return fmt.Errorf("work: service time distribution %q: want %q or %q", c.Dist, Fixed, Exp)
}

func (c Config) withDefaults() Config {
	if c.ServiceTime == 0 {
		c.ServiceTime = DefaultServiceTime
	}
	if c.Dist == "" {
		c.Dist = Fixed
	}
	return c
}

// Sample draws one call's service time; exp64 returns an exponentially
// distributed number with mean 1 (rand.ExpFloat64, or a seeded
// generator's in tests).
func (c Config) Sample(exp64 func() float64) time.Duration {
	c = c.withDefaults()
	if c.Dist == Exp {
		return time.Duration(exp64() * float64(c.ServiceTime))
	}
	return c.ServiceTime
}

// Handlers returns the functions of work.yml. The config must pass Check.
func Handlers(cfg Config) omq.Handlers {
	return omq.Handlers{
		"work": omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
			t := time.NewTimer(cfg.Sample(rand.ExpFloat64))
			defer t.Stop()
			select {
			case <-t.C:
				return req.Instance, nil
			case <-ctx.Done():
				// The caller has given up or the instance is stopping:
				// holding the slot longer only delays the next call.
				return nil, fmt.Errorf("work: %w", ctx.Err())
			}
		}),
	}
}
