package webhookingress

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

// signFlags are the provider options a user may need to sign as a sender.
func signFlags(c *cobra.Command) {
	f := c.Flags()
	f.String("provider", "", "provider preset (see docs/presets.md)")
	f.String("secret", "", "the secret the provider signs with (for livekit: the API secret)")
	f.String("url", "", "the URL the request is posted to (Twilio, Square, Contentful and token presets sign or carry it)")
	f.String("api-key", "", "livekit: the API key")
	f.String("id", "", "event id for presets that send one in a header (default: a new UUID)")
	f.StringArrayP("header", "H", nil, "extra request header 'Name: value', as curl's (sent, and signed where the scheme signs headers); repeatable")
	for name := range new(SchemeOptions).words() {
		f.String(schemeFlag(name), "", "generic hmac/token scheme: as the webhook_verify subdirective "+name)
	}
}

// schemeFlag is the flag of a scheme subdirective: its name with dashes;
// --header is curl's, so the scheme's header is --scheme-header.
func schemeFlag(subdirective string) string {
	if subdirective == "header" {
		return "scheme-header"
	}
	return strings.ReplaceAll(subdirective, "_", "-")
}

// signedRequest signs the body on stdin as the provider would.
func signedRequest(c *cobra.Command, url string) (http.Header, string, []byte, error) {
	f := c.Flags()
	get := func(name string) string { v, _ := f.GetString(name); return v }
	provider := get("provider")
	if provider == "" {
		return nil, "", nil, fmt.Errorf("--provider is required; one of %s", strings.Join(verify.Providers(), ", "))
	}
	body, err := io.ReadAll(c.InOrStdin())
	if err != nil {
		return nil, "", nil, fmt.Errorf("reading the body from stdin: %w", err)
	}
	header := http.Header{}
	extra, _ := f.GetStringArray("header")
	for _, h := range extra {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return nil, "", nil, fmt.Errorf("-H %q: want 'Name: value'", h)
		}
		header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if header.Get("Content-Type") == "" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		header.Set("Content-Type", "application/json")
	}
	o := VerifyOptions{Provider: provider, APIKey: get("api-key")}
	for name, dst := range o.Scheme.words() {
		*dst = get(schemeFlag(name))
	}
	if s := get("secret"); s != "" {
		o.Secrets = []string{s}
	}
	opts, _ := o.verifyConfig(asWritten) // asWritten never fails
	if url == "" {
		url = get("url")
	}
	signed, postURL, err := verify.Sign(provider, opts, verify.SignRequest{
		URL: url, Body: body, ID: get("id"), Now: time.Now(), Header: header,
	})
	if err != nil {
		return nil, "", nil, err
	}
	for k, v := range signed {
		header[k] = v
	}
	if postURL == "" {
		postURL = url
	}
	return header, postURL, body, nil
}

func signCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "sign --provider <p> --secret <s> [--url <u>] < body",
		Short: "Prints the headers the provider would send for the body on stdin",
		Long: `Prints the headers (one 'Name: value' a line) that the provider would send
with the body read from stdin, so a route can be tested with curl:

  caddy webhook sign --provider github --secret s3cr3t < event.json

Presets whose senders sign with a private key (discord, sendgrid, sns,
pubsub, rsa) cannot be signed here; use the provider's own tooling.`,
		RunE: func(c *cobra.Command, _ []string) error {
			header, url, _, err := signedRequest(c, "")
			if err != nil {
				return err
			}
			names := make([]string, 0, len(header))
			for k := range header {
				names = append(names, k)
			}
			slices.Sort(names)
			out := c.OutOrStdout()
			for _, k := range names {
				for _, v := range header[k] {
					fmt.Fprintf(out, "%s: %s\n", k, v)
				}
			}
			// Token presets carry the secret in the URL: say where to post.
			if given, _ := c.Flags().GetString("url"); url != given {
				fmt.Fprintf(c.ErrOrStderr(), "post to: %s\n", url)
			}
			return nil
		},
	}
	signFlags(c)
	return c
}

func sendCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "send --provider <p> --secret <s> <url> < body",
		Short: "Signs the body on stdin as the provider would and POSTs it to <url>",
		Long: `Signs the body read from stdin as the provider would, POSTs it to <url> and
prints the status and answer; a status of 300 or more is an error (exit 1).
-H/--header adds a request header, as with curl:

  caddy webhook send --provider github --secret s3cr3t \
    -H 'X-GitHub-Event: push' http://127.0.0.1:8080/github < event.json

Presets whose senders sign with a private key (discord, sendgrid, sns,
pubsub, rsa) cannot be signed here; use the provider's own tooling.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			header, url, body, err := signedRequest(c, args[0])
			if err != nil {
				return err
			}
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header = header
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			fmt.Fprintf(c.OutOrStdout(), "%s\n%s", resp.Status, answer)
			if len(answer) > 0 && answer[len(answer)-1] != '\n' {
				fmt.Fprintln(c.OutOrStdout())
			}
			if resp.StatusCode >= 300 {
				return fmt.Errorf("the gateway answered %s", resp.Status)
			}
			return nil
		},
	}
	signFlags(c)
	return c
}
