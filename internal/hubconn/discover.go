package hubconn

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/dpc-project/dpc/discovery"
	"github.com/dpc-project/dpc/trust"
)

// ErrNoChoice: hubs answered on the LAN, but not exactly one that fits.
var ErrNoChoice = errors.New("hubconn: no single hub on the LAN to use")

// Discover browses the LAN for hubs (package discovery) and returns the
// URLs of the one to use: with pin, the only hub whose CA fingerprint
// pin accepts (the CA this machine paired with, or the one a pairing
// code names); without, the only hub that answered. No hub answering is
// not an error (nil URLs): the caller falls back on its default. Several
// that fit, or none that fits among those that answered, is ErrNoChoice,
// listing them: DPC never guesses which hub to trust with an identity.
func Discover(ctx context.Context, pin func(ca [32]byte) bool) ([]string, error) {
	hubs, err := discovery.Browse(ctx, discovery.BrowseOptions{})
	if err != nil || len(hubs) == 0 {
		// No multicast here is the same as no hub: the default applies.
		return nil, nil
	}
	fits := hubs
	if pin != nil {
		fits = nil
		for _, h := range hubs {
			if fp, err := parseFingerprint(h.CA); err == nil && pin(fp) {
				fits = append(fits, h)
			}
		}
	}
	switch {
	case len(fits) == 1:
		return fits[0].URLs(), nil
	case len(fits) == 0:
		return nil, fmt.Errorf("%w: %s answer, none with the CA this machine trusts; say which with --nats URL", ErrNoChoice, listHubs(hubs))
	default:
		return nil, fmt.Errorf("%w: %s answer; say which with --nats URL", ErrNoChoice, listHubs(fits))
	}
}

// listHubs is hubs for an error message: name, first URL, short CA.
func listHubs(hubs []discovery.Hub) string {
	parts := make([]string, 0, len(hubs))
	for _, h := range hubs {
		url := ""
		if u := h.URLs(); len(u) > 0 {
			url = u[0]
		}
		parts = append(parts, fmt.Sprintf("%s (%s, CA %s)", h.Name, url, ShortFingerprint(h.CA)))
	}
	return strings.Join(parts, ", ")
}

// ShortFingerprint is the first 16 hex digits of a CA fingerprint: enough
// for a person to tell hubs apart.
func ShortFingerprint(fp string) string {
	if len(fp) > 16 {
		return fp[:16]
	}
	return fp
}

func parseFingerprint(s string) ([32]byte, error) {
	var fp [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(fp) {
		return fp, fmt.Errorf("hubconn: %q is not a CA fingerprint", s)
	}
	copy(fp[:], b)
	return fp, nil
}

// CAFingerprint is the hex SHA-256 fingerprint of the CA in a PEM file,
// as a hub announces it.
func CAFingerprint(file string) (string, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	ca, err := trust.ParseCAPEM(pem)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	fp := trust.Fingerprint(ca.Raw)
	return hex.EncodeToString(fp[:]), nil
}

// pinCA accepts the hub whose CA is the one in file.
func pinCA(file string) (func([32]byte) bool, error) {
	want, err := CAFingerprint(file)
	if err != nil {
		return nil, fmt.Errorf("hub CA: %w", err)
	}
	return func(fp [32]byte) bool { return hex.EncodeToString(fp[:]) == want }, nil
}

// AfterApply completes --nats once the command line is parsed: when
// neither it nor the profile names a hub, the hub found on the LAN (see
// ResolveConnection). Resolving once here means the command browses
// once, not at every use of the flags.
func (f *HubFlags) AfterApply() error {
	if f.NATS != "" {
		return nil
	}
	c, err := f.connection()
	if err != nil {
		return err
	}
	if c.discovered {
		f.NATS = strings.Join(c.URLs, ",")
	}
	return nil
}

// Moved looks on the LAN for the hub of c when c's URLs (the profile's)
// did not answer: the hub announcing c's CA, at other addresses (a new
// DHCP lease). It returns its URLs, or nil when none answers, or the one
// that does is at the URLs c already has. The TLS handshake still checks
// the CA, as for any URL.
func Moved(ctx context.Context, c trust.Connection) []string {
	if c.CAFile == "" {
		return nil
	}
	pin, err := pinCA(c.CAFile)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, discovery.DefaultTimeout)
	defer cancel()
	urls, err := Discover(ctx, pin)
	if err != nil || len(urls) == 0 || strings.Join(urls, ",") == c.URL() {
		return nil
	}
	return urls
}
