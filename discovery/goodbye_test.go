package discovery_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/dpc-project/dpc/discovery"
	"github.com/dpc-project/dpc/discovery/discoverytest"
	"github.com/miekg/dns"
)

// A browser that caches (Avahi, Bonjour) learns of the hub when it starts
// and forgets it when it stops: the records are multicast unsolicited at
// Announce, and again with TTL 0 at Close.
func TestAnnouncer_AnnouncesAndSaysGoodbye(t *testing.T) {
	if !discoverytest.Isolate(t) {
		return
	}
	lo, err := net.InterfaceByName(discoverytest.Interface)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenMulticastUDP("udp4", lo, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	an, err := discovery.Announce(context.Background(), discovery.Announcement{
		Name: "cached-hub", Port: 4222, TLS: true, Interfaces: []string{discoverytest.Interface},
	})
	if err != nil {
		t.Fatal(err)
	}
	// srv is the SRV record of the next response about cached-hub.
	srv := func() *dns.SRV {
		t.Helper()
		buf := make([]byte, 9000)
		for {
			if err := l.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			n, from, err := l.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("no response about the hub: %v", err)
			}
			var m dns.Msg
			if m.Unpack(buf[:n]) != nil || !m.Response {
				continue
			}
			for _, rr := range m.Answer {
				if s, ok := rr.(*dns.SRV); ok && s.Hdr.Name == "cached-hub._dpc._tcp.local." {
					if from.Port != 5353 {
						t.Errorf("response from port %d: browsers ignore responses not from 5353", from.Port)
					}
					return s
				}
			}
		}
	}
	if s := srv(); s.Hdr.Ttl == 0 || s.Port != 4222 {
		t.Errorf("announcement: %v", s)
	}
	an.Close()
	if s := srv(); s.Hdr.Ttl != 0 {
		t.Errorf("goodbye with TTL %d, want 0", s.Hdr.Ttl)
	}
}
