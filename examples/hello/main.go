// Command hello is the example playpen's HTTP service: it answers on
// $HELLO_PORT with a greeting, the package version it runs and its pid,
// and exits cleanly on SIGTERM. `make demo` builds it into the example
// package ext/packages/hello-VERSION/bin/hello. Handed a socket the way
// systemd hands them (LISTEN_FDS, LISTEN_PID: servicectl's
// service_sockets, SPEC §4.11), it serves on that socket instead of
// binding one, so a restart refuses no connection.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "probe" {
		probe(os.Args[2])
		return
	}
	port := os.Getenv("HELLO_PORT")
	greeting := os.Getenv("HELLO_GREETING")
	if greeting == "" {
		greeting = "hello"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s from %s %s (pid %d, upgraded=%s)\n", greeting, os.Getenv("SERVICE_NAME"), os.Getenv("SERVICE_VERSION"), os.Getpid(), os.Getenv("SERVICE_UPGRADED"))
	})
	mux.HandleFunc("/banner", func(w http.ResponseWriter, r *http.Request) {
		// The config file servicectl rendered from a template before start.
		http.ServeFile(w, r, os.Getenv("HELLO_BANNER"))
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Addr: "127.0.0.1:" + port, Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// On SIGTERM it stops accepting and answers every connection it
	// accepted before it exits; with a socket handed over, what it did
	// not accept waits in the backlog for the next process. (Not
	// http.Server.Shutdown: a request it reads while shutting down is
	// closed unanswered.)
	var conns sync.WaitGroup
	srv.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed || st == http.StateHijacked {
			conns.Done()
		}
	}
	ln := handed()
	if ln != nil {
		log.Printf("serving on the socket handed to it (%s)", ln.Addr())
	} else {
		var err error
		if ln, err = net.Listen("tcp", srv.Addr); err != nil {
			log.Fatal(err)
		}
		log.Printf("listening on %s", srv.Addr)
	}
	go func() {
		<-ctx.Done()
		log.Printf("stopping")
		srv.SetKeepAlivesEnabled(false)
		ln.Close()
	}()
	if err := srv.Serve(countingListener{ln, &conns}); ctx.Err() == nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() { conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second): // idle keep-alive clients
	}
}

// countingListener counts a connection from the moment it is accepted.
type countingListener struct {
	net.Listener
	conns *sync.WaitGroup
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.conns.Add(1)
	}
	return c, err
}

// handed is the first socket of systemd's protocol, when this process is
// the one it is meant for (LISTEN_PID is its own pid), else nil.
func handed() net.Listener {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return nil
	}
	if n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS")); n < 1 {
		return nil
	}
	ln, err := net.FileListener(os.NewFile(3, "LISTEN_FDS 3"))
	if err != nil {
		log.Fatalf("LISTEN_FDS: fd 3: %v", err)
	}
	return ln
}

// probe is `hello probe URL`, what `make demo` runs during an upgrade:
// requests one after another, each on a new connection, until SIGTERM
// or SIGINT; then how many were sent and how many failed.
func probe(url string) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	sent, failed := 0, 0
	for ctx.Err() == nil {
		sent++
		resp, err := c.Get(url)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			failed++
		}
	}
	fmt.Printf("%d requests during the upgrade, %d failed\n", sent, failed)
}
