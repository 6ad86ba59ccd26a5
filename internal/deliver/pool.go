package deliver

import (
	"context"
	"sync"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

// pool runs a worker's senders (at most Concurrency, each taking fetched
// entries in order) and its acker. They start when there is work and end
// when there is none, so an idle destination holds no goroutines.
type pool struct {
	w     *Worker
	ctx   context.Context
	ready chan fetched
	acker store.ManyAcker // nil: each sender acknowledges its own
	acks  chan delivered

	mu      sync.Mutex
	senders int  // running
	acking  bool // the acker runs
	wg      sync.WaitGroup
}

// startSenders starts senders for the entries just made ready, up to
// Concurrency.
func (p *pool) startSenders() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.senders < p.w.d.Concurrency && p.senders < len(p.ready) {
		p.senders++
		p.wg.Go(p.send)
	}
}

// send delivers ready entries until there are none. A sender takes an
// entry, or ends, under mu, where startSenders counts the senders, so that
// an entry made ready as one ends is taken by another.
func (p *pool) send() {
	var acks chan<- delivered
	if p.acker != nil {
		acks = p.acks
	}
	for {
		var f fetched
		p.mu.Lock()
		select {
		case f = <-p.ready:
		default:
			p.senders--
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if p.w.attempt(p.ctx, f, acks) {
			p.startAcker()
		}
		p.w.release(1)
	}
}

// startAcker starts the acker unless it runs.
func (p *pool) startAcker() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.acking {
		p.acking = true
		p.wg.Go(p.ack)
	}
}

// ack acknowledges delivered entries in batches until there are none; it
// is their only reader.
func (p *pool) ack() {
	for {
		p.mu.Lock()
		if len(p.acks) == 0 {
			p.acking = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		p.w.ackBatch(p.acker, p.acks)
	}
}

// wait returns once every entry made ready was attempted and every
// delivered one acknowledged.
func (p *pool) wait() { p.wg.Wait() }
