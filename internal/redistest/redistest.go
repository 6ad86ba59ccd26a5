// Package redistest runs real redis-server processes for tests: one server
// that can be stopped and restarted on the same port, or a small Cluster.
// It never touches a Redis already running on the machine.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/testproc"
)

// skipEnv lets machines without redis-server skip instead of fail.
const skipEnv = "WHI_ALLOW_SKIP_REDIS"

const startTimeout = 10 * time.Second

// Option changes how a server is started.
type Option func(*config)

type config struct {
	appendOnly bool
	cluster    bool
	password   string
}

// WithAppendOnly enables the append-only file (fsync everysec) so that data
// survives Stop and Start.
func WithAppendOnly() Option { return func(c *config) { c.appendOnly = true } }

// WithPassword starts the server with requirepass: clients must AUTH.
func WithPassword(password string) Option { return func(c *config) { c.password = password } }

// Server is one redis-server process on a fixed port.
type Server struct {
	t    testing.TB
	cfg  config
	port int
	dir  string

	mu   sync.Mutex
	proc *testproc.Process // nil while stopped

	pwMu     sync.Mutex
	password string // what Do authenticates with; SetPassword changes it
}

// Start starts a redis-server on a free port in a temporary directory; it is
// killed when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	return start(t, cfg, freePort(t, false))
}

func start(t testing.TB, cfg config, port int) *Server {
	t.Helper()
	requireBinaries(t)
	s := &Server{t: t, cfg: cfg, port: port, dir: t.TempDir(), password: cfg.password}
	t.Cleanup(s.kill)
	s.Start()
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is redis://host:port/0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Start (re)starts the server on its port and waits until it answers PING.
// It does nothing when the server is running.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return
	}
	args := []string{"--logfile", "redis.log"}
	if s.cfg.appendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	}
	if pw := s.currentPassword(); pw != "" {
		args = append(args, "--requirepass", pw)
	}
	if s.cfg.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000")
	}
	proc, err := testproc.StartRedis(s.dir, s.port, args...)
	if err != nil {
		s.t.Fatalf("redistest: %v; log:\n%s", err, s.log())
	}
	s.proc = proc
	deadline := time.Now().Add(startTimeout)
	for {
		reply, err := s.Do("PING")
		if err == nil && reply == "PONG" {
			return
		}
		select {
		case <-proc.Exited():
			s.proc = nil
			s.t.Fatalf("redistest: redis-server on port %d exited at start; log:\n%s", s.port, s.log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: redis-server on port %d did not answer PING: %v", s.port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop terminates the server (SIGTERM, then SIGKILL after 5s) and waits
// until it has exited. The port stays reserved for Start.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Stop(5 * time.Second)
		s.proc = nil
	}
}

func (s *Server) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Kill()
		s.proc = nil
	}
}

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(b)
}

func (s *Server) currentPassword() string {
	s.pwMu.Lock()
	defer s.pwMu.Unlock()
	return s.password
}

// SetPassword changes requirepass on the running server (and for restarts).
// Connections already authenticated stay so; KillClients ends them.
func (s *Server) SetPassword(password string) error {
	if _, err := s.Do("CONFIG", "SET", "requirepass", password); err != nil {
		return err
	}
	s.pwMu.Lock()
	s.password = password
	s.pwMu.Unlock()
	return nil
}

// KillClients closes every client connection, as a Redis restart or a
// rotation that revokes sessions would: clients must connect (and AUTH)
// again.
func (s *Server) KillClients() error {
	_, err := s.Do("CLIENT", "KILL", "TYPE", "normal")
	return err
}

// Do sends one command and returns the reply as text (simple or bulk string,
// integer); error replies are returned as errors.
func (s *Server) Do(args ...string) (string, error) { return s.DoDB(0, args...) }

// DoDB is Do on database db.
func (s *Server) DoDB(db int, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	if pw := s.currentPassword(); pw != "" {
		if _, err := command(conn, r, "AUTH", pw); err != nil {
			return "", err
		}
	}
	if db != 0 {
		if _, err := command(conn, r, "SELECT", strconv.Itoa(db)); err != nil {
			return "", err
		}
	}
	return command(conn, r, args...)
}

// command sends one command on conn and reads its reply from r.
func command(conn net.Conn, r *bufio.Reader, args ...string) (string, error) {
	var req strings.Builder
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(req.String())); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("redistest: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("redistest: unsupported reply %q", line)
}

// Cluster is a Redis Cluster of masters without replicas.
type Cluster struct {
	Nodes []*Server
}

// Addrs lists the nodes' host:port.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// StartCluster starts n cluster-enabled servers, joins them with
// `redis-cli --cluster create` and waits until every node reports
// cluster_state:ok.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{}
	for range n {
		c.Nodes = append(c.Nodes, start(t, config{cluster: true}, freePort(t, true)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, node := range c.Nodes {
		for {
			info, err := node.Do("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %s not ok: %v %s", node.Addr(), err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

func requireBinaries(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv(skipEnv) == "1" {
				t.Skipf("redistest: %s is not on PATH (%s=1)", bin, skipEnv)
			}
			t.Fatalf("redistest: %s is not on PATH; install redis-server (the Makefile does) or set %s=1 to skip", bin, skipEnv)
		}
	}
}

// freePort finds a port for a server (testproc.FreePort).
func freePort(t testing.TB, withBus bool) int {
	t.Helper()
	port, err := testproc.FreePort(withBus)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return port
}
