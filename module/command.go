package webhookingress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "webhook",
		Usage: "sign|send|queues|dead|redrive|events|event|replay [flags]",
		Short: "Signs test webhooks and inspects the webhook_ingress queues",
		Long: `
Subcommands:
  sign     prints the headers a provider would send for the body on stdin
  send     signs the body on stdin as a provider would and POSTs it to a URL
  queues   shows every destination's queue (admin API)
  dead     lists dead letters; dead show|delete <id> (admin API)
  redrive  puts dead letters back in the queue (admin API)
  events   lists the event log's records (admin API)
  event    shows one record with its headers, attempts and body (admin API)
  replay   queues recorded events again (admin API)

The admin subcommands talk to Caddy's admin endpoint (--admin, default
localhost:2019); --json prints the API's JSON for scripts.`,
		CobraFunc: func(cmd *cobra.Command) {
			// Caddy's help ends with a link to its own command-line docs,
			// which do not know these subcommands: cobra's plain template.
			cmd.SetHelpTemplate((&cobra.Command{}).HelpTemplate())
			cmd.AddCommand(signCommand(), sendCommand(), queuesCommand(), deadCommand(), redriveCommand(),
				eventsCommand(), eventCommand(), replayCommand())
		},
	})
}

func adminFlags(c *cobra.Command) {
	c.Flags().String("admin", "localhost:2019", "address of Caddy's admin endpoint")
	c.Flags().Bool("json", false, "print JSON instead of a table")
}

func queuesCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "queues",
		Short: "Shows queued, in-flight, retrying and dead events per destination",
		RunE: func(c *cobra.Command, _ []string) error {
			var queues []store.QueueStats
			raw, _, err := adminCall(c, http.MethodGet, "/webhook_ingress/queues", nil, &queues)
			if err != nil || printJSON(c, raw) {
				return err
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DESTINATION\tQUEUED\tIN FLIGHT\tRETRYING\tDEAD\tOLDEST")
			for _, q := range queues {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", q.Destination, q.Queued, q.InFlight, q.Retrying, q.Dead,
					(time.Duration(q.OldestAgeSeconds * float64(time.Second))).Round(time.Second))
			}
			return tw.Flush()
		},
	}
	adminFlags(c)
	return c
}

func deadCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "dead [show|delete <id>]",
		Short: "Lists dead letters (metadata, a page at a time); shows or deletes one",
		RunE: func(c *cobra.Command, _ []string) error {
			q := url.Values{}
			if d, _ := c.Flags().GetString("destination"); d != "" {
				q.Set("destination", d)
			}
			if n, _ := c.Flags().GetInt("limit"); n > 0 {
				q.Set("limit", fmt.Sprint(n))
			}
			if after, _ := c.Flags().GetString("after"); after != "" {
				q.Set("after", after)
			}
			var dead []deadLetter
			raw, header, err := adminCall(c, http.MethodGet, "/webhook_ingress/dead?"+q.Encode(), nil, &dead)
			if err != nil || printJSON(c, raw) {
				return err
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tDESTINATION\tPROVIDER\tATTEMPTS\tSIZE\tRECEIVED\tDIED\tLAST ERROR")
			for _, d := range dead {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", printable(d.ID), d.Destination, printable(d.Provider),
					d.Attempts, d.Size, d.ReceivedAt.Format(time.RFC3339), formatTime(d.DiedAt), printable(d.LastError))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if next := nextCursor(header, "after"); next != "" {
				fmt.Fprintf(c.ErrOrStderr(), "more: --after %s\n", next)
			}
			return nil
		},
	}
	adminFlags(c)
	c.Flags().String("destination", "", "only this destination URL")
	c.Flags().Int("limit", 100, "at most this many (a page; up to 1000)")
	c.Flags().String("after", "", "the next page: the cursor the previous one printed")
	c.AddCommand(deadShowCommand(), deadDeleteCommand())
	return c
}

func deadShowCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "show <id>",
		Short: "Shows one dead letter (by event id or entry) with its headers and body",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var d deadLetter
			raw, _, err := adminCall(c, http.MethodGet, deadPath(c, args[0]), nil, &d)
			if err != nil || printJSON(c, raw) {
				return err
			}
			out := c.OutOrStdout()
			if asBody, _ := c.Flags().GetBool("body"); asBody {
				_, err := out.Write(d.Body)
				return err
			}
			if err := printFieldsAndHeaders(out, [][2]string{
				{"id", printable(d.ID)}, {"entry", d.Entry}, {"destination", d.Destination},
				{"provider", printable(d.Provider)}, {"attempts", fmt.Sprint(d.Attempts)},
				{"last error", printable(d.LastError)}, {"size", fmt.Sprint(d.Size)},
				{"received", d.ReceivedAt.Format(time.RFC3339)}, {"died", formatTime(d.DiedAt)},
			}, d.Headers); err != nil {
				return err
			}
			fmt.Fprintln(out)
			if printable(string(d.Body)) != string(d.Body) {
				fmt.Fprintf(out, "(%d bytes, not all printable: --body writes them as they are)\n", len(d.Body))
				return nil
			}
			_, err = out.Write(d.Body)
			return err
		},
	}
	adminFlags(c)
	c.Flags().String("destination", "", "the destination URL (needed when the id died at several)")
	c.Flags().Bool("body", false, "write only the body, byte for byte")
	return c
}

func deadDeleteCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "delete <id>",
		Short: "Deletes the dead letters of an event id (or one entry)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var out struct {
				Deleted int `json:"deleted"`
			}
			raw, _, err := adminCall(c, http.MethodDelete, deadPath(c, args[0]), nil, &out)
			if err != nil || printJSON(c, raw) {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "deleted: %d\n", out.Deleted)
			return nil
		},
	}
	adminFlags(c)
	c.Flags().String("destination", "", "only at this destination URL")
	return c
}

// deadPath is the admin path of one dead letter, with --destination.
func deadPath(c *cobra.Command, id string) string {
	path := "/webhook_ingress/dead/" + url.PathEscape(id)
	if d, _ := c.Flags().GetString("destination"); d != "" {
		path += "?" + url.Values{"destination": {d}}.Encode()
	}
	return path
}

// nextCursor is the cursor parameter param of the Link header's next page,
// if any.
func nextCursor(h http.Header, param string) string {
	link, _, ok := strings.Cut(strings.TrimPrefix(h.Get("Link"), "<"), `>; rel="next"`)
	if !ok {
		return ""
	}
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	return u.Query().Get(param)
}

// printFieldsAndHeaders writes what `dead show` and `event` show first:
// one "name: value" a line, aligned, then a blank line and the headers,
// sorted, escaped for the terminal.
func printFieldsAndHeaders(out io.Writer, fields [][2]string, headers http.Header) error {
	tw := tabwriter.NewWriter(out, 0, 4, 1, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		for _, v := range headers[name] {
			fmt.Fprintf(out, "%s: %s\n", printable(name), printable(v))
		}
	}
	return nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// printable escapes what a terminal would interpret: a dead letter's
// fields come from senders.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != '\n' && r != '\t' }) < 0 && utf8.ValidString(s) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

func redriveCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "redrive",
		Short: "Puts dead letters back in the queue (all, or those named by --id)",
		RunE: func(c *cobra.Command, _ []string) error {
			dest, _ := c.Flags().GetString("destination")
			ids, _ := c.Flags().GetStringSlice("id")
			var out struct {
				Redriven int `json:"redriven"`
			}
			body := map[string]any{"destination": dest, "ids": ids}
			raw, _, err := adminCall(c, http.MethodPost, "/webhook_ingress/dead/redrive", body, &out)
			if err != nil || printJSON(c, raw) {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "redriven: %d\n", out.Redriven)
			return nil
		},
	}
	adminFlags(c)
	c.Flags().String("destination", "", "only this destination URL")
	c.Flags().StringSlice("id", nil, "event id (Webhook-Id) of a dead letter; repeatable")
	return c
}

// adminCall calls the admin API and decodes its JSON answer into out,
// returning the raw answer and its header too.
func adminCall(c *cobra.Command, method, path string, body, out any) ([]byte, http.Header, error) {
	addr, _ := c.Flags().GetString("admin")
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(addr, "/")+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("reaching the admin endpoint (is Caddy running? --admin %s): %w", addr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(raw)))
	}
	return raw, resp.Header, json.Unmarshal(raw, out)
}

// printJSON prints the raw answer when --json is set.
func printJSON(c *cobra.Command, raw []byte) bool {
	if asJSON, _ := c.Flags().GetBool("json"); !asJSON {
		return false
	}
	_, _ = c.OutOrStdout().Write(raw)
	return true
}
