package verify

import (
	"fmt"
	"strconv"
	"time"
)

// parseTimestamp reads a timestamp in one of the supported formats.
func parseTimestamp(format, s string) (time.Time, bool) {
	switch format {
	case "unix", "unix_ms":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		if format == "unix_ms" {
			return time.UnixMilli(n), true
		}
		return time.Unix(n, 0), true
	case "rfc3339":
		// RFC3339Nano also parses timestamps without a fraction.
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	return time.Time{}, false
}

func checkTimestampFormat(format string) error {
	switch format {
	case "unix", "unix_ms", "rfc3339":
		return nil
	}
	return fmt.Errorf("`timestamp_format` must be unix, unix_ms or rfc3339, not %q", format)
}
