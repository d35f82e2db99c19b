package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
)

// listenAddr is one address the hub listens on and the flag that sets it.
type listenAddr struct {
	addr, what, flag string
}

// listenAddrs are the addresses the flags ask the hub to listen on; a
// random port (0 or -1) or a listener turned off is left out.
func (c *CLI) listenAddrs() []listenAddr {
	var out []listenAddr
	add := func(host string, port int, what, flag string) {
		if port > 0 {
			out = append(out, listenAddr{net.JoinHostPort(host, strconv.Itoa(port)), what, flag})
		}
	}
	add(c.Host, c.Port, "NATS clients", "--port")
	add(c.HTTPHost, c.HTTPPort, "monitoring", "--http-port")
	if host, port, err := net.SplitHostPort(c.Metrics); err == nil && c.Metrics != "" {
		p, _ := strconv.Atoi(port)
		add(host, p, "metrics", "--metrics")
	}
	if host, port, err := net.SplitHostPort(c.Web); err == nil && c.Web != "" {
		p, _ := strconv.Atoi(port)
		add(host, p, "web app", "--web")
	}
	if c.ClusterName != "" {
		add(c.ClusterHost, c.ClusterPort, "routes", "--cluster-port")
	}
	return out
}

// portsTaken explains a start that failed on an address in use: every one
// of the hub's addresses that another process holds, with its flag, since
// the server names only the first it tried (the monitoring port, when a
// second hub starts on the defaults). It returns err unchanged otherwise.
func (c *CLI) portsTaken(err error) error {
	if !errors.Is(err, syscall.EADDRINUSE) && !strings.Contains(err.Error(), "address already in use") {
		return err
	}
	var taken []string
	for _, a := range c.listenAddrs() {
		l, lerr := net.Listen("tcp", a.addr)
		if lerr == nil {
			l.Close()
			continue
		}
		if errors.Is(lerr, syscall.EADDRINUSE) {
			taken = append(taken, fmt.Sprintf("%s (%s, %s)", a.addr, a.what, a.flag))
		}
	}
	if len(taken) == 0 {
		return err
	}
	return fmt.Errorf("in use by another process: %s. Is another dpc-hub running on this machine? Stop it, or give this one other ports", strings.Join(taken, ", "))
}
