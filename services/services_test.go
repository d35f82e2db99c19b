package services_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/dpc-project/dpc/services"
)

func TestGet_Options(t *testing.T) {
	for _, tc := range []struct {
		name     string
		service  string
		opts     services.Options
		wantName string
		wantErr  string
	}{
		{"defaults", "work", services.Options{}, "work", ""},
		{"renamed", "work", services.Options{Name: "work-fixed"}, "work-fixed", ""},
		{"same name", "tst", services.Options{Name: "tst"}, "tst", ""},
		{"exp", "work", services.Options{ServiceTime: time.Second, ServiceTimeDist: "exp"}, "work", ""},
		{"bad name", "work", services.Options{Name: "work.fixed"}, "", `running work as "work.fixed"`},
		{"negative time", "work", services.Options{ServiceTime: -time.Millisecond}, "", "service time -1ms"},
		{"bad dist", "tst", services.Options{ServiceTimeDist: "normal"}, "", `distribution "normal"`},
		{"unknown", "nosuch", services.Options{}, "", `no service "nosuch" (have: textutil, tst, work)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := services.Get(tc.service, nil, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if svc.Manifest.Name != tc.wantName {
				t.Errorf("name %q, want %q", svc.Manifest.Name, tc.wantName)
			}
		})
	}
}

// A manifest the caller gives is the caller's: renaming the service must
// not change it.
func TestGet_RenameLeavesTheCallersManifest(t *testing.T) {
	m, err := manifests.Builtin("work")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := services.Get("work", m, services.Options{Name: "work-b"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "work" || svc.Manifest.Name != "work-b" {
		t.Errorf("caller's manifest %q, service's %q; want work and work-b", m.Name, svc.Manifest.Name)
	}
}

// Two configurations of work run side by side under their own names, on
// a real server, each answering with its instance's id.
func TestGet_RenamedServicesRunSideBySide(t *testing.T) {
	srv := brokertest.Start(t)
	node, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, name := range []string{"work", "work-fixed"} {
		svc, err := services.Get("work", nil, services.Options{Name: name, ServiceTime: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := servicehost.Bind(ctx, node, svc, servicehost.Config{InstanceID: name + "-1"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"work", "work-fixed"} {
		var served string
		if err := node.Lookup(name).Call(ctx, "work", nil, &served); err != nil || served != name+"-1" {
			t.Errorf("%s.work served by %q, %v; want %s-1", name, served, err, name)
		}
	}
}
