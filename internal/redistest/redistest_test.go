package redistest

import (
	"strings"
	"testing"
)

func TestServerStopStartKeepsPort(t *testing.T) {
	s := Start(t)
	if _, err := s.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	s.Stop()
	if _, err := s.Do("PING"); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Start()
	if s.Addr() != addr {
		t.Fatalf("address changed: %s -> %s", addr, s.Addr())
	}
	if v, err := s.Do("GET", "k"); err != nil || v != "" {
		t.Fatalf("without persistence the key must be gone, got %q %v", v, err)
	}
}

func TestAppendOnlySurvivesRestart(t *testing.T) {
	s := Start(t, WithAppendOnly())
	if _, err := s.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Stop() // SIGTERM flushes the append-only file
	s.Start()
	if v, err := s.Do("GET", "k"); err != nil || v != "v" {
		t.Fatalf("GET k = %q, %v; want v", v, err)
	}
}

func TestCluster(t *testing.T) {
	c := StartCluster(t, 3)
	if len(c.Addrs()) != 3 {
		t.Fatalf("addrs: %v", c.Addrs())
	}
	info, err := c.Nodes[0].Do("CLUSTER", "INFO")
	if err != nil || !strings.Contains(info, "cluster_known_nodes:3") {
		t.Fatalf("cluster info: %v\n%s", err, info)
	}
}
