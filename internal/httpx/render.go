package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
)

// ErrorRenderer writes an error response in one dialect's format. status is the HTTP
// status to send; err says what went wrong. A renderer must not put the text of an
// error into a 5xx body: it may carry internals.
type ErrorRenderer func(w http.ResponseWriter, r *http.Request, status int, err error)

// ErrInternal is what Recover hands the renderer for a panic. The panic's value goes
// only to the log.
var ErrInternal = errors.New("internal server error")

// RenderJSON is the default ErrorRenderer: {"message":"…"} with err's text for a client
// error, and the status text for a server error (or when err is nil).
func RenderJSON(w http.ResponseWriter, _ *http.Request, status int, err error) {
	msg := http.StatusText(status)
	if err != nil && status < 500 {
		msg = err.Error()
	}
	if msg == "" {
		msg = "error"
	}
	_ = WriteJSON(w, status, struct {
		Message string `json:"message"`
	}{msg})
}

// WriteJSON encodes v as the response body with status. It sets Content-Type to
// application/json unless the handler already chose one (JSON:API's, for instance).
// The value is encoded before anything is sent, so an encoding failure can still
// become a 500.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return err
	}
	h := w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}
