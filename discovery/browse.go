package discovery

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/mdns"
)

// Defaults of BrowseOptions.
const (
	DefaultTimeout = 1500 * time.Millisecond
	DefaultMax     = 32
)

// BrowseOptions bound a browse.
type BrowseOptions struct {
	// Timeout is how long to collect answers: DefaultTimeout when 0. A
	// deadline of the context that comes sooner wins.
	Timeout time.Duration
	// Max is how many hubs to keep: DefaultMax when 0. Answers beyond it
	// are dropped (with a debug record).
	Max int
	// Interface is the network interface to ask on, by name; "" asks on
	// the system's default multicast interface.
	Interface string
	Logger    *slog.Logger
}

// Browse asks the LAN for DPC hubs and returns those that answered within
// the timeout, sorted by name. An answer that is not a DPC hub's
// announcement (see parseTXT) is left out, with a debug record.
func Browse(ctx context.Context, o BrowseOptions) ([]Hub, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Max <= 0 {
		o.Max = DefaultMax
	}
	if d, ok := ctx.Deadline(); ok {
		o.Timeout = min(o.Timeout, time.Until(d))
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var iface *net.Interface
	if o.Interface != "" {
		var err error
		if iface, err = net.InterfaceByName(o.Interface); err != nil {
			return nil, fmt.Errorf("discovery: interface %q: %w", o.Interface, err)
		}
	}
	if o.Timeout <= 0 {
		return nil, fmt.Errorf("discovery: %w", context.DeadlineExceeded)
	}
	found := map[string]Hub{}
	query := func(noIPv6 bool) error {
		entries := make(chan *mdns.ServiceEntry, 16)
		collected := make(chan struct{})
		go func() {
			defer close(collected)
			for e := range entries {
				h, err := hubOf(e)
				switch {
				case err != nil:
					logger.Debug("ignored an answer", "name", e.Name, "err", err)
				case len(found) >= o.Max:
					logger.Debug("ignored an answer: enough hubs", "name", e.Name, "max", o.Max)
				default:
					if _, dup := found[h.Name]; !dup {
						found[h.Name] = h
					}
				}
			}
		}()
		err := mdns.QueryContext(ctx, &mdns.QueryParam{
			Service: ServiceType, Domain: Domain, Timeout: o.Timeout, Interface: iface,
			Entries: entries, DisableIPv6: noIPv6,
			Logger: log.New(slogWriter{logger}, "", 0),
		})
		close(entries)
		<-collected
		return err
	}
	err := query(false)
	if err != nil && !errors.Is(ctx.Err(), context.Canceled) {
		// A host without IPv6 multicast fails the whole query; IPv4
		// alone still finds the hubs.
		logger.Debug("browsing with IPv6 failed; IPv4 only", "err", err)
		err = query(true)
	}
	if err != nil {
		return nil, fmt.Errorf("discovery: browsing for %s: %w", serviceName(), err)
	}
	hubs := make([]Hub, 0, len(found))
	for _, h := range found {
		hubs = append(hubs, h)
	}
	sort.Slice(hubs, func(i, j int) bool { return hubs[i].Name < hubs[j].Name })
	if errors.Is(ctx.Err(), context.Canceled) {
		return hubs, fmt.Errorf("discovery: %w", ctx.Err())
	}
	// A deadline only bounds the browse, like Timeout.
	return hubs, nil
}

// hubOf reads one answer.
func hubOf(e *mdns.ServiceEntry) (Hub, error) {
	suffix := "." + serviceName()
	if !strings.HasSuffix(e.Name, suffix) {
		return Hub{}, fmt.Errorf("%w: not a %s instance", errMalformed, ServiceType)
	}
	h := Hub{Name: unescape(strings.TrimSuffix(e.Name, suffix)), Port: e.Port}
	if h.Name == "" || len(h.Name) > maxName {
		return Hub{}, fmt.Errorf("%w: instance name of %d bytes", errMalformed, len(h.Name))
	}
	if h.Port <= 0 || h.Port > 65535 {
		return Hub{}, fmt.Errorf("%w: port %d", errMalformed, h.Port)
	}
	if e.AddrV4 != nil {
		h.Addrs = append(h.Addrs, e.AddrV4.String())
	}
	if a := e.AddrV6IPAddr; a != nil {
		h.Addrs = append(h.Addrs, a.String())
	}
	if len(h.Addrs) == 0 {
		return Hub{}, fmt.Errorf("%w: no address", errMalformed)
	}
	return h, parseTXT(&h, e.InfoFields)
}

// unescape undoes the DNS presentation format's escapes (\. and \DDD) of a
// name as the library hands it over.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		if i+3 < len(s) {
			if n, err := strconv.Atoi(s[i+1 : i+4]); err == nil && n < 256 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		i++
		b.WriteByte(s[i])
	}
	return b.String()
}
