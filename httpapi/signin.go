package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
)

// signInStyle is the sign-in page's only style sheet, inline so that the
// page (which Docker's health check polls) needs nothing else; the page's
// Content-Security-Policy allows exactly this text by its hash.
const signInStyle = `
:root { color-scheme: light dark; --bg: #f4f6f8; --card: #fff; --fg: #1d2329; --muted: #5f6b76;
  --line: #d5dbe1; --accent: #2563eb; --bad: #b42318; }
@media (prefers-color-scheme: dark) { :root { --bg: #111418; --card: #1a1f25; --fg: #e6e9ec;
  --muted: #9aa5b1; --line: #2e353d; --accent: #5b8def; --bad: #f97066; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: var(--bg);
  color: var(--fg); font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { width: min(22rem, 92vw); padding: 2rem; background: var(--card); border: 1px solid var(--line);
  border-radius: 10px; }
h1 { margin: 0; font-size: 1.25rem; }
p.sub { margin: .25rem 0 1.5rem; color: var(--muted); }
label { display: block; margin: 0 0 1rem; font-weight: 600; font-size: .875rem; }
input { display: block; width: 100%; margin-top: .35rem; padding: .55rem .65rem; font: inherit;
  color: inherit; background: transparent; border: 1px solid var(--line); border-radius: 6px; }
input:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
button { width: 100%; margin-top: .5rem; padding: .6rem; font: inherit; font-weight: 600; color: #fff;
  background: var(--accent); border: 0; border-radius: 6px; cursor: pointer; }
.error { margin: 0 0 1rem; padding: .55rem .65rem; color: var(--bad); border: 1px solid var(--bad);
  border-radius: 6px; }
`

var (
	// formPage is the sign-in page, or with .SignOut the sign-out page.
	formPage = template.Must(template.New("form").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .SignOut}}Sign out{{else}}Sign in{{end}} · channelstream admin</title>
<link rel="icon" href="data:,">
<style>{{.Style}}</style>
</head>
<body>
<main>
  <h1>channelstream</h1>
  <p class="sub">{{if .SignOut}}Sign out of{{else}}Sign in to{{end}} the admin dashboard</p>
  {{- if .Error}}
  <p class="error" role="alert">{{.Error}}</p>
  {{- end}}
  {{- if .SignOut}}
  <form method="post" action="sign_out">
    <button type="submit" autofocus>Sign out</button>
  </form>
  {{- else}}
  <form method="post" action="sign_in">
    <label>Username <input name="username" value="{{.Username}}" autocomplete="username" autocapitalize="none" required{{if not .Username}} autofocus{{end}}></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required{{if .Username}} autofocus{{end}}></label>
    <button type="submit">Sign in</button>
  </form>
  {{- end}}
</main>
</body>
</html>
`))
	signInCSP = "default-src 'none'; style-src 'sha256-" + styleHash(signInStyle) +
		"'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

func styleHash(css string) string {
	sum := sha256.Sum256([]byte(css))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// writeSignIn renders the sign-in form, with an error message when errMsg
// is not empty.
func writeSignIn(w http.ResponseWriter, username, errMsg string) {
	writeSignInStatus(w, http.StatusOK, username, errMsg)
}

// writeSignInStatus renders the sign-in form with the given status.
func writeSignInStatus(w http.ResponseWriter, status int, username, errMsg string) {
	writeFormPage(w, false, status, username, errMsg)
}

// writeSignOut renders the sign-out form with the given status and an
// error message when errMsg is not empty.
func writeSignOut(w http.ResponseWriter, status int, errMsg string) {
	writeFormPage(w, true, status, "", errMsg)
}

// writeFormPage renders the sign-in or sign-out page.
func writeFormPage(w http.ResponseWriter, signOut bool, status int, username, errMsg string) {
	var buf bytes.Buffer
	err := formPage.Execute(&buf, struct {
		Style    template.CSS
		SignOut  bool
		Username string
		Error    string
	}{template.CSS(signInStyle), signOut, username, errMsg})
	if err != nil {
		http.Error(w, "render sign-in page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", signInCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
