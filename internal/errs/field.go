package errs

import (
	"errors"
	"fmt"
	"net/http"
)

// aboutField makes an error about the input with the neutral id field.
func aboutField(status int, reason, field, detail string) *Error {
	e := &Error{Status: status, Reason: reason, field: field, detail: detail}
	return e.Named(field)
}

// NotFoundIn is a value of field that names nothing the caller may know
// of, worded like InvalidArgument, with reason (a *_NOT_FOUND).
func NotFoundIn(reason, field, format string, args ...any) *Error {
	return aboutField(http.StatusNotFound, reason, field, fmt.Sprintf(format, args...))
}

// Field is the neutral id of the input an InvalidArgument or AlreadyExists
// is about, whatever a transport has named it since; "" for other errors.
func (e *Error) Field() string { return e.field }

// Named words e with name for its field: the message becomes
// "name: detail" and metadata field becomes name. Field keeps the neutral
// id, and the cause is kept. An error about no field comes back as is.
func (e *Error) Named(name string) *Error {
	if e.field == "" {
		return e
	}
	c := e.With("field", name)
	c.Message = name + ": " + e.detail
	return c
}

// About is e about another input: field becomes its neutral id and its
// name. One use case's refusal (search's of a query) then words another's
// input (a transcript's q). An error about no field comes back as is.
func (e *Error) About(field string) *Error {
	if e.field == "" {
		return e
	}
	c := *e
	c.field = field
	return c.Named(field)
}

// FieldNames maps neutral field ids to the names one transport uses for
// them, e.g. {"id": "conversation_id"}.
type FieldNames map[string]string

// Word names the field of err, or of the *Error it wraps, the way n does.
// An error about no field or a field n does not list comes back unchanged.
func (n FieldNames) Word(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	name, ok := n[e.field]
	if !ok || e.field == "" {
		return err
	}
	return e.Named(name)
}
