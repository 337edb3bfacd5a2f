package redisbroker

import "strconv"

// slots is how many hash slots a Redis Cluster has.
const slots = 16384

// maxPartitions bounds Config.Partitions: finding the tags takes about
// Partitions² checksums (1 M at the bound, a few ms).
const maxPartitions = 1024

// partitionTags returns the hash tag of each of p partitions: for
// partition k, the first "p<k>-<j>" (j = 0, 1, …) whose slot lies in
// [k*slots/p, (k+1)*slots/p). With a cluster's slots spread evenly over
// its masters (as redis-cli --cluster create does), the partitions spread
// evenly too.
func partitionTags(p int) []string {
	tags := make([]string, p)
	for k := range p {
		lo, hi := k*slots/p, (k+1)*slots/p
		for j := 0; ; j++ {
			tag := "p" + strconv.Itoa(k) + "-" + strconv.Itoa(j)
			if s := int(crc16(tag) % slots); s >= lo && s < hi {
				tags[k] = tag
				break
			}
		}
	}
	return tags
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial 0), the checksum Redis
// Cluster takes of a key's hash tag, modulo 16384, as the key's slot.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
