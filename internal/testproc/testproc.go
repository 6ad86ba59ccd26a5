// Package testproc starts and stops the processes the end-to-end tests and
// the benchmark run against: the built Caddy, redis-server, and HTTP sinks
// standing in for internal services. It never touches a Redis already
// running on the machine (port 6379).
package testproc

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"text/template"
	"time"
)

var (
	portsMu sync.Mutex
	taken   = map[int]bool{} // ports handed out in this process, kept for restarts
)

// FreePort returns a local TCP port that nothing listens on, never 6379 and
// never one handed out before in this process (a stopped server keeps its
// port to restart on). withBus asks for port+10000 to be free too: a Redis
// Cluster node's bus port.
func FreePort(withBus bool) (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("finding a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if taken[port] || port == 6379 || (withBus && (port+10000 > 65535 || !portFree(port+10000))) {
			continue
		}
		taken[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free port")
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Output collects a process's output for failure messages; it is safe for
// concurrent use.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Process is a started child process.
type Process struct {
	Cmd    *exec.Cmd
	Out    *Output // stdout and stderr
	exited chan struct{}
}

// Start starts cmd with its output in out (a new Output when nil); a
// process restarted with the same out keeps one log.
func Start(cmd *exec.Cmd, out *Output) (*Process, error) {
	if out == nil {
		out = new(Output)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, Out: out, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Stop sends SIGTERM, then SIGKILL when the process is still running after
// grace, and waits for its exit.
func (p *Process) Stop(grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill ends the process with SIGKILL, so that nothing is flushed or handed
// over, and waits for its exit.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.exited
}

// WaitListening waits until addr accepts connections; it fails at once
// when the process exits first.
func (p *Process) WaitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("the process exited before listening on %s", addr)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s after %s", addr, timeout)
}

// WriteConfig renders the text/template tmpl with vars into the file path.
func WriteConfig(path, tmpl string, vars any) error {
	var buf bytes.Buffer
	t, err := template.New("config").Parse(tmpl)
	if err != nil {
		return err
	}
	if err := t.Execute(&buf, vars); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

// StartCaddy runs `<bin> run` on the Caddyfile config with its data and
// config directories under dataDir and env added to the environment, and
// waits until the site on port httpPort listens (30 s at most). A failure
// to come up says why, with the output so far.
func StartCaddy(bin, config, dataDir string, httpPort int, env []string, out *Output) (*Process, error) {
	cmd := exec.Command(bin, "run", "--config", config, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dataDir, "XDG_CONFIG_HOME="+dataDir)
	cmd.Env = append(cmd.Env, env...)
	p, err := Start(cmd, out)
	if err != nil {
		return nil, err
	}
	if err := p.WaitListening(net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)), 30*time.Second); err != nil {
		p.Kill()
		return nil, fmt.Errorf("caddy: %w:\n%s", err, p.Out)
	}
	return p, nil
}

// StartRedis runs redis-server on 127.0.0.1:port in dir, without
// persistence unless extra args ask for it, and waits until it listens.
func StartRedis(dir string, port int, extra ...string) (*Process, error) {
	args := append([]string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--save", "",
		"--daemonize", "no",
		"--protected-mode", "no",
	}, extra...)
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = dir
	p, err := Start(cmd, nil)
	if err != nil {
		return nil, fmt.Errorf("starting redis-server (Debian: apt-get install -y redis-server): %w", err)
	}
	if err := p.WaitListening(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 10*time.Second); err != nil {
		p.Kill()
		return nil, fmt.Errorf("redis-server: %w\n%s", err, p.Out)
	}
	return p, nil
}

// Sink is an HTTP server on a free local port.
type Sink struct {
	*http.Server
	URL string // http://127.0.0.1:<port>
}

// StartSink serves h until Close.
func StartSink(h http.Handler) (*Sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{Server: &http.Server{Handler: h}, URL: "http://" + l.Addr().String()}
	go func() { _ = s.Serve(l) }()
	return s, nil
}
