package client_test

import (
	"net/http/httptest"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/httpapi"
)

// startNode serves a real hub behind the real REST API on a loopback port
// (the client itself imports neither). stop closes it.
func startNode(secret string) (url string, stop func()) {
	api, err := httpapi.New(httpapi.Config{Hub: core.New(core.Config{}), Secret: secret})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(api)
	return srv.URL, srv.Close
}
