package coder

import (
	"context"
	"errors"
	"net/http"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
)

// notFound is Coder's one message for everything that is not there or not the
// caller's (httpapi.ResourceNotFoundResponse).
const notFound = "Resource not found or you do not have access to this resource"

func writeJSON(w http.ResponseWriter, status int, v any) {
	_ = httpx.WriteJSON(w, status, v)
}

func writeError(w http.ResponseWriter, status int, resp Response) {
	w.Header().Set("Content-Type", "application/json")
	writeJSON(w, status, resp)
}

// Render is the dialect's httpx.ErrorRenderer (for panics and the shared
// middleware): a 5xx never carries the error's text.
func Render(w http.ResponseWriter, _ *http.Request, status int, err error) {
	resp := Response{Message: http.StatusText(status)}
	if err != nil && status < 500 {
		resp.Message = err.Error()
	}
	if status >= 500 {
		resp.Message = "Internal error."
	}
	writeError(w, status, resp)
}

// fail answers an engine error in Coder's words.
func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	var prov *connect.ProviderError
	v, isValidation := core.AsValidation(err)
	switch {
	case isValidation && errors.Is(err, httpx.ErrBodyTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, Response{Message: "Request body too large.", Detail: v.Message})
	case isValidation && v.Field == "":
		writeError(w, http.StatusBadRequest, Response{Message: "Request body must be valid JSON.", Detail: v.Message})
	case isValidation:
		writeError(w, http.StatusBadRequest, Response{Message: "Validation failed.",
			Validations: []ValidationError{{Field: v.Field, Detail: v.Message}}})
	case errors.Is(err, connect.ErrDeviceUnsupported):
		writeError(w, http.StatusBadRequest, Response{Message: "This provider does not support the device flow.",
			Detail: "The provider has no device flow, or the OAuth client turned it off. Link the account in a browser instead."})
	case errors.Is(err, core.ErrNotFound):
		writeError(w, http.StatusNotFound, Response{Message: notFound})
	case errors.Is(err, core.ErrForbidden):
		writeError(w, http.StatusForbidden, Response{Message: "Forbidden.",
			Detail: "The token's scopes do not allow this. Reading links needs scope read_api or connections; linking and unlinking needs connections; git credentials need credentials."})
	case errors.As(err, &prov):
		h.log.WarnContext(r.Context(), "coder: provider failed", "op", prov.Op, "err", err)
		writeError(w, http.StatusBadGateway, Response{Message: "The Git provider failed to answer; try again.", Detail: prov.Op + " failed"})
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, Response{Message: "The request ended before an answer was ready."})
	default:
		h.log.ErrorContext(r.Context(), "coder: request failed", "err", err)
		writeError(w, http.StatusInternalServerError, Response{Message: "Internal error."})
	}
}
