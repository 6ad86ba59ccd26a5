package webhookingress

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redact"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

func init() {
	caddy.RegisterModule(Admin{})
}

// Admin is `admin.api.webhook_ingress`: queue depths, dead letters and
// redrive, and the event log, on Caddy's admin endpoint.
type Admin struct{}

// CaddyModule returns the Caddy module information.
func (Admin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.webhook_ingress",
		New: func() caddy.Module { return new(Admin) },
	}
}

const adminPrefix = "/webhook_ingress/"

// Routes returns the admin routes.
func (a Admin) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: adminPrefix, Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// deadLetter is one dead letter as the admin API shows it.
type deadLetter struct {
	// ID is the event id (Webhook-Id): it names the dead letter, or every
	// one of that event, in a show, a delete or a redrive.
	ID string `json:"id"`
	// Entry is the store's name for this one dead letter; it names it when
	// no event has that id.
	Entry string `json:"entry"`
	// Destination is the URL it was not delivered to, credentials masked.
	Destination string `json:"destination"`
	// Provider is the route's provider preset.
	Provider string `json:"provider"`
	// Attempts is how many deliveries were attempted.
	Attempts int `json:"attempts"`
	// LastError is the last attempt's failure ("status 503", a network
	// error, ...).
	LastError string `json:"last_error"`
	// Size is the body's length in bytes.
	Size int `json:"size"`
	// ReceivedAt is when the gateway accepted the event.
	ReceivedAt time.Time `json:"received_at"`
	// DiedAt is when it became a dead letter (absent for dead letters
	// stored before this was recorded).
	DiedAt time.Time `json:"died_at,omitzero"`
	// Headers are the sender's headers; only when one dead letter is shown.
	Headers http.Header `json:"headers,omitempty"`
	// Body is the event's body, base64-encoded; only when one dead letter
	// is shown.
	Body []byte `json:"body,omitempty"`
}

func deadLetterJSON(d store.DeadLetter) deadLetter {
	return deadLetter{ID: d.ID, Entry: d.Entry, Destination: redact.URL(d.Destination), Provider: d.Provider,
		Attempts: d.Attempts, LastError: d.LastError, Size: d.BodySize, ReceivedAt: d.ReceivedAt, DiedAt: d.DiedAt,
		Headers: d.Header, Body: d.Body}
}

func (a Admin) serve(w http.ResponseWriter, r *http.Request) error {
	app, err := runningApp()
	if err != nil {
		return err
	}
	st, err := app.Store()
	if err != nil {
		return apiError(http.StatusServiceUnavailable, err.Error())
	}
	path := strings.TrimPrefix(r.URL.Path, adminPrefix)
	id, isOne := strings.CutPrefix(path, "dead/")
	switch {
	case path == "queues" && r.Method == http.MethodGet:
		return a.queues(w, r, app, st)
	case path == "dead" && r.Method == http.MethodGet:
		return a.dead(w, r, app, st)
	case path == "dead/redrive" && r.Method == http.MethodPost:
		return a.redrive(w, r, app, st)
	case isOne && id == "" && (r.Method == http.MethodGet || r.Method == http.MethodDelete):
		return apiError(http.StatusBadRequest, "an id is required: /webhook_ingress/dead/<id>")
	case isOne && r.Method == http.MethodGet:
		return a.showDead(w, r, app, st, id)
	case isOne && r.Method == http.MethodDelete:
		return a.deleteDead(w, r, app, st, id)
	case path == "queues" || path == "dead" || isOne:
		return apiError(http.StatusMethodNotAllowed, "method not allowed")
	case path == "events" || strings.HasPrefix(path, "events/"):
		return a.serveEvents(w, r, app, st, path)
	}
	return apiError(http.StatusNotFound,
		"unknown path; see /webhook_ingress/queues, /webhook_ingress/dead and /webhook_ingress/events")
}

// runningApp is the webhook_ingress app of the running config, looked up
// per request. Not the app of the config that provisioned this router, as
// caddypki's admin API does: Caddy provisions admin routers before the
// config's apps, when an app that only its handlers load (a config without
// the global option) is not there yet, and a config that fails to load
// leaves its admin routes serving while the previous config keeps running.
func runningApp() (*App, error) {
	app, err := caddy.ActiveContext().AppIfConfigured("webhook_ingress")
	if err != nil {
		return nil, apiError(http.StatusServiceUnavailable, "the webhook_ingress app is not running")
	}
	return app.(*App), nil
}

func (Admin) queues(w http.ResponseWriter, r *http.Request, app *App, st store.Store) error {
	out := []store.QueueStats{}
	for _, dest := range sortedDestinations(app) {
		s, err := st.Stats(r.Context(), dest)
		if err != nil {
			return storeError(err)
		}
		s.Destination = redact.URL(dest)
		out = append(out, s)
	}
	return writeAdminJSON(w, out)
}

const (
	// maxDeadPage bounds a listing's page; a page reads no body.
	maxDeadPage = 1000
	// maxShownMatches bounds the dead letters an ambiguous show names.
	maxShownMatches = 10
)

// dead lists dead letters' metadata a page at a time, across destinations
// in their sorted order. When there is more, the Link header names the
// next page: its `after` cursor is the last entry's destination (a hash of
// it) and entry.
func (Admin) dead(w http.ResponseWriter, r *http.Request, app *App, st store.Store) error {
	query := r.URL.Query()
	limit := 100
	if s := query.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxDeadPage {
			return apiError(http.StatusBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", maxDeadPage))
		}
		limit = n
	}
	dests, err := selectDestinations(app, query.Get("destination"))
	if err != nil {
		return err
	}
	after := ""
	if cursor := query.Get("after"); cursor != "" {
		if dests, after, err = resumeDead(dests, cursor); err != nil {
			return err
		}
	}
	// One more than the page, to know whether a next one exists.
	var page []store.DeadLetter
	for i, dest := range dests {
		from := ""
		if i == 0 {
			from = after
		}
		dls, err := st.DeadLetters(r.Context(), dest, from, limit+1-len(page))
		if errors.Is(err, store.ErrNoEntry) {
			return apiError(http.StatusBadRequest, "after must be a cursor from a listing's Link header")
		}
		if err != nil {
			return storeError(err)
		}
		if page = append(page, dls...); len(page) > limit {
			break
		}
	}
	if len(page) > limit {
		page = page[:limit]
		last := page[limit-1]
		query.Set("after", destinationKey(last.Destination)+":"+last.Entry)
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, adminPrefix+"dead", query.Encode()))
	}
	out := make([]deadLetter, len(page))
	for i, d := range page {
		out[i] = deadLetterJSON(d)
	}
	return writeAdminJSON(w, out)
}

// destinationKey names a destination in a cursor without showing its URL.
func destinationKey(dest string) string {
	sum := sha256.Sum256([]byte(dest))
	return hex.EncodeToString(sum[:8])
}

// resumeDead returns the destinations from the cursor's on, and the entry
// to list after in the first.
func resumeDead(dests []string, cursor string) ([]string, string, error) {
	key, entry, ok := strings.Cut(cursor, ":")
	if ok && entry != "" {
		for i, dest := range dests {
			if destinationKey(dest) == key {
				return dests[i:], entry, nil
			}
		}
	}
	return nil, "", apiError(http.StatusBadRequest,
		"after must be a cursor from a listing's Link header, of the same destination filter and configuration")
}

// showDead answers the one dead letter id names, with its headers and
// body. Several (the event died more than once, or at several
// destinations) are a conflict that names their destinations and entries.
func (Admin) showDead(w http.ResponseWriter, r *http.Request, app *App, st store.Store, id string) error {
	dests, err := selectDestinations(app, r.URL.Query().Get("destination"))
	if err != nil {
		return err
	}
	var found []store.DeadLetter
	for _, dest := range dests {
		dls, err := st.FindDead(r.Context(), dest, []string{id}, maxShownMatches+1-len(found))
		if err != nil {
			return storeError(err)
		}
		if found = append(found, dls...); len(found) > maxShownMatches {
			break
		}
	}
	switch {
	case len(found) == 0:
		return apiError(http.StatusNotFound, "no dead letter with id "+id)
	case len(found) > 1:
		var names []string
		for _, d := range found[:min(len(found), maxShownMatches)] {
			names = append(names, fmt.Sprintf("entry %s at %s", d.Entry, redact.URL(d.Destination)))
		}
		return apiError(http.StatusConflict, fmt.Sprintf(
			"several dead letters have id %s (%s); show one with GET /webhook_ingress/dead/<entry>?destination=<url>",
			id, strings.Join(names, ", ")))
	}
	dl, err := st.ReadDead(r.Context(), found[0].Destination, found[0].Entry)
	if err != nil {
		return storeError(err)
	}
	if dl == nil { // redriven or deleted meanwhile
		return apiError(http.StatusNotFound, "no dead letter with id "+id)
	}
	return writeAdminJSON(w, deadLetterJSON(*dl))
}

// redrive puts the dead letters named by event ids (or entries) back in
// the queue, or all of them.
func (Admin) redrive(w http.ResponseWriter, r *http.Request, app *App, st store.Store) error {
	var req struct {
		Destination string   `json:"destination"`
		IDs         []string `json:"ids"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			return apiError(http.StatusBadRequest, "body must be JSON: {\"destination\":...,\"ids\":[...]}")
		}
	}
	dests, err := selectDestinations(app, req.Destination)
	if err != nil {
		return err
	}
	total := 0
	for _, dest := range dests {
		n, err := st.Redrive(r.Context(), dest, req.IDs)
		if err != nil {
			return storeError(err)
		}
		total += n
	}
	return writeAdminJSON(w, map[string]int{"redriven": total})
}

// deleteDead drops the dead letters id names.
func (Admin) deleteDead(w http.ResponseWriter, r *http.Request, app *App, st store.Store, id string) error {
	dests, err := selectDestinations(app, r.URL.Query().Get("destination"))
	if err != nil {
		return err
	}
	deleted := 0
	for _, dest := range dests {
		n, err := st.DeleteDead(r.Context(), dest, []string{id})
		if err != nil {
			return storeError(err)
		}
		deleted += n
	}
	if deleted == 0 {
		return apiError(http.StatusNotFound, "no dead letter with id "+id)
	}
	return writeAdminJSON(w, map[string]int{"deleted": deleted})
}

func sortedDestinations(app *App) []string {
	dests := app.destinationURLs()
	slices.Sort(dests)
	return dests
}

// selectDestinations is every destination, or the one named (which must be
// configured), as configured or as shown with its credentials masked.
func selectDestinations(app *App, dest string) ([]string, error) {
	all := sortedDestinations(app)
	if dest == "" {
		return all, nil
	}
	for _, d := range all {
		if d == dest || redact.URL(d) == dest {
			return []string{d}, nil
		}
	}
	return nil, apiError(http.StatusNotFound, fmt.Sprintf("unknown destination %q", redact.URL(dest)))
}

func writeAdminJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

func apiError(status int, msg string) error {
	return caddy.APIError{HTTPStatus: status, Err: errors.New(msg), Message: msg}
}

func storeError(err error) error {
	return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err, Message: "store unavailable"}
}

// Interface guards
var _ caddy.AdminRouter = Admin{}
