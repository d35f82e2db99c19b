package soak

import "testing"

func TestGrowth_SlopeAfterWarmup(t *testing.T) {
	var samples []MemSample
	for i := range 6 {
		calls := i * 1000
		rss := int64(10 << 20)
		if i > 0 {
			rss += int64(calls) * 100 // 100 bytes per call after warm-up
		}
		samples = append(samples, MemSample{Calls: calls, RSS: map[string]int64{"hub": rss}, HubHeapInuse: 1 << 20, HubGoroutines: 50})
	}
	g := Growths(samples, 1000)
	if len(g) != 3 {
		t.Fatalf("want hub RSS, heap and goroutines, got %+v", g)
	}
	if g[0].Series != "hub RSS" || g[0].FromCalls != 1000 || g[0].ToCalls != 5000 {
		t.Errorf("hub RSS: %+v", g[0])
	}
	if d := g[0].PerCall - 100; d > 1e-9 || d < -1e-9 {
		t.Errorf("slope %v, want 100 bytes per call", g[0].PerCall)
	}
	if g[1].PerCall != 0 || g[2].PerCall != 0 {
		t.Errorf("flat series with a slope: %+v %+v", g[1], g[2])
	}
	if Growths(samples[:2], 1000) != nil {
		t.Error("growth from a single sample after warm-up")
	}
}
