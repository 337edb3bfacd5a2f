package httpapi

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// isoDatetime is marshmallow 3's ISO 8601 pattern (utils._iso8601_datetime_re):
// digits after the sixth of a fraction are matched and dropped, the offset
// may be Z, ±HH, ±HHMM or ±HH:MM. Python's `$` also matches before a final
// newline, hence `\n?`.
var isoDatetime = regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{1,2})` +
	`(?::(\d{1,2})(?:\.(\d{1,6})\d{0,6})?)?(Z|[+-]\d{2}(?::?\d{2})?)?\n?$`)

// pyTime is a datetime as Python holds it: wall-clock fields plus an optional
// fixed offset. It is kept apart from time.Time so that a naive value stays
// naive when it is written back.
type pyTime struct {
	year, month, day, hour, minute, second, micro int
	// aware is true when the value had a zone; offset is then its minutes east of UTC.
	aware  bool
	offset int
}

// naiveUTC is t in UTC without a zone, truncated to microseconds, as
// Python's datetime.utcnow() gives it.
func naiveUTC(t time.Time) pyTime {
	t = t.UTC()
	return pyTime{
		year: t.Year(), month: int(t.Month()), day: t.Day(),
		hour: t.Hour(), minute: t.Minute(), second: t.Second(),
		micro: t.Nanosecond() / 1000,
	}
}

// datetimeField accepts a string marshmallow's DateTime("iso") accepts.
func datetimeField(v any) (pyTime, fieldError) {
	if s, ok := v.(string); ok {
		if t, ok := parsePyTime(s); ok {
			return t, nil
		}
	}
	return pyTime{}, fail(msgNotDatetime)
}

// parsePyTime parses s like marshmallow's from_iso_datetime followed by
// Python's datetime() range checks.
func parsePyTime(s string) (pyTime, bool) {
	m := isoDatetime.FindStringSubmatch(s)
	if m == nil {
		return pyTime{}, false
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	t := pyTime{
		year: num(m[1]), month: num(m[2]), day: num(m[3]),
		hour: num(m[4]), minute: num(m[5]), second: num(m[6]),
	}
	if m[7] != "" {
		t.micro = num((m[7] + "00000")[:6])
	}
	if tz := m[8]; tz != "" {
		t.aware = true
		if tz != "Z" {
			t.offset = 60 * num(tz[1:3])
			if len(tz) > 3 {
				t.offset += num(tz[len(tz)-2:])
			}
			if tz[0] == '-' {
				t.offset = -t.offset
			}
		}
	}
	ok := t.year >= 1 && t.month >= 1 && t.month <= 12 &&
		t.day >= 1 && t.day <= daysIn(t.year, t.month) &&
		t.hour < 24 && t.minute < 60 && t.second < 60 &&
		t.offset > -24*60 && t.offset < 24*60
	return t, ok
}

// daysIn is the number of days of month in year (proleptic Gregorian).
func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// iso is Python's datetime.isoformat(): seconds always, microseconds only
// when non-zero, the offset as ±HH:MM when aware (`Z` input gives +00:00).
func (t pyTime) iso() string {
	s := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", t.year, t.month, t.day, t.hour, t.minute, t.second)
	if t.micro != 0 {
		s += fmt.Sprintf(".%06d", t.micro)
	}
	if t.aware {
		sign, off := '+', t.offset
		if off < 0 {
			sign, off = '-', -off
		}
		s += fmt.Sprintf("%c%02d:%02d", sign, off/60, off%60)
	}
	return s
}

// client is the form client transports deliver: as iso, but a zero offset is
// written `Z` (UPSTREAM §3.6).
func (t pyTime) client() string {
	if t.aware && t.offset == 0 {
		t.aware = false
		return t.iso() + "Z"
	}
	return t.iso()
}
