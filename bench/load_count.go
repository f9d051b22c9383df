package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// wireCount is what a countingProxy saw clients send PostgreSQL: round
// trips (a client write after the server answered, or the first one) and
// statements (Execute and simple Query messages).
type wireCount struct {
	trips, stmts int64
}

// countingProxy sits between servers and PostgreSQL on loopback and
// counts, per connection, the round trips and statements of the wire
// protocol, so that every server — in-process or not — is counted the same
// way, by what reaches the database.
type countingProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	count  wireCount
}

// startCountingProxy listens on loopback in front of the database at
// dbURL and returns the URL that reaches it through the proxy (TLS off,
// so the protocol can be read).
func startCountingProxy(dbURL string) (*countingProxy, string, error) {
	u, err := url.Parse(dbURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, "", fmt.Errorf("counting proxy: a postgres:// URL is needed, got %q", dbURL)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	p := &countingProxy{ln: ln, target: u.Host}
	go p.serve()
	u.Host = ln.Addr().String()
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return p, u.String(), nil
}

func (p *countingProxy) close() { p.ln.Close() }

func (p *countingProxy) reset() wireCount {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.count
	p.count = wireCount{}
	return c
}

func (p *countingProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *countingProxy) pipe(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	st := &protoState{}
	var answered sync.Mutex // guards awaiting
	awaiting := false
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				answered.Lock()
				awaiting = false
				answered.Unlock()
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				client.Close()
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			answered.Lock()
			newTrip := !awaiting
			awaiting = true
			answered.Unlock()
			stmts := st.feed(buf[:n])
			p.mu.Lock()
			if newTrip && st.started {
				p.count.trips++
			}
			p.count.stmts += stmts
			p.mu.Unlock()
			if _, werr := server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// protoState follows the frontend side of one connection's protocol
// stream across reads.
type protoState struct {
	started bool   // past the start-up message: messages are typed
	head    []byte // a message header being read
	skip    int    // bytes of the current message body still to come
}

// feed consumes b and returns how many statements it sent.
func (s *protoState) feed(b []byte) int64 {
	var stmts int64
	for len(b) > 0 {
		if s.skip > 0 {
			n := min(s.skip, len(b))
			s.skip -= n
			b = b[n:]
			continue
		}
		need := 5
		if !s.started {
			need = 8
		}
		take := min(need-len(s.head), len(b))
		s.head = append(s.head, b[:take]...)
		b = b[take:]
		if len(s.head) < need {
			break
		}
		if !s.started {
			n := int(binary.BigEndian.Uint32(s.head[0:4]))
			code := binary.BigEndian.Uint32(s.head[4:8])
			s.skip = max(n-8, 0)
			// SSLRequest and GSSENCRequest come before the start-up
			// message proper.
			if code != 80877103 && code != 80877104 {
				s.started = true
			}
		} else {
			switch s.head[0] {
			case 'E', 'Q':
				stmts++
			}
			s.skip = max(int(binary.BigEndian.Uint32(s.head[1:5]))-4, 0)
		}
		s.head = s.head[:0]
	}
	return stmts
}

// countRequests sends n requests of each kind of the workload, one after
// the other, to the server at addr (reaching PostgreSQL through p) and
// returns the round trips and statements per list and per create.
func countRequests(ctx context.Context, p *countingProxy, addr string, t loadTenant, n int) (list, create wireCount, err error) {
	send := func(method, path, body string, want int) error {
		req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Host = t.Host
		req.Header.Set("Authorization", "Bearer "+t.Token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
		}
		return nil
	}
	kinds := []struct {
		method, path, body string
		want               int
		into               *wireCount
	}{
		{"GET", "/api/todos/?limit=20", "", http.StatusOK, &list},
		{"POST", "/api/todos/", `{"title":"counted","description":"d"}`, http.StatusCreated, &create},
	}
	for _, k := range kinds {
		// Warm: the host resolved, the pool's connection open.
		for range 3 {
			if err := send(k.method, k.path, k.body, k.want); err != nil {
				return list, create, err
			}
		}
		p.reset()
		for range n {
			if err := send(k.method, k.path, k.body, k.want); err != nil {
				return list, create, err
			}
		}
		*k.into = p.reset()
	}
	return list, create, nil
}
