package webhookingress

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// The event log's subcommands: events (a listing), event <ref> (one
// record) and replay, on the admin API's /webhook_ingress/events.

// eventFilterFlags are the flags of a selection, named as the API's
// parameters.
var eventFilterFlags = []struct{ name, usage string }{
	{"provider", "only this provider preset"},
	{"scope", "only this claim scope (a route, or a shared scope)"},
	{"type", "only this event type, or a glob of one (video.*)"},
	{"status", "only this state (passed, failed, unrouted, queued, delivered, retrying, dead) or answer (202)"},
	{"since", "received at or after: an RFC 3339 time or a duration back from now (2h, 1d)"},
	{"until", "received before: an RFC 3339 time or a duration back from now"},
}

func addEventFilterFlags(c *cobra.Command) {
	for _, f := range eventFilterFlags {
		c.Flags().String(f.name, "", f.usage)
	}
}

// eventSelectionFlags is the selection the filter flags name.
func eventSelectionFlags(c *cobra.Command) eventSelection {
	get := func(name string) string {
		v, _ := c.Flags().GetString(name)
		return v
	}
	return eventSelection{Provider: get("provider"), Scope: get("scope"), Type: get("type"), Status: get("status"),
		Since: get("since"), Until: get("until")}
}

func eventsCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "events",
		Short: "Lists the event log's records (metadata, newest first, a page at a time)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			q := url.Values{}
			for _, f := range eventFilterFlags {
				if v, _ := c.Flags().GetString(f.name); v != "" {
					q.Set(f.name, v)
				}
			}
			if n, _ := c.Flags().GetInt("limit"); n > 0 {
				q.Set("limit", fmt.Sprint(n))
			}
			if cursor, _ := c.Flags().GetString("cursor"); cursor != "" {
				q.Set("cursor", cursor)
			}
			var events []eventRecord
			raw, header, err := adminCall(c, http.MethodGet, adminPrefix+"events?"+q.Encode(), nil, &events)
			if err != nil || printJSON(c, raw) {
				return err
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RECEIVED\tKEY\tID\tPROVIDER\tTYPE\tMODE\tANSWER\tSTATE\tATTEMPTS")
			for _, e := range events {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\n", formatTime(e.ReceivedAt), printable(e.Key),
					printable(e.ID), orDash(printable(e.Provider)), orDash(printable(e.Type)), e.Mode, e.Answer, e.State, e.Attempts)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if next := nextCursor(header, "cursor"); next != "" {
				fmt.Fprintf(c.ErrOrStderr(), "more: --cursor %s\n", next)
			}
			return nil
		},
	}
	adminFlags(c)
	addEventFilterFlags(c)
	c.Flags().Int("limit", defaultEventPage, "at most this many (a page; up to 1000)")
	c.Flags().String("cursor", "", "the next page: the cursor the previous one printed")
	return c
}

func eventCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "event <ref>",
		Short: "Shows one record (by key or event id) with its headers, attempts and body",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var e eventRecord
			raw, _, err := adminCall(c, http.MethodGet, adminPrefix+"events/"+url.PathEscape(args[0]), nil, &e)
			if err != nil || printJSON(c, raw) {
				return err
			}
			out := c.OutOrStdout()
			if asBody, _ := c.Flags().GetBool("body"); asBody {
				_, err := out.Write(e.Body)
				return err
			}
			if err := printFieldsAndHeaders(out, [][2]string{
				{"key", printable(e.Key)}, {"id", printable(e.ID)}, {"provider", orDash(printable(e.Provider))},
				{"scope", orDash(printable(e.Scope))}, {"type", orDash(printable(e.Type))}, {"mode", e.Mode},
				{"received", formatTime(e.ReceivedAt)}, {"answer", fmt.Sprint(e.Answer)}, {"state", e.State},
				{"attempts", fmt.Sprint(e.Attempts)}, {"destinations", orDash(strings.Join(e.Destinations, " "))},
				{"size", fmt.Sprint(e.Size)},
			}, e.Headers); err != nil {
				return err
			}
			if len(e.AttemptLog) > 0 {
				fmt.Fprintln(out)
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "AT\tDESTINATION\tATTEMPT\tSTATUS\tDURATION\tRESULT\tREPLAY\tERROR")
				for _, a := range e.AttemptLog {
					d := time.Duration(a.DurationMS * float64(time.Millisecond)).Round(time.Microsecond)
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%t\t%s\n", formatTime(a.At), a.Destination, a.Attempt,
						a.Status, d, a.Result, a.Replay, orDash(printable(a.Error)))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			fmt.Fprintln(out)
			if printable(string(e.Body)) != string(e.Body) {
				fmt.Fprintf(out, "(%d bytes, not all printable, in base64: --body writes them as they are)\n%s\n",
					len(e.Body), base64.StdEncoding.EncodeToString(e.Body))
				return nil
			}
			_, err = out.Write(e.Body)
			return err
		},
	}
	adminFlags(c)
	c.Flags().Bool("body", false, "write only the body, byte for byte")
	return c
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func replayCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "replay [<ref>]",
		Short: "Queues recorded events again: one by key or event id, or those a filter selects",
		Long: `Queues recorded events again, with their original Webhook-Id, body and
headers and a Webhook-Replay-Of header naming the record, for the
destinations they were queued for, or --to. An event passed on in sync
needs --to. Name one event, or select several with the filter flags
(--dry-run counts them without replaying).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			to, _ := c.Flags().GetString("to")
			sel := eventSelectionFlags(c)
			limit, _ := c.Flags().GetInt("limit")
			dryRun, _ := c.Flags().GetBool("dry-run")
			if len(args) == 1 {
				if !sel.empty() || limit != 0 || dryRun {
					return errors.New("name one event, or select several with filter flags, not both")
				}
				return replayOne(c, args[0], to)
			}
			if sel.empty() {
				return errors.New("name an event (key or id), or select events with --provider, --scope, --type, --status, --since or --until")
			}
			var out struct {
				Matched  int          `json:"matched"`
				Replayed int          `json:"replayed"`
				Skipped  []replaySkip `json:"skipped"`
			}
			body := replayRequest{eventSelection: sel, To: to, Limit: limit, DryRun: dryRun}
			raw, _, err := adminCall(c, http.MethodPost, adminPrefix+"events/replay", body, &out)
			if err != nil || printJSON(c, raw) {
				return err
			}
			w := c.OutOrStdout()
			if dryRun {
				fmt.Fprintf(w, "matched: %d (dry run: none replayed)\n", out.Matched)
				return nil
			}
			fmt.Fprintf(w, "matched: %d\nreplayed: %d\n", out.Matched, out.Replayed)
			for _, s := range out.Skipped {
				fmt.Fprintf(w, "skipped %s: %s\n", printable(s.Key), printable(s.Reason))
			}
			if n := out.Matched - out.Replayed - len(out.Skipped); n > 0 {
				fmt.Fprintf(w, "skipped %d more\n", n)
			}
			return nil
		},
	}
	adminFlags(c)
	addEventFilterFlags(c)
	c.Flags().String("to", "", "replay to this destination URL (as configured or as shown masked)")
	c.Flags().Int("limit", 0, fmt.Sprintf("replay at most this many (default %d, up to %d)", defaultReplayLimit, maxReplayLimit))
	c.Flags().Bool("dry-run", false, "only count the events the filter selects")
	return c
}

// replayOne replays the record ref names.
func replayOne(c *cobra.Command, ref, to string) error {
	var body any
	if to != "" {
		body = replayRequest{To: to}
	}
	var out struct {
		Key          string   `json:"key"`
		ID           string   `json:"id"`
		Destinations []string `json:"destinations"`
	}
	raw, _, err := adminCall(c, http.MethodPost, adminPrefix+"events/"+url.PathEscape(ref)+"/replay", body, &out)
	if err != nil || printJSON(c, raw) {
		return err
	}
	fmt.Fprintf(c.OutOrStdout(), "replayed %s (id %s) to %s\n", printable(out.Key), printable(out.ID),
		strings.Join(out.Destinations, ", "))
	return nil
}
