package verify

import "net/textproto"

// maxEventLen bounds an event type: the longest a sender documents is well
// under 100 bytes, and the value lands in placeholders, logs and headers.
const maxEventLen = 256

// eventType finds a provider's event type: the header, else the first JSON
// body field present.
type eventType struct {
	header string // canonical
	fields []string
}

func newEventType(header string, fields []string) eventType {
	e := eventType{fields: fields}
	if header != "" {
		e.header = textproto.CanonicalMIMEHeaderKey(header)
	}
	return e
}

func (e eventType) of(r *Request) string {
	if e.header != "" {
		if v := headerValue(r.Header, e.header); v != "" {
			return boundedEvent(v)
		}
	}
	for _, f := range e.fields {
		if v, ok := JSONField(r.Body, f); ok && v != "" {
			return boundedEvent(v)
		}
	}
	return ""
}

// boundedEvent is v, or "" when it is too long or holds a control
// character: the sender's bytes must not forge a log line or a header.
func boundedEvent(v string) string {
	if len(v) > maxEventLen {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return ""
		}
	}
	return v
}

// Event is the type of a verified request's event as its sender names it
// (`push`, `video.asset.ready`, `done`), "" when the provider names none or
// the request carries none. It is worked out on demand, not by Verify:
// most configurations never route on it, and reading it may parse the body.
func (v *Verifier) Event(r *Request) string { return v.events.of(r) }
