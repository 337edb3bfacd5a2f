//go:build !race

package websocket

// raceEnabled: the race detector multiplies memory and time, so memory
// figures are not measured under it.
const raceEnabled = false
