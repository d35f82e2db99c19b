package discovery

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/hashicorp/mdns"
)

// What a DPC hub would not announce is refused, saying what was wrong.
func TestHubOf_Malformed(t *testing.T) {
	ca := strings.Repeat("ab", 32)
	good := func() *mdns.ServiceEntry {
		return &mdns.ServiceEntry{Name: "hub._dpc._tcp.local.", AddrV4: net.IPv4(10, 0, 0, 2), Port: 4222,
			InfoFields: []string{"v=1", "tls=1", "ca=" + ca}}
	}
	if h, err := hubOf(good()); err != nil || h.Name != "hub" || h.CA != ca || !h.TLS || h.Addrs[0] != "10.0.0.2" {
		t.Fatalf("hubOf(good) = %+v, %v", h, err)
	}
	for what, change := range map[string]func(*mdns.ServiceEntry){
		"another service": func(e *mdns.ServiceEntry) { e.Name = "printer._ipp._tcp.local." },
		"no port":         func(e *mdns.ServiceEntry) { e.Port = 0 },
		"no address":      func(e *mdns.ServiceEntry) { e.AddrV4 = nil },
		"other version":   func(e *mdns.ServiceEntry) { e.InfoFields[0] = "v=2" },
		"bad tls":         func(e *mdns.ServiceEntry) { e.InfoFields[1] = "tls=yes" },
		"short ca":        func(e *mdns.ServiceEntry) { e.InfoFields[2] = "ca=abcd" },
		"no ca":           func(e *mdns.ServiceEntry) { e.InfoFields = e.InfoFields[:2] },
		"long name":       func(e *mdns.ServiceEntry) { e.Name = strings.Repeat("x", 64) + "._dpc._tcp.local." },
	} {
		e := good()
		change(e)
		if _, err := hubOf(e); !errors.Is(err, errMalformed) {
			t.Errorf("%s: err %v, want errMalformed", what, err)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`a\.b`: "a.b", `a\032b`: "a b", `plain`: "plain", `end\`: `end\`} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// The TXT strings of an answer are outside input: whatever they hold,
// parseTXT either refuses them or yields a hub a client can use.
func FuzzParseTXT(f *testing.F) {
	f.Add("v=1", "tls=1", "ca="+strings.Repeat("ab", 32))
	f.Add("v=1", "tls=0", "ca=")
	f.Add("v", "=", "ca=zz")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var h Hub
		if err := parseTXT(&h, []string{a, b, c}); err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v is not errMalformed", err)
			}
			return
		}
		if h.Version != Version || len(h.CA) != 64 || strings.ToLower(h.CA) != h.CA {
			t.Fatalf("accepted %+v", h)
		}
	})
}
