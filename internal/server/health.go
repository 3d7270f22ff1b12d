package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/vcsauth/vcsauth/internal/httpx"
)

// DefaultReadyTimeout bounds one readiness check: a probe that hangs is a failure.
const DefaultReadyTimeout = 2 * time.Second

// Health answers the health checks:
//
//	GET /healthz  200 {"status":"ok"} while the process serves at all
//	GET /readyz   200 {"status":"ok"} when Ready succeeds,
//	              503 {"status":"unavailable","reason":"…"} when it fails
//
// The reason is "timeout", "unavailable" or what Reason makes of the error, never the
// error's text, which may name hosts, users or files; the error itself is logged.
type Health struct {
	// Ready checks the dependencies (the store's Ping: database reachable, schema
	// current). Nil means always ready.
	Ready func(ctx context.Context) error
	// Timeout bounds Ready; DefaultReadyTimeout when zero.
	Timeout time.Duration
	// Reason, when set, turns a Ready error into a short public reason such as
	// "migrations pending"; an empty result falls back to the default.
	Reason func(error) string
	Logger *slog.Logger
}

// Register adds GET /healthz and GET /readyz to mux.
func (h Health) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", h.Healthz)
	mux.HandleFunc("GET /readyz", h.Readyz)
}

type healthBody struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Healthz always answers 200: the process is up and serving.
func (h Health) Healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	_ = httpx.WriteJSON(w, http.StatusOK, healthBody{Status: "ok"})
}

// Readyz answers 200 when Ready succeeds within the timeout, else 503 with a reason.
func (h Health) Readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.Ready == nil {
		_ = httpx.WriteJSON(w, http.StatusOK, healthBody{Status: "ok"})
		return
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	err := h.Ready(ctx)
	if err == nil {
		_ = httpx.WriteJSON(w, http.StatusOK, healthBody{Status: "ok"})
		return
	}
	reason := ""
	if h.Reason != nil {
		reason = h.Reason(err)
	}
	if reason == "" {
		reason = "unavailable"
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			reason = "timeout"
		}
	}
	if h.Logger != nil {
		h.Logger.LogAttrs(r.Context(), slog.LevelWarn, "not ready",
			slog.String("reason", reason), slog.String("error", err.Error()),
			slog.String("request_id", httpx.RequestID(r.Context())))
	}
	_ = httpx.WriteJSON(w, http.StatusServiceUnavailable, healthBody{Status: "unavailable", Reason: reason})
}
