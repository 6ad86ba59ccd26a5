package verify

import (
	"net/textproto"
	"strings"
)

// eventID finds a provider's event id: the first present header, else the
// JSON body fields joined by ":".
type eventID struct {
	headers []string // canonical
	fields  []string
}

func newEventID(headers, fields []string) eventID {
	e := eventID{fields: fields}
	for _, h := range headers {
		e.headers = append(e.headers, textproto.CanonicalMIMEHeaderKey(h))
	}
	return e
}

func (e eventID) configured() bool { return len(e.headers) > 0 || len(e.fields) > 0 }

func (e eventID) of(r *Request) string {
	for _, h := range e.headers {
		if v := headerValue(r.Header, h); v != "" {
			return v
		}
	}
	if len(e.fields) == 0 {
		return ""
	}
	parts := make([]string, 0, len(e.fields))
	for _, f := range e.fields {
		v, ok := JSONField(r.Body, f)
		if !ok || v == "" {
			return "" // a partial id could merge distinct events
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, ":")
}
