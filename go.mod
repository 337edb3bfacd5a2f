module github.com/channelstream-go/channelstream-go

go 1.26.8
