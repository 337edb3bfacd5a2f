// Package client calls channelstream's signed REST API from Go: typed
// requests and answers for every route, the itsdangerous signer, and errors
// that carry the HTTP status and the JSON body of a refusal.
//
// It imports only the standard library and none of the server's packages,
// so an application can depend on it alone. A Client is safe for concurrent
// use; every call signs a fresh token, so tokens never expire under it.
//
//	c := client.New(client.Config{BaseURL: "http://127.0.0.1:8000", Secret: "secret"})
//	conn, err := c.Connect(ctx, client.ConnectRequest{Username: "alice", Channels: []string{"news"}})
//	_, err = c.Send(ctx, client.Message{User: "system", Channel: "news", Message: map[string]any{"text": "hi"}})
//
// A refusal (any status but 2xx) is an *Error:
//
//	var apiErr *client.Error
//	if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnprocessableEntity { ... }
package client
