package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Config says which connections to open.
type Config struct {
	Addr     string // server host:port
	Conns    int    // how many connections
	Parallel int    // how many are being opened at once; at least 1
	Path     string // path requested on each; "/" when empty
}

// Result tells how opening the connections went.
type Result struct {
	Open     int   // connections open and idle after one answered request
	Failed   int   // connections that could not be opened or were not answered
	FirstErr error // why the first failed one failed
}

// Hold opens the connections, sends one request on each and reads the
// answer, calls ready, then keeps the open ones idle until ctx ends and
// closes them.
func Hold(ctx context.Context, cfg Config, ready func(Result)) error {
	if cfg.Conns < 0 || cfg.Parallel < 1 {
		return fmt.Errorf("want 0 or more connections opened at least 1 at a time, got %d and %d", cfg.Conns, cfg.Parallel)
	}
	path := cfg.Path
	if path == "" {
		path = "/"
	}
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + cfg.Addr + "\r\nUser-Agent: idleconns\r\n\r\n")

	var (
		mu    sync.Mutex
		conns = make([]net.Conn, 0, cfg.Conns)
		res   Result
		wg    sync.WaitGroup
		next  = make(chan struct{})
	)
	for range cfg.Parallel {
		wg.Go(func() {
			for range next {
				c, err := open(ctx, cfg.Addr, req)
				mu.Lock()
				if err != nil {
					res.Failed++
					if res.FirstErr == nil {
						res.FirstErr = err
					}
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		})
	}
	for range cfg.Conns {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	res.Open = len(conns)
	ready(res)

	<-ctx.Done()
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// open dials addr, sends req and reads the answer, leaving the connection
// idle. Only the net.Conn is kept: the reader's buffer is garbage once the
// answer is read, so the client's own memory stays small.
func open(ctx context.Context, addr string, req []byte) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, fmt.Errorf("send request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 1024), nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read answer: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read answer body: %w", err)
	}
	if resp.Close {
		c.Close()
		return nil, fmt.Errorf("server answered %s and closed the connection", resp.Status)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
