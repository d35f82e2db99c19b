package discovery

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Announcement is what a hub announces, and where.
type Announcement struct {
	// Name is the hub's name: the instance name (see InstanceName).
	Name string
	// Port is the NATS client port.
	Port int
	// TLS: clients must use TLS.
	TLS bool
	// CA is the SHA-256 fingerprint of the hub's CA certificate (DER).
	CA [32]byte
	// Interfaces are the network interfaces (by name) to announce on,
	// each with its own addresses. Empty: the system's default multicast
	// interface, with the addresses of every interface that is up and
	// multicast-capable, loopback excepted.
	Interfaces []string
	// Addrs, if set, are the addresses announced on every interface
	// instead of the interfaces' own: a hub that listens on one address
	// announces that one.
	Addrs  []net.IP
	Logger *slog.Logger
}

// Announcer answers the queries for one hub until Close.
type Announcer struct {
	log       *slog.Logger
	instance  string
	zones     []*zone
	servers   []*mdns.Server
	closeOnce sync.Once
	done      chan struct{}
}

// zone is the records one interface answers with. The records can change
// (Update) while the responder serves them.
type zone struct {
	iface *net.Interface // nil: the default multicast interface
	ips   []net.IP
	host  string
	mu    sync.RWMutex
	svc   *mdns.MDNSService
}

// Records implements mdns.Zone.
func (z *zone) Records(q dns.Question) []dns.RR {
	z.mu.RLock()
	defer z.mu.RUnlock()
	return z.svc.Records(q)
}

// all is every record of the instance, as a response to a browse has them.
func (z *zone) all() []dns.RR {
	return z.Records(dns.Question{Name: serviceName(), Qtype: dns.TypePTR, Qclass: dns.ClassINET})
}

func serviceName() string { return ServiceType + "." + Domain }

// Announce starts answering DNS-SD queries for a's hub on a's interfaces,
// and multicasts the records once. It stops when ctx ends or at Close,
// saying goodbye (the records with TTL 0) so that browsers forget the hub
// at once.
func Announce(ctx context.Context, a Announcement) (*Announcer, error) {
	if a.Port <= 0 || a.Port > 65535 {
		return nil, fmt.Errorf("discovery: port %d: want 1 to 65535", a.Port)
	}
	instance, err := InstanceName(a.Name)
	if err != nil {
		return nil, err
	}
	logger := a.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("mdns", instance+"."+serviceName())
	an := &Announcer{log: logger, instance: instance, done: make(chan struct{})}
	zones, err := zonesFor(a.Interfaces)
	if err != nil {
		return nil, err
	}
	host := hostName()
	for _, z := range zones {
		z.host = host
		if len(a.Addrs) > 0 {
			z.ips = a.Addrs
		}
		if z.svc, err = mdns.NewMDNSService(instance, ServiceType, Domain, host, a.Port, z.ips, txt(a.TLS, a.CA)); err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
	}
	// The library logs every stray packet it cannot parse: debug level.
	libLog := log.New(slogWriter{logger}, "", 0)
	for _, z := range zones {
		srv, err := mdns.NewServer(&mdns.Config{Zone: z, Iface: z.iface, Logger: libLog})
		if err != nil {
			an.shutdown()
			return nil, fmt.Errorf("discovery: answering on %s: %w", ifaceName(z.iface), err)
		}
		an.servers = append(an.servers, srv)
		an.zones = append(an.zones, z)
	}
	for _, z := range an.zones {
		an.multicast(z, z.all(), false)
	}
	logger.Debug("announcing the hub", "port", a.Port, "interfaces", len(an.zones))
	go func() {
		select {
		case <-ctx.Done():
			an.Close()
		case <-an.done:
		}
	}()
	return an, nil
}

// Update changes the CA the announcement names (after a reload) and
// multicasts the new records.
func (an *Announcer) Update(tls bool, caFP [32]byte) error {
	for _, z := range an.zones {
		z.mu.Lock()
		svc, err := mdns.NewMDNSService(an.instance, ServiceType, Domain, z.host, z.svc.Port, z.ips, txt(tls, caFP))
		if err == nil {
			z.svc = svc
		}
		z.mu.Unlock()
		if err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
		an.multicast(z, z.all(), false)
	}
	return nil
}

// Close says goodbye and stops answering. It is safe to call twice.
func (an *Announcer) Close() error {
	an.closeOnce.Do(func() {
		close(an.done)
		for _, z := range an.zones {
			an.multicast(z, z.all(), true)
		}
		an.shutdown()
		an.log.Debug("stopped announcing the hub")
	})
	return nil
}

func (an *Announcer) shutdown() {
	for _, s := range an.servers {
		_ = s.Shutdown()
	}
}

// multicast sends records unsolicited, from port 5353 as RFC 6762 11
// requires of a response; goodbye sends them with TTL 0. Failures are
// only logged: a browser that misses one still asks.
func (an *Announcer) multicast(z *zone, records []dns.RR, goodbye bool) {
	msg := &dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}, Compress: true}
	for _, rr := range records {
		rr = dns.Copy(rr)
		if goodbye {
			rr.Header().Ttl = 0
		}
		msg.Answer = append(msg.Answer, rr)
	}
	buf, err := msg.Pack()
	if err != nil {
		an.log.Debug("cannot pack the announcement", "err", err)
		return
	}
	for _, g := range []struct {
		network string
		group   net.IP
	}{{"udp4", net.IPv4(224, 0, 0, 251)}, {"udp6", net.ParseIP("ff02::fb")}} {
		if err := send(g.network, z.iface, &net.UDPAddr{IP: g.group, Port: 5353}, buf); err != nil {
			an.log.Debug("cannot multicast the records", "network", g.network, "interface", ifaceName(z.iface), "goodbye", goodbye, "err", err)
		}
	}
}

func send(network string, iface *net.Interface, group *net.UDPAddr, buf []byte) error {
	// ListenMulticastUDP binds port 5353 beside the responder (it sets
	// SO_REUSEADDR): the only way to send from that port.
	c, err := net.ListenMulticastUDP(network, iface, group)
	if err != nil {
		return err
	}
	defer c.Close()
	if iface != nil {
		if network == "udp4" {
			err = ipv4.NewPacketConn(c).SetMulticastInterface(iface)
		} else {
			err = ipv6.NewPacketConn(c).SetMulticastInterface(iface)
			group = &net.UDPAddr{IP: group.IP, Port: group.Port, Zone: iface.Name}
		}
		if err != nil {
			return err
		}
	}
	_, err = c.WriteToUDP(buf, group)
	return err
}

// zonesFor is one zone per interface named, with that interface's
// addresses; none named, one zone on the default interface with the
// addresses of every multicast interface.
func zonesFor(names []string) ([]*zone, error) {
	if len(names) == 0 {
		ifaces, err := net.Interfaces()
		if err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		var ips []net.IP
		for _, ifc := range ifaces {
			if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagMulticast == 0 || ifc.Flags&net.FlagLoopback != 0 {
				continue
			}
			ips = append(ips, addrsOf(&ifc)...)
		}
		if len(ips) == 0 {
			return nil, errors.New("discovery: no network interface that is up and multicast-capable has an address")
		}
		return []*zone{{ips: ips}}, nil
	}
	var zones []*zone
	for _, name := range names {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("discovery: interface %q: %w", name, err)
		}
		ips := addrsOf(ifc)
		if len(ips) == 0 {
			return nil, fmt.Errorf("discovery: interface %q has no address to announce", name)
		}
		zones = append(zones, &zone{iface: ifc, ips: ips})
	}
	return zones, nil
}

// addrsOf is an interface's addresses a client can connect to without
// knowing the interface: IPv6 link-local ones need a zone, so they are
// left out.
func addrsOf(ifc *net.Interface) []net.IP {
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil
	}
	var ips []net.IP
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
			ips = append(ips, ipn.IP)
		}
	}
	return ips
}

// hostName is this machine's name in .local: the target of the SRV record.
func hostName() string {
	h, err := os.Hostname()
	if err != nil {
		h = "dpc-hub"
	}
	h, _, _ = strings.Cut(h, ".")
	if s, err := InstanceName(h); err == nil {
		h = s
	} else {
		h = "dpc-hub"
	}
	return h + "." + Domain
}

func ifaceName(ifc *net.Interface) string {
	if ifc == nil {
		return "the default interface"
	}
	return ifc.Name
}

// slogWriter turns the library's log lines into debug records.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}
