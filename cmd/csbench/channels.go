package main

import (
	"context"
	"math/rand/v2"
	"strconv"
)

// channelsSeed makes the channels scenario publish the same sequence of
// targets in every run and to every system.
const channelsSeed = 20261125

// channelsPlan is the layout of the channels scenario: subscriber i is in
// its personal channel csb-u-<i> and in the group channel csb-g-<i/group>
// shared with its group-1 neighbours; every message goes to a random
// subscriber's personal channel or, as often, to a random subscriber's
// group.
type channelsPlan struct {
	n, group int
	// targets[seq] ≥ 0 is the subscriber whose personal channel gets
	// message seq; a negative value -g-1 names group g.
	targets []int32
	// personal: no group channels, every message to a personal one.
	personal bool
}

// newPersonalPlan is the layout of the cluster scenario's personal shape:
// subscriber i only in csb-u-<i>, every message to a random subscriber's.
func newPersonalPlan(n int, total uint64) *channelsPlan {
	rng := rand.New(rand.NewPCG(channelsSeed, uint64(n)))
	p := &channelsPlan{n: n, group: 1, targets: make([]int32, total), personal: true}
	for seq := range p.targets {
		p.targets[seq] = int32(rng.IntN(n))
	}
	return p
}

func newChannelsPlan(n, group int, total uint64) *channelsPlan {
	rng := rand.New(rand.NewPCG(channelsSeed, uint64(n)))
	p := &channelsPlan{n: n, group: max(group, 1), targets: make([]int32, total)}
	for seq := range p.targets {
		i := rng.IntN(n)
		if rng.IntN(2) == 0 {
			p.targets[seq] = int32(i)
		} else {
			p.targets[seq] = -int32(i/p.group) - 1
		}
	}
	return p
}

// groups returns how many group channels there are.
func (p *channelsPlan) groups() int {
	if p.personal {
		return 0
	}
	return (p.n + p.group - 1) / p.group
}

// channelsOf returns the channels of subscriber i.
func (p *channelsPlan) channelsOf(i int) []string {
	if p.personal {
		return []string{"csb-u-" + strconv.Itoa(i)}
	}
	return []string{"csb-u-" + strconv.Itoa(i), "csb-g-" + strconv.Itoa(i/p.group)}
}

// channelOf returns the channel of message seq.
func (p *channelsPlan) channelOf(seq uint64) string {
	if t := p.targets[seq]; t >= 0 {
		return "csb-u-" + strconv.Itoa(int(t))
	} else {
		return "csb-g-" + strconv.Itoa(int(-t-1))
	}
}

// audience implements Audience: the one subscriber of a personal channel,
// or the members of a group.
func (p *channelsPlan) audience(seq uint64) (lo, hi int) {
	if t := p.targets[seq]; t >= 0 {
		return int(t), int(t) + 1
	} else {
		g := int(-t - 1)
		return g * p.group, min((g+1)*p.group, p.n)
	}
}

// runChannels connects cfg.Clients subscribers, each to its personal and
// its group channel, then publishes to random ones of those channels at
// each rate of cfg.Rates, and returns one Result per rate.
func runChannels(ctx context.Context, cfg Config, srv *server, ad Adapter, base Result) ([]Result, error) {
	steps := planSteps(cfg.Rates, cfg.Warmup, cfg.Duration)
	plan := newChannelsPlan(cfg.Clients, cfg.GroupSize, steps[len(steps)-1].hi)
	if cfg.Personal {
		plan = newPersonalPlan(cfg.Clients, steps[len(steps)-1].hi)
	}
	col := NewCollector(steps, plan.audience)
	mem := connMemBefore(cfg, srv)
	pop, took, err := connectAll(ctx, ad, col, cfg.Clients, cfg.Concurrency, plan.channelsOf, cfg.ConnectTimeout, cfg.Log)
	if err != nil {
		return nil, err
	}
	defer pop.close()
	if base.Procs, err = connMemAfter(ctx, cfg, srv, mem); err != nil {
		return nil, err
	}
	cfg.logf("  %d connected to %d personal and %d group channels in %.1fs", cfg.Clients, cfg.Clients, plan.groups(), took.Seconds())
	base.Channels = int64(cfg.Clients + plan.groups())
	base.GroupSize = int64(plan.group)
	return runSteps(ctx, cfg, srv, ad, pop, col, steps, plan.channelOf, base, took)
}
