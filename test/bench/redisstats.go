package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// commandStats is one INFO commandstats snapshot: calls by command.
type commandStats map[string]int64

func readCommandStats(ctx context.Context, rdb *redis.Client) (commandStats, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	out := commandStats{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, _ := strconv.ParseInt(calls, 10, 64)
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out, nil
}

// delta is after minus before, without the benchmark's own INFO calls.
func (after commandStats) delta(before commandStats) (scripts, all int64) {
	for name, n := range after {
		if name == "info" {
			continue
		}
		d := n - before[name]
		all += d
		if name == "evalsha" || name == "eval" || name == "fcall" {
			scripts += d
		}
	}
	return scripts, all
}

// monitor counts the commands clients send to Redis, which is the number of
// round trips when nothing is pipelined. Redis lists a command that a
// script runs as coming from "lua"; those are not round trips and are left
// out. INFO commandstats cannot tell them apart: Redis 7 counts a script's
// commands under their own names as well as the EVALSHA.
type monitor struct {
	conn    net.Conn
	clients atomic.Int64
	inLua   atomic.Int64
	// delivery counts the client commands that touch only a destination's
	// queue keys ({q:...}): the workers' fetches and acks, not ingest.
	delivery atomic.Int64
	done     chan struct{}
}

func startMonitor(addr string) (*monitor, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		conn.Close()
		return nil, err
	}
	r := bufio.NewReaderSize(conn, 1<<20)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		conn.Close()
		return nil, fmt.Errorf("MONITOR: %q %v", line, err)
	}
	m := &monitor{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		midLine := false // the rest of a line longer than the buffer
		for {
			line, err := r.ReadSlice('\n')
			if err != nil && err != bufio.ErrBufferFull {
				return
			}
			if !midLine {
				text := string(line)
				switch {
				case strings.Contains(text[:min(len(text), 64)], " lua] "):
					m.inLua.Add(1)
				case strings.Contains(text, "{q:") && !strings.Contains(text, "}:e:"):
					m.clients.Add(1)
					m.delivery.Add(1)
				default:
					m.clients.Add(1)
				}
			}
			midLine = err == bufio.ErrBufferFull
		}
	}()
	return m, nil
}

func (m *monitor) snapshot() int64 { return m.clients.Load() }

// ingest is the client commands that are not delivery's.
func (m *monitor) ingest() int64 { return m.clients.Load() - m.delivery.Load() }

func (m *monitor) close() {
	m.conn.Close()
	<-m.done
}
