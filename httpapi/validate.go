package httpapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/channelstream-go/channelstream-go/core"
)

// FieldErrors is a 422 body in marshmallow's shape: field -> []string messages, or field -> FieldErrors (nested).
//
// List items and list-body elements are keyed by their index written as a
// decimal string ("0", "1", ...); an error about the value as a whole (not an
// object, not a list) is under "_schema".
type FieldErrors map[string]any

// Error returns the errors as compact JSON after a short prefix.
func (e FieldErrors) Error() string {
	b, err := json.Marshal(e)
	if err != nil {
		return "invalid request body"
	}
	return "invalid request body: " + string(b)
}

// BadRequest is a body that is not JSON at all (400 {"error": ...}); Msg says what was wrong (e.g. `invalid JSON at offset 12: ...`).
type BadRequest struct{ Msg string }

// Error returns Msg.
func (e *BadRequest) Error() string { return e.Msg }

// Messages marshmallow 3 writes, byte for byte.
const (
	msgMissing      = "Missing data for required field."
	msgNull         = "Field may not be null."
	msgNotString    = "Not a valid string."
	msgNotList      = "Not a valid list."
	msgNotBool      = "Not a valid boolean."
	msgNotInt       = "Not a valid integer."
	msgTooLarge     = "Number too large."
	msgNegative     = "Must be greater than or equal to 0."
	msgNotUUID      = "Not a valid UUID."
	msgNotDatetime  = "Not a valid datetime."
	msgNotMapping   = "Not a valid mapping type."
	msgInvalidInput = "Invalid input type."
	msgBadState     = "Value is not type of string, integer, boolean or float."
	msgMinLength1   = "Shorter than minimum length 1."

	// schemaKey holds errors about a whole object rather than one of its fields.
	schemaKey = "_schema"
)

// Length limits of the upstream schemas, in Unicode code points.
const (
	maxUserLen    = 512
	maxChannelLen = 256
)

// fieldError is one field's entry in FieldErrors: a []string of messages or a
// nested FieldErrors. nil means the value is valid.
type fieldError = any

// fail is the one-message fieldError.
func fail(msg string) fieldError { return []string{msg} }

// invalidInput is the error of a value that should have been a JSON object.
func invalidInput() FieldErrors { return FieldErrors{schemaKey: fail(msgInvalidInput)} }

// converter validates one decoded JSON value (never nil: nulls are handled by
// object.field) and converts it to T.
type converter[T any] func(v any) (T, fieldError)

// object is one JSON object being validated; it gathers the errors of all its
// fields so that they are reported together.
type object struct {
	m    map[string]any
	errs FieldErrors
}

// newObject wraps v, which must be a decoded JSON object.
func newObject(v any) (*object, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	return &object{m: m, errs: FieldErrors{}}, true
}

// field returns the value under key. ok is false when the key is absent or
// null; absence of a required key and null on a non-nullable key are recorded.
func (o *object) field(key string, required, nullable bool) (v any, ok bool) {
	v, present := o.m[key]
	switch {
	case !present:
		if required {
			o.errs[key] = fail(msgMissing)
		}
		return nil, false
	case v == nil:
		if !nullable {
			o.errs[key] = fail(msgNull)
		}
		return nil, false
	}
	return v, true
}

// err returns the gathered errors, or nil when there are none.
func (o *object) err() error {
	if len(o.errs) == 0 {
		return nil
	}
	return o.errs
}

// take validates key with conv and stores the result in dst, which keeps its
// default when the key is absent, null or invalid. It reports whether dst was set.
func take[T any](o *object, key string, required, nullable bool, conv converter[T], dst *T) bool {
	v, ok := o.field(key, required, nullable)
	if !ok {
		return false
	}
	t, e := conv(v)
	if e != nil {
		o.errs[key] = e
		return false
	}
	*dst = t
	return true
}

// lengthMessage is marshmallow's validate.Length(min, max) message.
func lengthMessage(lo, hi int) string {
	return fmt.Sprintf("Length must be between %d and %d.", lo, hi)
}

// stringOf accepts a JSON string of lo to hi code points.
func stringOf(lo, hi int) converter[string] {
	return func(v any) (string, fieldError) {
		s, ok := v.(string)
		if !ok {
			return "", fail(msgNotString)
		}
		if n := utf8.RuneCountInString(s); n < lo || n > hi {
			return "", fail(lengthMessage(lo, hi))
		}
		return s, nil
	}
}

var (
	// userName is a username / user / pm_users item: 1 to 512 code points.
	userName = stringOf(1, maxUserLen)
	// channelName is a channel name (also a state public key): 1 to 256 code points.
	channelName = stringOf(1, maxChannelLen)
	// userList and channelList are lists of those.
	userList    = listOf(userName)
	channelList = listOf(channelName)
)

// listOf accepts a JSON array whose items all pass item; item errors are
// keyed by index. The result is never nil.
func listOf[T any](item converter[T]) converter[[]T] {
	return func(v any) ([]T, fieldError) {
		a, ok := v.([]any)
		if !ok {
			return nil, fail(msgNotList)
		}
		out := make([]T, 0, len(a))
		var errs FieldErrors
		for i, x := range a {
			var t T
			var e fieldError
			if x == nil {
				e = fail(msgNull)
			} else {
				t, e = item(x)
			}
			if e != nil {
				if errs == nil {
					errs = FieldErrors{}
				}
				errs[strconv.Itoa(i)] = e
				continue
			}
			out = append(out, t)
		}
		if errs != nil {
			return nil, errs
		}
		return out, nil
	}
}

// nonEmpty wraps a list converter with validate.Length(min=1).
func nonEmpty[T any](list converter[[]T]) converter[[]T] {
	return func(v any) ([]T, fieldError) {
		out, e := list(v)
		if e == nil && len(out) == 0 {
			return nil, fail(msgMinLength1)
		}
		return out, e
	}
}

// boolean accepts marshmallow's lenient booleans: JSON true/false, the numbers
// 1 and 0, and the strings t/true/on/y/yes/1 and f/false/off/n/no/0 in any case.
func boolean(v any) (bool, fieldError) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case json.Number:
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			switch f {
			case 1:
				return true, nil
			case 0:
				return false, nil
			}
		}
	case string:
		if len(x) <= len("false") {
			switch asciiLower(x) {
			case "t", "true", "on", "y", "yes", "1":
				return true, nil
			case "f", "false", "off", "n", "no", "0":
				return false, nil
			}
		}
	}
	return false, fail(msgNotBool)
}

// asciiLower lowercases A-Z only, so that no Unicode folding can make a match.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// integer accepts a JSON number with no fractional part, or a string holding
// a decimal integer (Python int(): surrounding spaces, a sign and single
// underscores between digits allowed). Values beyond the int range are clamped.
func integer(v any) (int, fieldError) {
	switch x := v.(type) {
	case json.Number:
		return integerFromNumber(string(x))
	case string:
		return integerFromString(x)
	}
	return 0, fail(msgNotInt)
}

// integerFromNumber converts the text of a JSON number.
func integerFromNumber(s string) (int, fieldError) {
	if !strings.ContainsAny(s, ".eE") {
		return integerFromDigits(s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if math.IsInf(f, 0) {
		return 0, fail(msgTooLarge)
	}
	if err != nil || f != math.Trunc(f) {
		return 0, fail(msgNotInt)
	}
	switch {
	case f >= math.MaxInt:
		return math.MaxInt, nil
	case f <= math.MinInt:
		return math.MinInt, nil
	}
	return int(f), nil
}

// integerFromString converts a string the way Python's int(str) does, for
// ASCII digits.
func integerFromString(s string) (int, fieldError) {
	s = strings.TrimSpace(s)
	digits := strings.TrimLeft(s, "+-")
	if len(s)-len(digits) > 1 || digits == "" || digits[0] == '_' || digits[len(digits)-1] == '_' ||
		strings.Contains(digits, "__") {
		return 0, fail(msgNotInt)
	}
	return integerFromDigits(s[:len(s)-len(digits)] + strings.ReplaceAll(digits, "_", ""))
}

// integerFromDigits converts an optionally signed run of ASCII digits,
// clamping values beyond the int range (without big-number arithmetic, so
// that a huge literal costs linear time).
func integerFromDigits(s string) (int, fieldError) {
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimLeft(s, "+-")
	if len(s)-len(digits) > 1 || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, fail(msgNotInt)
	}
	if digits = strings.TrimLeft(digits, "0"); digits == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	switch {
	case (err != nil || n > math.MaxInt) && neg:
		return math.MinInt, nil
	case err != nil || n > math.MaxInt:
		return math.MaxInt, nil
	case neg:
		return int(-n), nil
	}
	return int(n), nil
}

// nonNegative is integer with validate.Range(min=0).
func nonNegative(v any) (int, fieldError) {
	n, e := integer(v)
	if e == nil && n < 0 {
		return 0, fail(msgNegative)
	}
	return n, e
}

// uuidField accepts what Python's uuid.UUID(str) accepts (see core.ParseUUID) and
// returns the canonical form.
func uuidField(v any) (string, fieldError) {
	if s, ok := v.(string); ok {
		if u, ok := core.ParseUUID(s); ok {
			return u, nil
		}
	}
	return "", fail(msgNotUUID)
}

// stateField accepts an object whose values are strings, numbers, booleans or
// null; numbers keep their JSON text as json.Number.
func stateField(v any) (core.State, fieldError) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fail(msgNotMapping)
	}
	st := make(core.State, len(m))
	var errs FieldErrors
	for k, x := range m {
		switch x.(type) {
		case string, json.Number, bool, nil:
			st[k] = x
		default:
			if errs == nil {
				errs = FieldErrors{}
			}
			errs[k] = FieldErrors{"value": fail(msgBadState)}
		}
	}
	if errs != nil {
		return nil, errs
	}
	return st, nil
}

// mapping accepts any JSON object (marshmallow fields.Dict without key or value fields).
func mapping(v any) (map[string]any, fieldError) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fail(msgNotMapping)
	}
	return m, nil
}
