package webhookingress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/webhook-ingress/caddy-webhook-ingress/module/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "webhook",
		Usage: "sign|send|queues|dead|redrive [flags]",
		Short: "Signs test webhooks and inspects the webhook_ingress queues",
		Long: `
Subcommands:
  sign     prints the headers a provider would send for the body on stdin
  send     signs the body on stdin as a provider would and POSTs it to a URL
  queues   shows every destination's queue (admin API)
  dead     lists dead letters (admin API)
  redrive  puts dead letters back in the queue (admin API)

The admin subcommands talk to Caddy's admin endpoint (--admin, default
localhost:2019); --json prints the API's JSON for scripts.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(signCommand(), sendCommand(), queuesCommand(), deadCommand(), redriveCommand())
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
			raw, err := adminCall(c, http.MethodGet, "/webhook_ingress/queues", nil, &queues)
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
		Use:   "dead",
		Short: "Lists dead letters",
		RunE: func(c *cobra.Command, _ []string) error {
			q := url.Values{}
			if d, _ := c.Flags().GetString("destination"); d != "" {
				q.Set("destination", d)
			}
			if n, _ := c.Flags().GetInt("limit"); n > 0 {
				q.Set("limit", fmt.Sprint(n))
			}
			var dead []deadLetter
			raw, err := adminCall(c, http.MethodGet, "/webhook_ingress/dead?"+q.Encode(), nil, &dead)
			if err != nil || printJSON(c, raw) {
				return err
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tDESTINATION\tPROVIDER\tATTEMPTS\tRECEIVED\tLAST ERROR")
			for _, d := range dead {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Destination, d.Provider, d.Attempts,
					d.ReceivedAt.Format(time.RFC3339), d.LastError)
			}
			return tw.Flush()
		},
	}
	adminFlags(c)
	c.Flags().String("destination", "", "only this destination URL")
	c.Flags().Int("limit", 100, "at most this many")
	return c
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
			raw, err := adminCall(c, http.MethodPost, "/webhook_ingress/dead/redrive", body, &out)
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
// returning the raw answer too.
func adminCall(c *cobra.Command, method, path string, body, out any) ([]byte, error) {
	addr, _ := c.Flags().GetString("admin")
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(addr, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("reaching the admin endpoint (is Caddy running? --admin %s): %w", addr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(raw)))
	}
	return raw, json.Unmarshal(raw, out)
}

// printJSON prints the raw answer when --json is set.
func printJSON(c *cobra.Command, raw []byte) bool {
	if asJSON, _ := c.Flags().GetBool("json"); !asJSON {
		return false
	}
	_, _ = c.OutOrStdout().Write(raw)
	return true
}
