package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"

	"github.com/vcsauth/vcsauth/internal/core"
)

// DefaultMaxBodyBytes bounds a request body when nothing else is configured: 1 MiB is
// far more than any document of the five dialects.
const DefaultMaxBodyBytes int64 = 1 << 20

// ErrBodyTooLarge is wrapped by the error DecodeJSON returns for a body over the limit,
// so a dialect can answer 413 instead of its validation status.
var ErrBodyTooLarge = errors.New("request body too large")

// LimitBody caps every request body at n bytes (DefaultMaxBodyBytes when n <= 0) with
// http.MaxBytesReader, which also closes the connection after an oversized body.
// Nested limits (the server's, then a dialect's) keep the smaller; a layer whose
// limit an outer one already enforces changes nothing.
func LimitBody(n int64) Middleware {
	if n <= 0 {
		n = DefaultMaxBodyBytes
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, r := stateOf(r)
			if st.bodyLimit != 0 && st.bodyLimit <= n {
				next.ServeHTTP(w, r)
				return
			}
			st.bodyLimit = n
			if r.Body != nil && r.Body != http.NoBody {
				body := r.Body
				r = r.WithContext(r.Context()) // a copy: the caller's request is not ours to change
				r.Body = http.MaxBytesReader(w, body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// bodyError is both a *core.ValidationError (errors.As) and a sentinel (errors.Is).
type bodyError struct {
	v   *core.ValidationError
	err error
}

func (e *bodyError) Error() string   { return e.v.Error() }
func (e *bodyError) Unwrap() []error { return []error{e.v, e.err} }

// DecodeJSON decodes the request body, which must hold exactly one JSON value, into v.
// Unknown fields are accepted (clients send more than we read).
//
// Every failure the client caused is a *core.ValidationError (core.AsValidation) with
// an empty Field: Code "missing" for an empty body, "invalid" for malformed JSON, a
// value of the wrong type or anything after the value, and "too_large" for a body
// over the limit, which also matches errors.Is(err, ErrBodyTooLarge). The limit is
// LimitBody's, or DefaultMaxBodyBytes when the request did not pass through it. Any
// other error (a broken connection, a v that is not a pointer) is returned as is.
func DecodeJSON(r *http.Request, v any) error {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	var limit int64
	if st := stateFrom(r.Context()); st != nil {
		limit = st.bodyLimit
	}
	if limit == 0 {
		limit = DefaultMaxBodyBytes
		body = http.MaxBytesReader(nil, body, limit)
	}
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return &core.ValidationError{Code: "missing", Message: "request body is empty"}
		}
		return decodeError(err, limit)
	}
	switch _, err := dec.Token(); {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return &core.ValidationError{Code: "invalid", Message: "request body holds more than one JSON value"}
	default:
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return &core.ValidationError{Code: "invalid", Message: "request body has data after its JSON value"}
		}
		return decodeError(err, limit)
	}
}

func decodeError(err error, limit int64) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return &bodyError{
			v:   &core.ValidationError{Code: "too_large", Message: fmt.Sprintf("request body is larger than %d bytes", limit)},
			err: ErrBodyTooLarge,
		}
	case errors.As(err, &se):
		return &core.ValidationError{Code: "invalid", Message: fmt.Sprintf("request body is not valid JSON (at byte %d)", se.Offset)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &core.ValidationError{Code: "invalid", Message: "request body is not valid JSON (it ends too early)"}
	case errors.As(err, &ute):
		where := "request body"
		if ute.Field != "" {
			where = fmt.Sprintf("%q in the request body", ute.Field)
		}
		return &core.ValidationError{Code: "invalid", Message: fmt.Sprintf("%s must be %s, not %s", where, jsonKind(ute.Type), ute.Value)}
	}
	return err
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a different type"
}
