package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// allowEveryone is the allow_posting_from entry that admits every address,
// as upstream's literal "0.0.0.0".
var allowEveryone = netip.IPv4Unspecified()

// addrSet matches addresses against exact addresses and CIDR prefixes. IPv4
// and IPv4-mapped IPv6 forms of one address are the same address, and zones
// are ignored.
type addrSet struct {
	exact    map[netip.Addr]struct{}
	prefixes []netip.Prefix
}

func parseAddrSet(entries []string) (addrSet, error) {
	s := addrSet{exact: make(map[netip.Addr]struct{})}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return addrSet{}, fmt.Errorf("parse address range %q: %w", e, err)
			}
			s.prefixes = append(s.prefixes, normalizePrefix(p))
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return addrSet{}, fmt.Errorf("parse address %q: %w", e, err)
		}
		s.exact[normalizeAddr(a)] = struct{}{}
	}
	return s, nil
}

func (s addrSet) contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = normalizeAddr(a)
	if _, ok := s.exact[a]; ok {
		return true
	}
	for _, p := range s.prefixes {
		// An IPv4 address also matches IPv6 ranges covering its mapped form (::/0).
		if p.Contains(a) || (a.Is4() && p.Contains(netip.AddrFrom16(a.As16()))) {
			return true
		}
	}
	return false
}

// normalizeAddr unmaps IPv4-mapped IPv6 addresses and drops the zone.
func normalizeAddr(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// normalizePrefix masks p and turns an IPv4-mapped IPv6 range
// (::ffff:10.0.0.0/104) into the IPv4 range it covers (10.0.0.0/8).
func normalizePrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr().WithZone("")
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a, p.Bits()).Masked()
}

// AllowList is the allow_posting_from IP allow-list: exact IPv4/IPv6
// addresses and CIDR ranges. The entry "0.0.0.0" admits every address. An
// empty list admits nobody. An AllowList is immutable and safe for concurrent
// use.
type AllowList struct {
	all   bool
	addrs addrSet
}

// ParseAllowList builds an AllowList from entries such as "127.0.0.1",
// "::1", "10.0.0.0/8" or "0.0.0.0". Surrounding spaces are trimmed and empty
// entries skipped. The error names the first entry that does not parse.
func ParseAllowList(entries []string) (*AllowList, error) {
	s, err := parseAddrSet(entries)
	if err != nil {
		return nil, fmt.Errorf("parse allow list: %w", err)
	}
	_, all := s.exact[allowEveryone]
	return &AllowList{all: all, addrs: s}, nil
}

// Allows reports whether addr may use the API. An invalid addr is refused
// unless the list admits everyone.
func (a *AllowList) Allows(addr netip.Addr) bool {
	return a.all || a.addrs.contains(addr)
}

// ClientIP finds a request's client address: the direct peer, or, when the
// peer is a trusted proxy, the rightmost X-Forwarded-For entry that is not
// itself a trusted proxy. A ClientIP is immutable and safe for concurrent
// use; its zero value trusts no proxy.
type ClientIP struct {
	trusted addrSet
}

// NewClientIP returns a ClientIP trusting the proxies in trustedProxies
// (addresses or CIDR ranges; "0.0.0.0" is only that address here). The error
// names the first entry that does not parse.
func NewClientIP(trustedProxies []string) (*ClientIP, error) {
	s, err := parseAddrSet(trustedProxies)
	if err != nil {
		return nil, fmt.Errorf("parse trusted proxies: %w", err)
	}
	return &ClientIP{trusted: s}, nil
}

// TrustsPeer reports whether r's direct peer (RemoteAddr) is a trusted
// proxy, whose forwarding headers may be believed.
func (c *ClientIP) TrustsPeer(r *http.Request) bool {
	peer, err := parseHostAddr(r.RemoteAddr)
	return err == nil && c.trusted.contains(peer)
}

// FromRequest returns the client address of r, unmapped and without zone.
// X-Forwarded-For is read only when r.RemoteAddr is a trusted proxy; if every
// entry in it is a trusted proxy the leftmost one is the client. It fails when
// RemoteAddr does not parse or when an X-Forwarded-For entry it must read is
// not an address; callers should then refuse the request.
func (c *ClientIP) FromRequest(r *http.Request) (netip.Addr, error) {
	peer, err := parseHostAddr(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("client address from RemoteAddr %q: %w", r.RemoteAddr, err)
	}
	if !c.trusted.contains(peer) {
		return peer, nil
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		client, err = parseHostAddr(hops[i])
		if err != nil {
			return netip.Addr{}, fmt.Errorf("client address from X-Forwarded-For entry %q: %w", hops[i], err)
		}
		if !c.trusted.contains(client) {
			break
		}
	}
	return client, nil
}

// parseHostAddr parses "addr", "addr:port" or "[addr]:port".
func parseHostAddr(s string) (netip.Addr, error) {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, err
	}
	return normalizeAddr(a), nil
}
