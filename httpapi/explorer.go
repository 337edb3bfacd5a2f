package httpapi

import (
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// explorerTokenTTL is how long a token of the API explorer verifies (the
// signature max age; unlimited when Config.NoSignatureMaxAge).
const explorerTokenTTL = 60 * time.Second

// explorerPage serves the API explorer (explorer.html of
// Config.AdminFiles), to admins like /admin.
func (s *Server) explorerPage(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.serveAdminFile(w, r, "explorer.html")
}

// explorerToken signs a fresh API token for the explorer page, so that the
// secret never reaches the browser. Only an admin session gets one (a
// signed caller has the secret already), and only for a request of the
// server's own origin (sameOrigin, the admin forms' CSRF check).
func (s *Server) explorerToken(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if _, err := s.sessions.fromRequest(r); err != nil {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "an admin session is required (sign in at /admin/sign_in)"})
		return
	}
	if err := sameOrigin(r); err != nil {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "refused: " + err.Error()})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"token":      client.Sign(s.cfg.Secret, client.SignedValue, s.cfg.Now()),
		"header":     "x-channelstream-secret",
		"expires_in": int(explorerTokenTTL / time.Second),
	})
}
