package metricsserver

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestServer_ServesTheRegistry(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "dpc_test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)
	s, err := Start("127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || !strings.HasSuffix(s.URL(), "/metrics") {
		t.Fatalf("URL %q: want http://127.0.0.1:<port>/metrics", s.URL())
	}
	resp, err := http.Get(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dpc_test_things_total 3", "go_goroutines ", "process_start_time_seconds "} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, b)
		}
	}
	s.Close()
	s.Close() // twice is fine
	if _, err := http.Get(s.URL()); err == nil {
		t.Error("still serving after Close")
	}
}

func TestServer_EmptyAddressServesNothing(t *testing.T) {
	s, err := Start("", NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if s.URL() != "" {
		t.Errorf("URL %q, want empty", s.URL())
	}
	s.Close()
}

func TestServer_BadAddressSaysWhich(t *testing.T) {
	_, err := Start("127.0.0.1:notaport", NewRegistry(), slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:notaport") {
		t.Fatalf("err %v: want one naming the address", err)
	}
}

func TestServer_ServesExtraRoutes(t *testing.T) {
	sd := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "[]") })
	s, err := Start("127.0.0.1:0", NewRegistry(), slog.New(slog.DiscardHandler), Route{Path: "/sd", Handler: sd})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := http.Get(strings.TrimSuffix(s.URL(), "/metrics") + "/sd")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "[]" {
		t.Errorf("/sd: %s %q, want 200 []", resp.Status, b)
	}
}
