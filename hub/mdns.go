package hub

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/dpc-project/dpc/discovery"
)

// announce starts announcing the hub on the LAN (Config.Announce) under
// its server name: the name given, or one made unique per machine in a
// cluster. A hub with the default name adds its host name, so that two
// households' hubs on one network are told apart.
//
// A hub that listens on loopback only announces nothing unless told on
// which interfaces (a test's namespace). A hub told to announce on
// interfaces that cannot fails to start; one announcing on the default
// interface only warns, since a machine without a multicast network
// still serves its clients by address.
func (h *Hub) announce(ctx context.Context, name string) error {
	if !h.cfg.Announce {
		return nil
	}
	if name == DefaultConfig().Name {
		if host, err := os.Hostname(); err == nil && host != "" {
			name += "-" + host
		}
	}
	ip := net.ParseIP(h.cfg.Host)
	if ip != nil && ip.IsLoopback() && len(h.cfg.AnnounceInterfaces) == 0 {
		// Nobody else on the LAN could connect to it.
		h.log.Info("not announcing the hub on the LAN: it listens on loopback only", "host", h.cfg.Host)
		return nil
	}
	_, p, _ := net.SplitHostPort(h.srv.NATS().Addr().String())
	port, _ := strconv.Atoi(p)
	a := discovery.Announcement{Name: name, Port: port, TLS: true, CA: h.caFP,
		Interfaces: h.cfg.AnnounceInterfaces, Logger: h.log}
	if ip != nil && !ip.IsUnspecified() {
		a.Addrs = []net.IP{ip} // the only address the hub listens on
	}
	an, err := discovery.Announce(ctx, a)
	switch {
	case err != nil && len(h.cfg.AnnounceInterfaces) > 0:
		return fmt.Errorf("hub: announcing on the LAN: %w", err)
	case err != nil:
		h.log.Warn("not announcing the hub on the LAN", "err", err)
		return nil
	}
	h.announcer = an
	inst, _ := discovery.InstanceName(name)
	h.log.Info("announcing the hub on the LAN", "service", discovery.ServiceType, "instance", inst, "port", port)
	return nil
}
