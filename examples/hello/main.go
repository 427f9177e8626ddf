// Command hello is the example playpen's HTTP service: it answers on
// $HELLO_PORT with a greeting, the package version it runs and its pid,
// and exits cleanly on SIGTERM. `make demo` builds it into the example
// package ext/packages/hello-VERSION/bin/hello.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
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
	go func() {
		<-ctx.Done()
		log.Printf("stopping")
		srv.Shutdown(context.Background())
	}()
	log.Printf("listening on %s", srv.Addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
