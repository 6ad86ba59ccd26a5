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

func TestPasswordRotation(t *testing.T) {
	s := Start(t, WithPassword("first"))
	if _, err := s.DoDB(2, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Do("EXISTS", "k"); err != nil || v != "0" {
		t.Fatalf("db 0 has the key of db 2: %q %v", v, err)
	}
	if err := s.SetPassword("second"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.DoDB(2, "GET", "k"); err != nil || v != "v" {
		t.Fatalf("GET with the new password: %q %v", v, err)
	}
	if err := s.KillClients(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Start() // requirepass is the new password
	if _, err := s.Do("PING"); err != nil {
		t.Fatal(err)
	}
}
