package agentvm

import "time"

// millis converts a non-negative duration to the milliseconds libagentvm
// takes, rounding up: a sub-millisecond timeout must not become 0, which the
// library reads as "none". (Adding 999µs first could overflow.)
func millis(d time.Duration) int64 {
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++
	}
	return ms
}
