package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestHoldKeepsEveryConnectionOpenUntilCancelled(t *testing.T) {
	var requests atomic.Int64
	closed := make(chan struct{}, 100)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Write([]byte("ok"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()

	const n = 40
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan Result, 1)
	done := make(chan error, 1)
	go func() {
		done <- Hold(ctx, Config{Addr: srv.Listener.Addr().String(), Conns: n, Parallel: 8}, func(r Result) { results <- r })
	}()

	r := <-results
	if r.Open != n || r.Failed != 0 {
		t.Fatalf("ready with %d open and %d failed (%v), want %d open", r.Open, r.Failed, r.FirstErr, n)
	}
	if got := requests.Load(); got != n {
		t.Errorf("server answered %d requests, want one per connection (%d)", got, n)
	}
	select {
	case <-closed:
		t.Fatal("a connection closed while it should be held")
	default:
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d connections closed after the hold ended", i, n)
		}
	}
}

func TestHoldCountsConnectionsThatFail(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var r Result
	if err := Hold(ctx, Config{Addr: addr, Conns: 3, Parallel: 2}, func(got Result) { r = got; cancel() }); err != nil {
		t.Fatal(err)
	}
	if r.Open != 0 || r.Failed != 3 || r.FirstErr == nil {
		t.Errorf("got %+v, want 3 failed with an error", r)
	}
	var op *net.OpError
	if !errors.As(r.FirstErr, &op) || op.Op != "dial" {
		t.Errorf("first error %v, want the dial's refusal", r.FirstErr)
	}
}
