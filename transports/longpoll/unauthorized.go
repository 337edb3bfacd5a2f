package longpoll

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// unauthorizedExplanation is Pyramid's HTTPUnauthorized explanation, the
// text of upstream's answer to a poll for an unknown connection.
const unauthorizedExplanation = "This server could not verify that you are authorized to access the document " +
	"you requested.  Either you supplied the wrong credentials (e.g., bad password), or your browser does not " +
	"understand how to supply the credentials required."

// Upstream's 401 for an unknown conn_id (UPSTREAM.md §3.12), in the three
// forms Pyramid renders an HTTPException in: its HTML page, its JSON (for
// Accept: application/json) and plain text (when the client accepts
// neither).
const (
	unauthorizedHTML = "<html>\n <head>\n  <title>401 Unauthorized</title>\n </head>\n <body>\n  <h1>401 Unauthorized</h1>\n  " +
		unauthorizedExplanation + "<br/><br/>\n\n\n\n </body>\n</html>"
	unauthorizedJSON = `{"message": "` + unauthorizedExplanation + `\n\n\n\n\n", "code": "401 Unauthorized", "title": "Unauthorized"}`
	unauthorizedText = "401 Unauthorized\n\n" + unauthorizedExplanation + "\n\n\n\n\n"
)

// writeUnauthorized answers a poll for an unknown connection as upstream
// does: 401 with Pyramid's page, chosen by the Accept header the way
// Pyramid chooses (text/html is preferred on a tie, and with no Accept).
func writeUnauthorized(w http.ResponseWriter, r *http.Request) {
	ct, body := "text/html; charset=UTF-8", unauthorizedHTML
	html, json := acceptQuality(r.Header.Values("Accept"), "text/html"), acceptQuality(r.Header.Values("Accept"), "application/json")
	switch {
	case html == 0 && json == 0:
		ct, body = "text/plain; charset=UTF-8", unauthorizedText
	case json > html:
		ct, body = "application/json", unauthorizedJSON
	}
	hdr := w.Header()
	hdr.Set("Content-Type", ct)
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(body))
}

// acceptQuality is the quality the Accept header values give to the media
// type typ ("text/html"): that of the most specific matching range, 1 when
// there is no Accept header at all, 0 when nothing matches.
func acceptQuality(values []string, typ string) float64 {
	if len(values) == 0 {
		return 1
	}
	major, _, _ := strings.Cut(typ, "/")
	best, bestRank := 0.0, -1
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			rank := -1
			switch {
			case mt == typ:
				rank = 2
			case mt == major+"/*":
				rank = 1
			case mt == "*/*":
				rank = 0
			}
			if rank < bestRank || rank < 0 {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f <= 1 {
					q = f
				}
			}
			if rank > bestRank || q > best {
				best, bestRank = q, rank
			}
		}
	}
	return best
}
