package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dpc-project/dpc/web"
	"golang.org/x/net/netutil"
)

// Bounds of the web port: anyone on the LAN can reach it before any
// authentication, so what a connection may hold is limited.
const (
	webMaxConns          = 256
	webMaxHeaderBytes    = 16 << 10
	webReadHeaderTimeout = 5 * time.Second
	webIdleTimeout       = 2 * time.Minute
)

// webServer serves the web app over HTTPS with the hub's certificate: the
// embedded static files at /, and at /nats the NATS server's WebSocket
// listener (loopback, no TLS) behind a reverse proxy. The browser
// authenticates to the NATS server itself, as any client does: this
// server adds no API and no authorization of its own.
type webServer struct {
	srv  *http.Server
	url  string
	addr *net.TCPAddr
	cert atomic.Pointer[tls.Certificate]
	// certFile and keyFile are read again by reload (SIGHUP).
	certFile, keyFile string
}

// startWeb listens on addr and serves until shutdown. wsURL is the NATS
// server's WebSocket listener (ws://127.0.0.1:port).
func startWeb(addr, wsURL, certFile, keyFile string, log *slog.Logger) (*webServer, error) {
	w := &webServer{certFile: certFile, keyFile: keyFile}
	if err := w.reload(); err != nil {
		return nil, err
	}
	target, err := url.Parse(wsURL)
	if err != nil {
		return nil, fmt.Errorf("web: websocket listener %q: %w", wsURL, err)
	}
	// The upgrade is an HTTP request to the listener.
	target.Scheme = "http"
	// ReverseProxy passes the WebSocket upgrade through and sets
	// X-Forwarded-For, which the NATS server takes as the client's
	// address (its monitoring and logs then show the phone, not
	// loopback).
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.URL.Path = "/"
			r.SetXForwarded()
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	mux := http.NewServeMux()
	mux.Handle("GET /nats", sameOrigin(proxy))
	mux.Handle("GET /", http.FileServerFS(web.Files()))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("web: --web %s: %w", addr, err)
	}
	w.addr = ln.Addr().(*net.TCPAddr)
	w.url = "https://" + webHostPort(w.addr, addr)
	w.srv = &http.Server{
		Handler:           secureHeaders(mux),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: w.getCertificate},
		ReadHeaderTimeout: webReadHeaderTimeout,
		IdleTimeout:       webIdleTimeout,
		MaxHeaderBytes:    webMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	// The limit counts WebSocket connections too, which last: it bounds
	// browsers at once, not requests.
	limited := netutil.LimitListener(ln, webMaxConns)
	go func() {
		if err := w.srv.ServeTLS(limited, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("web server stopped", "err", err)
		}
	}()
	return w, nil
}

// webHostPort is where a person on this machine reaches the web port.
func webHostPort(a *net.TCPAddr, configured string) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "localhost"
	} else if h, _, err := net.SplitHostPort(configured); err == nil && h != "" && net.ParseIP(h) == nil {
		host = h
	}
	return net.JoinHostPort(host, fmt.Sprint(a.Port))
}

// webPairingLinks are the web app's addresses that other machines can
// reach, each opening the pairing screen with code filled in (the
// fragment never leaves the browser): what `dpc-cli devices add` prints
// and draws as a QR code for a phone's camera.
func (h *Hub) webPairingLinks(code string) []string {
	if h.web == nil {
		return nil
	}
	a := h.web.addr
	var hosts []string
	if !a.IP.IsUnspecified() {
		hosts = append(hosts, a.IP.String())
	} else {
		if name, err := os.Hostname(); err == nil && name != "" {
			hosts = append(hosts, name)
		}
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, ia := range addrs {
				if ipn, ok := ia.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
					hosts = append(hosts, ipn.IP.String())
				}
			}
		}
	}
	out := make([]string, len(hosts))
	for i, host := range hosts {
		out[i] = "https://" + net.JoinHostPort(host, strconv.Itoa(a.Port)) + "/#pair=" + code
	}
	return out
}

// sameOrigin refuses a WebSocket upgrade that a page of another origin
// started: such a page cannot read this origin's credentials, so it
// could only be a guest, but it has no business here either. Clients
// that are not browsers send no Origin and pass.
func sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && o != "https://"+r.Host {
			http.Error(rw, "cross-origin WebSocket refused: open the web app from this hub", http.StatusForbidden)
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// secureHeaders keeps the page to its own origin: no outside scripts,
// no framing, and connections only back to the hub (its /nats).
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		if !strings.HasPrefix(r.URL.Path, "/nats") {
			h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cache-Control", "no-cache")
		}
		next.ServeHTTP(rw, r)
	})
}

func (w *webServer) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return w.cert.Load(), nil
}

// reload reads the certificate again: new connections get it.
func (w *webServer) reload() error {
	c, err := tls.LoadX509KeyPair(w.certFile, w.keyFile)
	if err != nil {
		return fmt.Errorf("web: TLS certificate %s: %w", w.certFile, err)
	}
	w.cert.Store(&c)
	return nil
}

// shutdown stops taking connections and waits, within ctx, for requests
// in flight. WebSocket connections are hijacked, so the NATS server's
// shutdown ends them.
func (w *webServer) shutdown(ctx context.Context) {
	_ = w.srv.Shutdown(ctx)
}
