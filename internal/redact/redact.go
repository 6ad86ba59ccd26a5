// Package redact hides credentials in URLs before they are shown: in metric
// labels, admin answers, logs and errors.
package redact

import (
	"net/url"
	"strings"
)

// mask stands in for the userinfo of a URL.
const mask = "xxxxx"

// URL returns s with its userinfo (user name and password alike: a token is
// often sent as the user name) replaced by "xxxxx". A string that does not
// parse as a URL with a host is cut by hand: everything from the scheme (or
// the start) to the last "@" is masked, so a malformed URL never shows its
// password either.
func URL(s string) string {
	u, err := url.Parse(s)
	if err == nil && u.Opaque == "" && u.Host != "" {
		if u.User != nil {
			u.User = url.User(mask)
		}
		return u.String()
	}
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		start = i + len("://")
	}
	return s[:start] + mask + s[at:]
}
