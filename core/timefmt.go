package core

import (
	"crypto/rand"
	"fmt"
	"time"
)

// FormatTime writes t the way Python's datetime.isoformat writes a naive UTC
// time: microseconds only when they are not zero, and no zone suffix.
func FormatTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000000")
}

// formatUptime writes d like Python's str(timedelta) without fractions.
func formatUptime(d time.Duration) string {
	s := int64(d / time.Second)
	days, s := s/86400, s%86400
	hms := fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	switch days {
	case 0:
		return hms
	case 1:
		return "1 day, " + hms
	default:
		return fmt.Sprintf("%d days, %s", days, hms)
	}
}

// NewUUID returns a random (version 4) UUID in canonical lowercase form.
func NewUUID() string {
	return newUUID16().String()
}

// newUUID16 returns a random (version 4) UUID.
func newUUID16() uuid16 {
	var b uuid16
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}
