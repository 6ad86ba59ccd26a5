package webhookingress

import (
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
	"github.com/webhook-ingress/caddy-webhook-ingress/module/store"
)

func init() {
	caddy.RegisterModule(Admin{})
}

// Admin is `admin.api.webhook_ingress`: queue depths, dead letters and
// redrive, on Caddy's admin endpoint.
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

// deadLetter is one dead letter as the admin API shows it. ID is the event
// id (Webhook-Id); Entry names the queue entry. Either selects it for a
// redrive or a delete.
type deadLetter struct {
	ID          string    `json:"id"`
	Entry       string    `json:"entry"`
	Destination string    `json:"destination"`
	Provider    string    `json:"provider"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error"`
	ReceivedAt  time.Time `json:"received_at"`
}

func (a Admin) serve(w http.ResponseWriter, r *http.Request) error {
	currentMu.Lock()
	app := current
	currentMu.Unlock()
	if app == nil {
		return apiError(http.StatusServiceUnavailable, "the webhook_ingress app is not running")
	}
	st, err := app.Store()
	if err != nil {
		return apiError(http.StatusServiceUnavailable, err.Error())
	}
	path := strings.TrimPrefix(r.URL.Path, adminPrefix)
	switch {
	case path == "queues" && r.Method == http.MethodGet:
		return a.queues(w, r, app, st)
	case path == "dead" && r.Method == http.MethodGet:
		return a.dead(w, r, app, st)
	case path == "dead/redrive" && r.Method == http.MethodPost:
		return a.redrive(w, r, app, st)
	case strings.HasPrefix(path, "dead/") && r.Method == http.MethodDelete:
		return a.deleteDead(w, r, app, st, strings.TrimPrefix(path, "dead/"))
	case path == "queues" || path == "dead" || path == "dead/redrive" || strings.HasPrefix(path, "dead/"):
		return apiError(http.StatusMethodNotAllowed, "method not allowed")
	}
	return apiError(http.StatusNotFound, "unknown path; see /webhook_ingress/queues and /webhook_ingress/dead")
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

func (Admin) dead(w http.ResponseWriter, r *http.Request, app *App, st store.Store) error {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return apiError(http.StatusBadRequest, "limit must be a positive number")
		}
		limit = n
	}
	dests, err := selectDestinations(app, r.URL.Query().Get("destination"))
	if err != nil {
		return err
	}
	out := []deadLetter{}
	for _, dest := range dests {
		dls, err := st.DeadLetters(r.Context(), dest, limit-len(out))
		if err != nil {
			return storeError(err)
		}
		for _, d := range dls {
			out = append(out, deadLetter{ID: d.ID, Entry: d.Handle, Destination: dest, Provider: d.Provider,
				Attempts: d.Attempts, LastError: d.LastError, ReceivedAt: d.ReceivedAt})
		}
		if len(out) >= limit {
			break
		}
	}
	return writeAdminJSON(w, out)
}

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
		entries := []string(nil) // all of them
		if len(req.IDs) > 0 {
			if entries, err = deadEntries(r, st, dest, req.IDs); err != nil {
				return storeError(err)
			}
			if len(entries) == 0 {
				continue
			}
		}
		n, err := st.Redrive(r.Context(), dest, entries)
		if err != nil {
			return storeError(err)
		}
		total += n
	}
	return writeAdminJSON(w, map[string]int{"redriven": total})
}

func (Admin) deleteDead(w http.ResponseWriter, r *http.Request, app *App, st store.Store, id string) error {
	if id == "" {
		return apiError(http.StatusBadRequest, "an id is required: DELETE /webhook_ingress/dead/<id>")
	}
	dests, err := selectDestinations(app, r.URL.Query().Get("destination"))
	if err != nil {
		return err
	}
	deleted := 0
	for _, dest := range dests {
		entries, err := deadEntries(r, st, dest, []string{id})
		if err != nil {
			return storeError(err)
		}
		for _, entry := range entries {
			ok, err := st.DeleteDead(r.Context(), dest, entry)
			if err != nil {
				return storeError(err)
			}
			if ok {
				deleted++
			}
		}
	}
	if deleted == 0 {
		return apiError(http.StatusNotFound, "no dead letter with id "+id)
	}
	return writeAdminJSON(w, map[string]int{"deleted": deleted})
}

// maxDeadScan bounds the dead letters read to find ids in one request.
const maxDeadScan = 100000

// deadEntries maps event ids or entry names to the destination's dead-letter
// entries.
func deadEntries(r *http.Request, st store.Store, dest string, ids []string) ([]string, error) {
	dls, err := st.DeadLetters(r.Context(), dest, maxDeadScan)
	if err != nil {
		return nil, err
	}
	var entries []string
	for _, d := range dls {
		if slices.Contains(ids, d.ID) || slices.Contains(ids, d.Handle) {
			entries = append(entries, d.Handle)
		}
	}
	return entries, nil
}

func sortedDestinations(app *App) []string {
	dests := app.destinationURLs()
	slices.Sort(dests)
	return dests
}

// selectDestinations is every destination, or the one named (which must be
// configured).
func selectDestinations(app *App, dest string) ([]string, error) {
	all := sortedDestinations(app)
	if dest == "" {
		return all, nil
	}
	if !slices.Contains(all, dest) {
		return nil, apiError(http.StatusNotFound, fmt.Sprintf("unknown destination %q", dest))
	}
	return []string{dest}, nil
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
