package core

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every layer wraps them with %w; API packages map them to their
// dialect's status codes and bodies with errors.Is / errors.As.
var (
	// ErrNotFound: the object does not exist, or the caller may not know that it does.
	// A foreign tenant's object is always ErrNotFound, never ErrForbidden.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique name or key is taken.
	ErrConflict = errors.New("already exists")
	// ErrUnauthenticated: no credentials, or credentials that do not verify.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the caller is known and may see the object but not do this to it.
	ErrForbidden = errors.New("forbidden")
	// ErrOTPRequired: the password was right but the second factor is missing or wrong.
	ErrOTPRequired = errors.New("two-factor code required")
	// ErrThrottled: too many recent failures; try again later.
	ErrThrottled = errors.New("too many attempts")
	// ErrStale: a compare-and-swap lost against a concurrent writer.
	ErrStale = errors.New("modified concurrently")
)

// ValidationError says which input field is wrong and why. Field uses the core's names
// (snake_case); API packages translate it to their own pointer or field name.
type ValidationError struct {
	Field   string
	Code    string // machine-readable: "missing", "invalid", "unknown", "too_long", …
	Message string // a sentence for people
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Invalid builds a *ValidationError with code "invalid".
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Code: "invalid", Message: fmt.Sprintf(format, args...)}
}

// Missing builds a *ValidationError with code "missing".
func Missing(field string) error {
	return &ValidationError{Field: field, Code: "missing", Message: strings.ReplaceAll(field, "_", " ") + " is missing"}
}

// AsValidation reports whether err is (or wraps) a *ValidationError and returns it.
func AsValidation(err error) (*ValidationError, bool) {
	var v *ValidationError
	ok := errors.As(err, &v)
	return v, ok
}
