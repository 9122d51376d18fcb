// go-server: a minimal crypto/tls server for the stekwatch fixtures (captures/make-fixtures.sh).
//
// The TLS configuration is Go's default apart from the certificate: session tickets are on and
// no SetSessionTicketKeys call is made, so the ticket keys are the ones crypto/tls generates
// itself for this process.  Each connection gets a short HTTP answer; the server then waits for
// the client to close, so TLS 1.3 clients have time to read the NewSessionTickets.
//
// Usage: go-server ADDRESS CERT.pem KEY.pem
package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"time"
)

func serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	tc := c.(*tls.Conn)
	if err := tc.Handshake(); err != nil {
		log.Printf("%s: handshake: %v", c.RemoteAddr(), err)
		return
	}
	st := tc.ConnectionState()
	log.Printf("%s: version %#04x resumed %v sni %q", c.RemoteAddr(), st.Version, st.DidResume, st.ServerName)
	_, _ = io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
	_, _ = io.Copy(io.Discard, bufio.NewReader(c))
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: go-server ADDRESS CERT.pem KEY.pem")
		os.Exit(2)
	}
	cert, err := tls.LoadX509KeyPair(os.Args[2], os.Args[3])
	if err != nil {
		log.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := tls.Listen("tcp", os.Args[1], cfg)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("go-server %s listening on %s", runtime.Version(), ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c)
	}
}
