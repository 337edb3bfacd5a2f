// channelstream.js: the client library is written by the browser-side issue.
