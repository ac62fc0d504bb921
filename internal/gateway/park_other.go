//go:build !linux

package gateway

import (
	"log/slog"
	"time"
)

// parker is Linux only (it needs epoll); elsewhere idle connections keep
// their goroutine, waiting for a byte without buffers.
type parker struct{}

// parkSlot is empty where nothing parks.
type parkSlot struct{}

func newParker(*slog.Logger, time.Duration, func(*clientConn), func(*clientConn)) (*parker, error) {
	return nil, nil
}

func (*parker) park(*clientConn, time.Time) bool { return false }
func (*parker) closeAll() []*clientConn          { return nil }
func (*parker) stop()                            {}
