package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// sender sends one request and returns its status, 0 on a transport error.
// Each worker has its own.
type sender interface {
	send(r signedRequest) int
	close()
}

// rawSender writes each request as HTTP/1.1 bytes on one keep-alive
// connection and reads only the status line, the headers it needs and the
// body's length, as wrk does. A net/http client costs about as much CPU
// per request as the gateway's own work, on the same two cores; this one
// costs a fraction, so that what the table compares is the gateway.
type rawSender struct {
	host, path string
	conn       net.Conn
	r          *bufio.Reader
	buf        []byte
}

func newRawSender(target string) (*rawSender, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	return &rawSender{host: u.Host, path: u.RequestURI()}, nil
}

func (s *rawSender) send(r signedRequest) int {
	if s.conn == nil {
		conn, err := net.DialTimeout("tcp", s.host, 5*time.Second)
		if err != nil {
			return 0
		}
		s.conn, s.r = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	b := append(s.buf[:0], "POST "...)
	b = append(b, s.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, s.host...)
	b = append(b, "\r\nContent-Type: application/json\r\nWebhook-Id: "...)
	b = append(b, r.id...)
	b = append(b, "\r\nWebhook-Timestamp: "...)
	b = append(b, r.timestamp...)
	b = append(b, "\r\nWebhook-Signature: "...)
	b = append(b, r.signature...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(r.body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, r.body...)
	s.buf = b
	_ = s.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.conn.Write(b); err != nil {
		s.close()
		return 0
	}
	status, keep, err := s.readResponse()
	if err != nil || !keep {
		s.close()
	}
	if err != nil {
		return 0
	}
	return status
}

var errResponse = errors.New("malformed response")

// readResponse reads one answer and discards its body.
func (s *rawSender) readResponse() (status int, keep bool, err error) {
	line, err := s.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, errResponse
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, errResponse
	}
	length, chunked, keep := -1, false, true
	for {
		line, err := s.r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch http.CanonicalHeaderKey(string(name)) {
		case "Content-Length":
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, false, errResponse
			}
		case "Transfer-Encoding":
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case "Connection":
			keep = !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		err = s.discardChunks()
	case length > 0:
		_, err = s.r.Discard(length)
	case length < 0 && status != http.StatusNoContent && status != http.StatusNotModified:
		keep = false // the body ends with the connection
	}
	return status, keep, err
}

func (s *rawSender) discardChunks() error {
	for {
		line, err := s.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(size), 16, 64)
		if err != nil {
			return errResponse
		}
		if _, err := s.r.Discard(int(n) + 2); err != nil { // the chunk and its CRLF
			return err
		}
		if n == 0 {
			return nil // no trailers are sent to us
		}
	}
}

func (s *rawSender) close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// httpSender sends with net/http's client (`-client http`), for comparison.
type httpSender struct {
	client *http.Client
	url    string
}

func (s *httpSender) send(r signedRequest) int {
	req, err := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(r.body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Webhook-Id", r.id)
	req.Header.Set("Webhook-Timestamp", r.timestamp)
	req.Header.Set("Webhook-Signature", r.signature)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body) // drain so the connection is reused
	resp.Body.Close()
	return resp.StatusCode
}

func (s *httpSender) close() {}
