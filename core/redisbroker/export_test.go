package redisbroker

// GatheringCalls is how many Publish calls the batch lingering before it
// goes holds (Config.PublishLinger); 0 when none lingers.
func (d *DataPlane) GatheringCalls() int {
	d.batch.mu.Lock()
	defer d.batch.mu.Unlock()
	return len(d.batch.gathering)
}
