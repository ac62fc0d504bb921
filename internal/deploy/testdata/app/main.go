// Command app is the service the deploy tests ship: it answers with its
// version, has a health check, a slow endpoint and a WebSocket echo, and
// closes WebSockets with "going away" on SIGTERM. MODE makes it misbehave.
//
// Environment: PORT, VERSION; MODE=unhealthy (health answers 503),
// failing (healthy, every other request 500), crash (exits at once);
// STARTUP_DELAY (a duration) before it listens.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func main() {
	version, mode := os.Getenv("VERSION"), os.Getenv("MODE")
	log.SetFlags(0)
	log.Printf("app %s starting (mode %q, port %s)", version, mode, os.Getenv("PORT"))
	if mode == "crash" {
		log.Print("fatal: cannot read /etc/app/config.yaml: no such file or directory")
		os.Exit(1)
	}
	if d, err := time.ParseDuration(os.Getenv("STARTUP_DELAY")); err == nil {
		time.Sleep(d)
	}

	var (
		mu    sync.Mutex
		conns = map[*websocket.Conn]bool{}
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if mode == "unhealthy" {
			log.Print("health: db connect failed: dial tcp 127.0.0.1:5432: connection refused")
			http.Error(w, "warming up: database not reachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
		for {
			_, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if err := c.Write(context.Background(), websocket.MessageText, []byte(version+":"+string(msg))); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if ms, err := strconv.Atoi(r.URL.Query().Get("slow_ms")); err == nil {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		w.Header().Set("X-Version", version)
		if mode == "failing" {
			http.Error(w, version+": internal error", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, version)
	})
	srv := &http.Server{Addr: ":" + os.Getenv("PORT"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		log.Printf("app %s: SIGTERM, closing WebSockets and draining", version)
		mu.Lock()
		for c := range conns {
			go c.Close(websocket.StatusGoingAway, version+" is shutting down")
		}
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	log.Printf("app %s listening on %s", version, srv.Addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	// Let the close handshakes finish.
	time.Sleep(200 * time.Millisecond)
	log.Printf("app %s stopped", version)
}
