package broker

import (
	"regexp"
	"strconv"
	"strings"
)

// SecurityEvent is a client the server refused: a failed authentication,
// or a publish or subscription its permissions do not allow. The server
// reports these only in its log; the broker reads them from there so the
// host program can log them with an identity and count them.
type SecurityEvent struct {
	// Kind is "authentication" or "permission".
	Kind string
	// Op is "publish" or "subscribe" for a permission event.
	Op string
	// CID is the client's connection id on this server (0 if unknown);
	// Addr its address.
	CID  uint64
	Addr string
	// User is the public key the client presented, if any.
	User string
	// Subject (and Queue, for a subscription) it was refused.
	Subject, Queue string
}

var (
	reCID     = regexp.MustCompile(`^([^ ]+) - cid:(\d+)`)
	reSubject = regexp.MustCompile(`(?:Subject|Reply) "([^"]*)"`)
	reQueue   = regexp.MustCompile(`Queue: "([^"]*)"`)
	reUser    = regexp.MustCompile(`JWT User "([^"]*)"`)
)

// securityEvent recognises the server's log lines about refused clients.
func securityEvent(msg string) (SecurityEvent, bool) {
	var ev SecurityEvent
	switch {
	case strings.Contains(msg, "authentication error"):
		ev.Kind = "authentication"
		if m := reUser.FindStringSubmatch(msg); m != nil {
			ev.User = m[1]
		}
	case strings.Contains(msg, "Publish Violation"):
		ev.Kind, ev.Op = "permission", "publish"
	case strings.Contains(msg, "Subscription Violation"):
		ev.Kind, ev.Op = "permission", "subscribe"
	default:
		return ev, false
	}
	if m := reCID.FindStringSubmatch(msg); m != nil {
		ev.Addr = m[1]
		ev.CID, _ = strconv.ParseUint(m[2], 10, 64)
	}
	if m := reSubject.FindStringSubmatch(msg); m != nil {
		ev.Subject = m[1]
	}
	if m := reQueue.FindStringSubmatch(msg); m != nil {
		ev.Queue = m[1]
	}
	return ev, true
}
