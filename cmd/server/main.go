// Command server serves mmuviz — the page, the lesson panel and the Go
// program compiled to WebAssembly — from files embedded in the binary, so a
// single file runs the whole thing offline. With -static DIR it writes the
// site to DIR for any static web host instead.
//
// Usage:
//
//	server [-addr 127.0.0.1:8080] [-static DIR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"mmuviz/web"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mmuviz:", err)
		os.Exit(1)
	}
}

// run parses the flags and either exports the static site or serves until
// SIGINT/SIGTERM.
func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("server", flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	static := fl.String("static", "", "write the site to this directory and exit")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}
	files, err := loadSite(web.FS)
	if err != nil {
		return err
	}
	if *static != "" {
		if err := exportStatic(files, *static); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "mmuviz: wrote the site to %s\n", *static)
		return nil
	}
	if files[wasmName] == nil {
		fmt.Fprintln(stderr, "mmuviz: warning: "+wasmName+" is not embedded; run `make wasm` and rebuild. The page will show an error.")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, *addr, files, stdout)
}

// newServer returns an http.Server with timeouts, so slow or idle clients
// cannot hold connections forever. WriteTimeout allows the raw 20 MB wasm to
// reach a slow client.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
}

// serve listens on addr, prints the URL to open and serves until ctx ends.
func serve(ctx context.Context, addr string, files siteFiles, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	files.warm()
	srv := newServer(newHandler(files))
	fmt.Fprintf(stdout, "mmuviz: serving on %s\n", browseURL(ln.Addr()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// browseURL is the URL a browser on this machine opens for a listener
// address: the real port, and loopback for a wildcard host (":8080" listens
// on every interface but "http://[::]:8080/" is not something to click).
func browseURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String() + "/"
	}
	host := tcp.IP
	if host == nil || host.IsUnspecified() {
		host = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(host.String(), fmt.Sprint(tcp.Port)) + "/"
}
